package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/threefactor/framework/lib/emulator"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/provision"
	"github.com/threefactor/framework/lib/replay"
	"github.com/threefactor/framework/lib/topology"
)

func init() {
	register(&command{
		name: "replay",
		synopsis: "--restore (--to-endpoint URL | --to-stack STACK) [--until T] [--only TABLE]... [--publish] [--force]\n" +
			"       | --redeliver --route ROUTE [--since T] [--until T] [--key TABLE/KEY] [--dry-run]\n" +
			"       | --digest [--to-endpoint URL | --to-stack STACK]\n" +
			"       [--json] [--state-dir .dev | --profile P [--stack S | --table T]]",
		summary: "restore another environment's tables from the event log, or deliver logged events to a route again",
		help: `
--restore writes the state the log describes into another environment's
empty app tables (those with a stream: only their changes are logged): each item as its latest logged change left it (or, with
--until, as of that time). Every write carries the framework's restore
marker, so the target's stream router and realtime fan-out neither
publish nor push it: no function runs, nobody is notified, and the items
end exactly as logged. --publish writes them plainly instead, so they
flow through the target's routes as new changes. The target is an
emulator or LocalStack (--to-endpoint URL: tables named as the dev
runtime names them, created when missing) or a deployed stack
(--to-stack STACK, with the same credentials). The restore then reads the
target back and compares its digest with the log's state.

  threefactor replay --restore --to-endpoint http://127.0.0.1:4566
  threefactor replay --restore --to-stack fooddelivery-staging --profile ops

--redeliver sends the logged events a route's pattern matches to its
queue again, oldest first, in the envelope its rule delivers: the route's
function handles them as any redelivery (functions are idempotent, so an
event already handled changes nothing). --key limits it to one item,
--since and --until to a time window (RFC 3339, or a duration ago: 2h).

  threefactor replay --redeliver --route process-payment --key orders/ord_123
  threefactor replay --redeliver --route assign-driver --since 2h --dry-run

On AWS the log is the source of --redeliver too, rather than the event
bus archive: the log selects one item and one route's events and knows
what was delivered; to replay the bus itself beyond the log's retention,
start a replay of the stack's archive for the route's rule (aws events
start-replay).

--digest prints the digest of the app tables of an environment (the
target, or the log's own): equal digests, equal tables.

Where the log is: see threefactor help log.`,
		setup: func(fs *flag.FlagSet, _ Config) func(context.Context, *env, []string) error {
			where := addLogFlags(fs)
			restore := fs.Bool("restore", false, "restore the log's state into the target's tables")
			redeliver := fs.Bool("redeliver", false, "send logged events to a route's queue again")
			digest := fs.Bool("digest", false, "print the digest of an environment's app tables")
			toEndpoint := fs.String("to-endpoint", "", "the target: an AWS API `URL` (an emulator, LocalStack)")
			toStack := fs.String("to-stack", "", "the target: a deployed `STACK` (its Table... outputs)")
			until := fs.String("until", "", "restore or redeliver what was logged before `T` (RFC 3339, or a duration ago: 2h)")
			since := fs.String("since", "", "redeliver what was logged from `T` on (RFC 3339, or a duration ago)")
			var only stringList
			fs.Var(&only, "only", "restore this `TABLE` only (repeat it; default every app table)")
			publish := fs.Bool("publish", false, "restore without the marker: the restored items are published as new changes and run the target's functions")
			force := fs.Bool("force", false, "restore into tables that are not empty (the log's items are written over theirs)")
			route := fs.String("route", "", "the `ROUTE` to redeliver to")
			key := fs.String("key", "", "redeliver the events of this item only (`TABLE/KEY`)")
			queueURL := fs.String("queue-url", "", "the route's queue `URL` (default: found by its name, or the stack's Queue... output)")
			dryRun := fs.Bool("dry-run", false, "list the events --redeliver would send, send nothing")
			asJSON := fs.Bool("json", false, "print the result as JSON")
			return func(ctx context.Context, e *env, _ []string) error {
				modes := 0
				for _, m := range []bool{*restore, *redeliver, *digest} {
					if m {
						modes++
					}
				}
				if modes != 1 {
					return usagef("say what to do: one of --restore, --redeliver, --digest")
				}
				if *toEndpoint != "" && *toStack != "" {
					return usagef("--to-endpoint and --to-stack name two targets: choose one")
				}
				now := time.Now()
				sinceT, err := parseWhen(*since, now)
				if err != nil {
					return err
				}
				untilT, err := parseWhen(*until, now)
				if err != nil {
					return err
				}
				le, err := where.open(ctx, e)
				if err != nil {
					return err
				}
				defer le.close()
				topo := e.cfg.App.Topology()
				switch {
				case *redeliver:
					if *route == "" {
						return usagef("--redeliver needs --route ROUTE")
					}
					o := replay.RedeliverOptions{Topology: topo, Route: *route, Since: sinceT, Until: untilT, DryRun: *dryRun, QueueURL: *queueURL, Logger: quietLogger()}
					if *key != "" {
						if o.Item, err = eventlog.ParseItemKey(topo, *key); err != nil {
							return err
						}
					}
					var q *sqs.Client
					if !*dryRun {
						cfg, err := le.dataPlane()
						if err != nil {
							return err
						}
						o.Region = cfg.Region
						if o.QueueURL == "" {
							if _, ok := topo.Route(*route); !ok {
								return errs.Newf(errs.BadUserInput, "no route %q", *route)
							}
							if o.QueueURL, err = le.queueURL(ctx, *route); err != nil {
								return err
							}
						}
						q = sqs.NewFromConfig(cfg)
					}
					res, err := replay.Redeliver(ctx, le.log, q, o)
					if err != nil {
						return err
					}
					if *asJSON {
						return writeJSON(e.stdout, res)
					}
					verb := "sent"
					if *dryRun {
						verb = "would send"
					}
					fmt.Fprintf(e.stdout, "%s %d of %d logged changes to route %s\n", verb, res.Sent, res.Read, *route)
					for _, id := range res.EventIDs {
						fmt.Fprintf(e.stdout, "  %s\n", id)
					}
					return nil

				case *restore:
					if *toEndpoint == "" && *toStack == "" {
						return usagef("--restore needs a target: --to-endpoint URL or --to-stack STACK")
					}
					target, err := openTarget(ctx, le, topo, *toEndpoint, *toStack, true)
					if err != nil {
						return err
					}
					tables := target.tables
					if len(only) > 0 {
						tables = map[string]string{}
						for _, t := range only {
							name, ok := target.tables[t]
							if !ok {
								return errs.Newf(errs.BadUserInput, "--only %s: not a table of app %s", t, topo.App)
							}
							tables[t] = name
						}
					}
					res, err := replay.Restore(ctx, le.log, target.db, replay.RestoreOptions{
						Topology: topo, Tables: tables, Until: untilT, Publish: *publish, AllowNonEmpty: *force, Logger: quietLogger(),
					})
					if err != nil {
						return err
					}
					got, err := replay.DigestTables(ctx, target.db, tables)
					if err != nil {
						return err
					}
					if *asJSON {
						if err := writeJSON(e.stdout, struct {
							replay.RestoreResult
							Target string        `json:"target"`
							Digest replay.Digest `json:"digest"`
						}{res, target.where, got}); err != nil {
							return err
						}
					} else {
						how := "with the restore marker: no function ran"
						if *publish {
							how = "published: the target's functions run for them"
						}
						fmt.Fprintf(e.stdout, "restored %d items into %s from %d logged changes (%d removed items left out) in %s, %s\n",
							res.Items, target.where, res.Changes, res.Removed, res.Took.Round(time.Millisecond), how)
						writeDigest(e, got)
					}
					var problems []string
					for _, k := range res.Reduced {
						problems = append(problems, k+" was logged without its item (too large) and is not restored")
					}
					if !got.Equal(res.Expected) && !*force {
						problems = append(problems, "the target differs from the log's state: "+strings.Join(got.Diff(res.Expected), ", "))
					}
					if len(problems) > 0 {
						return fmt.Errorf("restore incomplete: %s", strings.Join(problems, "; "))
					}
					return nil

				default: // digest
					var target *targetEnv
					if *toEndpoint != "" || *toStack != "" {
						target, err = openTarget(ctx, le, topo, *toEndpoint, *toStack, false)
					} else {
						target, err = sourceTables(ctx, le, topo)
					}
					if err != nil {
						return err
					}
					got, err := replay.DigestTables(ctx, target.db, target.tables)
					if err != nil {
						return err
					}
					if *asJSON {
						return writeJSON(e.stdout, got)
					}
					fmt.Fprintf(e.stdout, "app tables of %s\n", target.where)
					writeDigest(e, got)
					return nil
				}
			}
		},
	})
}

