package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/threefactor/framework/lib/dlq"
	"github.com/threefactor/framework/lib/errs"
)

func init() {
	register(&command{
		name:     "dlq list",
		optional: []string{"ROUTE"},
		synopsis: "[--limit 100] [--json] [--state-dir .dev | --profile P [--stack S]]",
		summary:  "show the dead-lettered messages of every route, or of ROUTE: each one's event, function, attempts and reason",
		help: `
For each message: its id (what redrive and drop take), its change event
(id, table/key, operation, correlation id), the function, how many
attempts it had and why it failed. A message the function failed
permanently carries its reason; one the queue's redrive policy moved
after its last attempt carries none, and its reason is the event's last
failed delivery in the event log, when the log has it.

SQS shows a message only by receiving it: listing hides the messages for
a moment and makes them visible again before it ends.
` + dlqWhereHelp,
		setup: func(fs *flag.FlagSet, _ Config) func(context.Context, *env, []string) error {
			where := addLogFlags(fs)
			hold := addHoldFlag(fs)
			limit := fs.Int("limit", dlq.DefaultListLimit, fmt.Sprintf("show at most this many messages per route (up to %d)", dlq.MaxListLimit))
			asJSON := fs.Bool("json", false, "print JSON: {where, routes: [{route, function, dlq, visible, inFlight, messages: [...]}]}")
			return func(ctx context.Context, e *env, args []string) error {
				c, t, err := openDLQ(ctx, e, where, *hold)
				if err != nil {
					return err
				}
				defer t.close()
				routes := c.Routes()
				if len(args) == 1 {
					r, ok := findRoute(routes, args[0])
					if !ok {
						return unknownRoute(routes, args[0])
					}
					routes = []dlq.Route{r}
				}
				if *limit < 1 || *limit > dlq.MaxListLimit {
					return usagef("--limit %d: want 1 to %d", *limit, dlq.MaxListLimit)
				}
				var out []routeListing
				for _, r := range routes {
					d, err := c.Depth(ctx, r.Name)
					if err != nil {
						return err
					}
					l := routeListing{Route: r.Name, Function: r.Function, DLQ: r.Queues.DLQ, Visible: d.Visible, InFlight: d.InFlight, Messages: []dlq.Message{}}
					if d.Visible > 0 {
						if l.Messages, err = c.List(ctx, r.Name, *limit); err != nil {
							return err
						}
					}
					out = append(out, l)
				}
				if *asJSON {
					enc := json.NewEncoder(e.stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(map[string]any{"where": t.plane, "routes": out})
				}
				writeListings(e.stdout, out, time.Now())
				return nil
			}
		},
	})

	register(&command{
		name:     "dlq redrive",
		args:     []string{"ROUTE"},
		synopsis: "(--id ID... | --all) [--hold 30s] [--state-dir .dev | --profile P [--stack S]]",
		summary:  "send dead-lettered messages of ROUTE back to its queue, after a fix: its function gets them again",
		help: `
--id takes a message id as dlq list shows it, or the message's event id;
repeat it for several. --all redrives every message: on AWS with one SQS
message move task; where the endpoint has none (moto, the local
emulator), and always for --id, each message is received, sent to the
route's queue and only then deleted from the dead-letter queue, so a
crash part way leaves a duplicate (which the function's idempotency
absorbs), never a loss. A message that fails again while the redrive
runs is left in the dead-letter queue, not redriven in a loop.
` + dlqWhereHelp,
		setup: func(fs *flag.FlagSet, _ Config) func(context.Context, *env, []string) error {
			where := addLogFlags(fs)
			sel := addSelectionFlags(fs)
			hold := addHoldFlag(fs)
			return func(ctx context.Context, e *env, args []string) error {
				s, err := sel.selection()
				if err != nil {
					return err
				}
				c, t, err := openDLQ(ctx, e, where, *hold)
				if err != nil {
					return err
				}
				defer t.close()
				r, ok := findRoute(c.Routes(), args[0])
				if !ok {
					return unknownRoute(c.Routes(), args[0])
				}
				res, err := c.Redrive(ctx, r.Name, s)
				how := map[string]string{dlq.MethodMoveTask: "an SQS message move task", dlq.MethodResend: "received, sent, deleted"}[res.Method]
				fmt.Fprintf(e.stdout, "redrove %d message(s) of %s to %s (%s)\n", res.Count, r.Name, queueName(r.Queues.Queue), how)
				return err
			}
		},
	})

	register(&command{
		name:     "dlq drop",
		args:     []string{"ROUTE"},
		synopsis: "(--id ID... | --all) [--yes] [--hold 30s] [--state-dir .dev | --profile P [--stack S]]",
		summary:  "delete dead-lettered messages of ROUTE for good, after confirmation",
		help: `
--id takes a message id as dlq list shows it, or the message's event id;
repeat it for several. --all drops every message of the route's
dead-letter queue. The command asks before it deletes anything; without a
terminal to ask on it refuses, unless --yes says the answer (for
scripts).
` + dlqWhereHelp,
		setup: func(fs *flag.FlagSet, _ Config) func(context.Context, *env, []string) error {
			where := addLogFlags(fs)
			sel := addSelectionFlags(fs)
			hold := addHoldFlag(fs)
			yes := fs.Bool("yes", false, "drop without asking (for scripts)")
			return func(ctx context.Context, e *env, args []string) error {
				s, err := sel.selection()
				if err != nil {
					return err
				}
				if !*yes && !e.terminal {
					return errs.New(errs.FailedPrecondition, "stdin is not a terminal to confirm on: pass --yes to drop without asking")
				}
				c, t, err := openDLQ(ctx, e, where, *hold)
				if err != nil {
					return err
				}
				defer t.close()
				r, ok := findRoute(c.Routes(), args[0])
				if !ok {
					return unknownRoute(c.Routes(), args[0])
				}
				if !*yes {
					what := "the message(s) " + strings.Join(s.IDs, ", ")
					if s.All {
						d, err := c.Depth(ctx, r.Name)
						if err != nil {
							return err
						}
						what = fmt.Sprintf("all %d message(s)", d.Visible+d.InFlight)
					}
					q := fmt.Sprintf("drop %s of %s's dead-letter queue %s (%s)? They are deleted for good. [y/N] ", what, r.Name, queueName(r.Queues.DLQ), t.plane)
					if !confirm(e.stdin, e.stderr, q) {
						return errs.New(errs.FailedPrecondition, "not confirmed: nothing dropped")
					}
				}
				res, err := c.Drop(ctx, r.Name, s)
				fmt.Fprintf(e.stdout, "dropped %d message(s) of %s\n", res.Count, r.Name)
				return err
			}
		},
	})
}

// dlqWhereHelp says how the dlq commands find the queues.
const dlqWhereHelp = `
Where: locally (AWS_ENDPOINT_URL and AWS_PROFILE unset, no --profile,
--stack or --table) the emulator make dev records in .dev (make dev
starts it, make dev-stop stops it), with the queue names the dev runtime
gives, and the event log it keeps in .dev/eventlog. With AWS_ENDPOINT_URL
and no --stack, the queues of that endpoint by the same names.
Otherwise a deployed stack (APP-STAGE, or --stack), reached with the
usual AWS credentials and region (AWS_PROFILE or --profile, AWS_REGION
or --region): its outputs give each route's queue and dead-letter queue
(Queue<Route>, DLQ<Route>) and the event log's table (EventLogTable).`

// routeListing is one route's part of dlq list.
type routeListing struct {
	Route    string        `json:"route"`
	Function string        `json:"function"`
	DLQ      string        `json:"dlq"`
	Visible  int           `json:"visible"`
	InFlight int           `json:"inFlight"`
	Messages []dlq.Message `json:"messages"`
}

// addHoldFlag is --hold: how long a message this command received stays
// hidden from others should the command die before it is done with it.
func addHoldFlag(fs *flag.FlagSet) *time.Duration {
	return fs.Duration("hold", 30*time.Second, "how long a message being read or moved stays hidden from others if this command dies (it comes back after)")
}

// openDLQ opens the dead-letter queues of the environment the flags
// name, as log and trace find it; its event log, when it has one, gives
// the reasons of messages the queues' redrive policy moved.
func openDLQ(ctx context.Context, e *env, where *logFlags, hold time.Duration) (*dlq.Client, *logEnv, error) {
	if hold < time.Second || hold > 12*time.Hour {
		return nil, nil, usagef("--hold %s: want 1s to 12h", hold)
	}
	le, err := where.openEnv(ctx, e, false)
	if err != nil {
		return nil, nil, err
	}
	c, err := func() (*dlq.Client, error) {
		cfg, err := le.dataPlane()
		if err != nil {
			return nil, err
		}
		queues, err := le.routeQueues(ctx, sqsClient(cfg))
		if err != nil {
			return nil, err
		}
		return dlq.New(dlq.Config{SQS: sqsClient(cfg), Topology: le.topo, Queues: queues, Log: le.log, Hold: hold, Logger: quietLogger()})
	}()
	if err != nil {
		le.close()
		return nil, nil, err
	}
	return c, le, nil
}

func findRoute(routes []dlq.Route, name string) (dlq.Route, bool) {
	for _, r := range routes {
		if r.Name == name {
			return r, true
		}
	}
	return dlq.Route{}, false
}

func unknownRoute(routes []dlq.Route, name string) error {
	names := make([]string, len(routes))
	for i, r := range routes {
		names[i] = r.Name
	}
	return errs.Newf(errs.BadUserInput, "no route %q: the routes are %s", name, strings.Join(names, ", "))
}

// selectionFlags are --id and --all.
type selectionFlags struct {
	ids stringList
	all *bool
}

func addSelectionFlags(fs *flag.FlagSet) *selectionFlags {
	s := &selectionFlags{}
	fs.Var(&s.ids, "id", "a message's `ID` (or its event id) as dlq list shows it (repeat it)")
	s.all = fs.Bool("all", false, "every message of the route's dead-letter queue")
	return s
}

func (s *selectionFlags) selection() (dlq.Selection, error) {
	switch {
	case *s.all && len(s.ids) > 0:
		return dlq.Selection{}, usagef("--all or --id, not both")
	case !*s.all && len(s.ids) == 0:
		return dlq.Selection{}, usagef("say which messages: --id ID (repeat it) or --all")
	}
	return dlq.Selection{IDs: s.ids, All: *s.all}, nil
}

// confirm asks q on w and reads the answer from r: yes or y.
func confirm(r io.Reader, w io.Writer, q string) bool {
	fmt.Fprint(w, q)
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(w)
		return false
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

// queueName is the name at the end of a queue URL.
func queueName(url string) string { return path.Base(url) }

func writeListings(w io.Writer, ls []routeListing, now time.Time) {
	for i, l := range ls {
		if i > 0 {
			fmt.Fprintln(w)
		}
		n := l.Visible + l.InFlight
		switch {
		case n == 0:
			fmt.Fprintf(w, "%s -> %s: %s is empty\n", l.Route, l.Function, queueName(l.DLQ))
			continue
		case l.InFlight > 0:
			fmt.Fprintf(w, "%s -> %s: %d message(s) in %s (%d held by a receiver: listing or redrive in progress)\n", l.Route, l.Function, n, queueName(l.DLQ), l.InFlight)
		default:
			fmt.Fprintf(w, "%s -> %s: %d message(s) in %s\n", l.Route, l.Function, n, queueName(l.DLQ))
		}
		for _, m := range l.Messages {
			writeMessage(w, m, now)
		}
		if len(l.Messages) < l.Visible {
			fmt.Fprintf(w, "  ... %d more (--limit)\n", l.Visible-len(l.Messages))
		}
	}
}

func writeMessage(w io.Writer, m dlq.Message, now time.Time) {
	fmt.Fprintf(w, "  %s\n", m.ID)
	row := func(k, format string, args ...any) {
		fmt.Fprintf(w, "    %-9s "+format+"\n", append([]any{k}, args...)...)
	}
	if m.Problem != "" {
		row("body", "not a change event: %s", m.Problem)
	} else {
		ev := fmt.Sprintf("%s %s %s", m.EventID, m.Operation, orElse(m.Item, m.Table+" "+string(m.Keys)))
		if m.CorrelationID != "" {
			ev += " (correlation " + m.CorrelationID + ")"
		}
		row("event", "%s", ev)
	}
	if m.Function != "" {
		row("function", "%s", m.Function)
	}
	switch m.By {
	case dlq.ByConsumer:
		row("failed", "permanently at attempt %d; dead-lettered by the function %s", m.Attempts, ago(m.SentAt, now))
	default:
		row("failed", "%d attempt(s); moved by the queue's redrive policy", m.Attempts)
	}
	switch {
	case m.By == dlq.ByConsumer:
		row("reason", "%s", m.Reason)
	case m.LastFailure != nil:
		f := m.LastFailure
		row("reason", "%s", orElse(f.Error, "(no error recorded)"))
		row("", "(the last failed delivery in the event log: attempt %d, %s, %s)", f.Attempt, f.Outcome, ago(f.At, now))
	default:
		row("reason", "none recorded: the queue's redrive policy moves a message without one, and the event log has no failed delivery of it")
	}
}

func orElse(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// ago is a time as "3m ago (2026-11-30 06:53:01Z)".
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "at an unknown time"
	}
	d := now.Sub(t).Round(time.Second)
	rel := d.String() + " ago"
	if d < time.Second {
		rel = "just now"
	}
	return rel + " (" + t.UTC().Format("2006-01-02 15:04:05Z") + ")"
}

func sqsClient(cfg aws.Config) *sqs.Client { return sqs.NewFromConfig(cfg) }