// logged are the app's tables the event log covers: those with a stream.
func logged(topo topology.Topology) []topology.Table {
	var out []topology.Table
	for _, tb := range topo.Tables {
		if tb.Stream {
			out = append(out, tb)
		}
	}
	return out
}

func writeDigest(e *env, d replay.Digest) {
	for _, name := range sortedNames(d.Tables) {
		t := d.Tables[name]
		fmt.Fprintf(e.stdout, "  %-14s %6d items  %s\n", name, t.Items, t.Sum)
	}
	fmt.Fprintf(e.stdout, "  %-14s %6s        %s\n", "digest", "", d.Sum)
}

// targetEnv is the app tables of an environment.
type targetEnv struct {
	db     *dynamodb.Client
	tables map[string]string
	where  string
}

// openTarget is the environment --to-endpoint or --to-stack names;
// create makes the app's tables at an endpoint when they are missing.
func openTarget(ctx context.Context, le *logEnv, topo topology.Topology, endpoint, stack string, create bool) (*targetEnv, error) {
	t := &targetEnv{tables: map[string]string{}}
	if endpoint != "" {
		cfg, err := emulator.Config(ctx, endpoint)
		if err != nil {
			return nil, err
		}
		for _, tb := range logged(topo) {
			name := topo.TableName(tb.Name)
			if create {
				if _, err := provision.EnsureTable(ctx, cfg, name, tb); err != nil {
					return nil, err
				}
			}
			t.tables[tb.Name] = name
		}
		t.db, t.where = dynamodb.NewFromConfig(cfg), endpoint
		return t, nil
	}
	if le.local {
		return nil, usagef("--to-stack reads a deployed stack: name the AWS account with --profile (or AWS_PROFILE)")
	}
	other := &logEnv{topo: topo, aws: le.aws, stack: stack}
	for _, tb := range logged(topo) {
		name, err := other.output(ctx, topology.TableOutput(tb.Name))
		if err != nil {
			return nil, err
		}
		t.tables[tb.Name] = name
	}
	t.db, t.where = dynamodb.NewFromConfig(le.aws), "stack "+stack
	return t, nil
}

// sourceTables is the app tables of the log's own environment.
func sourceTables(ctx context.Context, le *logEnv, topo topology.Topology) (*targetEnv, error) {
	cfg, err := le.dataPlane()
	if err != nil {
		return nil, err
	}
	t := &targetEnv{tables: map[string]string{}, db: dynamodb.NewFromConfig(cfg), where: le.where}
	if le.local {
		t.where = "the local emulator"
	} else if !le.endpoint {
		t.where = "stack " + le.stack
	}
	for _, tb := range logged(topo) {
		if t.tables[tb.Name], err = le.tableName(ctx, tb.Name); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// parseWhen reads a time: RFC 3339, or a duration before now ("2h").
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := eventlog.ParseRetention(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, errs.Newf(errs.BadUserInput, "time %q: want RFC 3339 (2026-11-30T07:00:00Z) or a duration ago (90m, 2h, 3d)", s)
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
