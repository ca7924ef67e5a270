package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/topology"
)

func init() {
	register(&command{
		name:     "trace",
		args:     []string{"CORRELATION_ID"},
		synopsis: "[--json] [--state-dir .dev | --profile P [--stack S | --table T]]",
		summary:  "print the causal chain of one request: its changes, the function runs they led to and the changes those made, the pushes",
		help: `
The correlation id is the one a client sent in X-Correlation-Id, or got
back in that response header from /graphql (every response has one), and
every log line of the request carries. The trace is a tree: each change
(the mutation's first), under it the realtime pushes it made, then the
function runs it led to (route, attempt, outcome, duration), under each
run the changes it made, and so on; times are from the first change.

  threefactor trace 5f2c1e0a9b7d4c3e8f6a1b2c3d4e5f60
  threefactor trace 5f2c1e0a9b7d4c3e8f6a1b2c3d4e5f60 --json

A change is placed under the run it was written during: a run of a
function that writes its table whose time span holds the change's commit
time; a change no run holds was written by a request (a mutation) and
starts a branch of its own. Where the log is: see threefactor help log.`,
		setup: func(fs *flag.FlagSet, _ Config) func(context.Context, *env, []string) error {
			where := addLogFlags(fs)
			asJSON := fs.Bool("json", false, "print JSON: {correlationId, log, start, nodes: [{kind, at, change|delivery|push, attributes, children}]}")
			return func(ctx context.Context, e *env, args []string) error {
				if strings.TrimSpace(args[0]) == "" {
					return errs.New(errs.BadUserInput, "an empty correlation id")
				}
				le, err := where.open(ctx, e)
				if err != nil {
					return err
				}
				defer le.close()
				entries, err := le.log.Trace(ctx, args[0])
				if err != nil {
					return err
				}
				tr := buildTrace(le.topo, args[0], entries)
				tr.Log = le.where
				if *asJSON {
					return writeJSON(e.stdout, tr)
				}
				return writeTrace(e.stdout, tr)
			}
		},
	})
}

// traceNode is one step of a trace: a change, a delivery or a push, with
// what followed from it.
type traceNode struct {
	Kind       string             `json:"kind"`
	At         time.Time          `json:"at"`
	Change     *eventlog.Change   `json:"change,omitempty"`
	Attributes []attrLine         `json:"attributes,omitempty"`
	Delivery   *eventlog.Delivery `json:"delivery,omitempty"`
	Push       *eventlog.Push     `json:"push,omitempty"`
	Children   []*traceNode       `json:"children,omitempty"`
}

type traceOut struct {
	CorrelationID string       `json:"correlationId"`
	Log           string       `json:"log"`
	Start         time.Time    `json:"start"`
	End           time.Time    `json:"end"`
	Changes       int          `json:"changes"`
	Deliveries    int          `json:"deliveries"`
	Pushes        int          `json:"pushes"`
	Nodes         []*traceNode `json:"nodes"`
}

// ClockSlack is how far apart trace lets a change's commit time and the
// run that wrote it be. A change's time may be rounded down to the second
// (DynamoDB Streams' precision on AWS); runs and pushes are timed by the
// framework. This much is allowed between the two clocks.
const ClockSlack = 50 * time.Millisecond

// buildTrace makes the tree of a trace: changes under the run that wrote
// them, runs and pushes under their change.
func buildTrace(topo topology.Topology, id string, entries []eventlog.TraceEntry) traceOut {
	tr := traceOut{CorrelationID: id, Nodes: []*traceNode{}}
	var changes, runs []*traceNode
	nodes := make([]*traceNode, len(entries))
	byEvent := map[string]*traceNode{}
	for i, en := range entries {
		n := &traceNode{Kind: en.Kind(), At: en.At, Change: en.Change, Delivery: en.Delivery, Push: en.Push}
		nodes[i] = n
		if tr.Start.IsZero() || n.At.Before(tr.Start) {
			tr.Start = n.At
		}
		end := n.At
		switch {
		case en.Change != nil:
			n.Attributes = changedAttrs(topo, *en.Change)
			changes = append(changes, n)
			byEvent[en.Change.ID] = n
			tr.Changes++
		case en.Delivery != nil:
			runs = append(runs, n)
			end = end.Add(time.Duration(en.Delivery.DurationMs * float64(time.Millisecond)))
			tr.Deliveries++
		default:
			end = end.Add(time.Duration(en.Push.DurationMs * float64(time.Millisecond)))
			tr.Pushes++
		}
		if end.After(tr.End) {
			tr.End = end
		}
	}
	// Runs and pushes under their change (or at the top, when their change
	// is not in the trace).
	var top []*traceNode
	for i, en := range entries {
		var eventID string
		switch {
		case en.Delivery != nil:
			eventID = en.Delivery.EventID
		case en.Push != nil:
			eventID = en.Push.EventID
		default:
			continue
		}
		n := nodes[i]
		if parent := byEvent[eventID]; parent != nil {
			parent.Children = append(parent.Children, n)
		} else {
			top = append(top, n)
		}
	}
	// Changes under the run that wrote them. A run can only have written
	// a change that came after the run's own change: with changes in
	// order, the tree has no cycle.
	order := map[string]int{}
	for i, c := range changes {
		order[c.Change.ID] = i
	}
	for _, c := range changes {
		if w := writer(topo, c, runs, order); w != nil {
			w.Children = append(w.Children, c)
		} else {
			top = append(top, c)
		}
	}
	for _, n := range append(append([]*traceNode{}, changes...), runs...) {
		sortNodes(n.Children)
	}
	sortNodes(top)
	tr.Nodes = top
	return tr
}

// writer is the run a change was written during: among the runs of
// earlier changes of the trace by functions that write the change's
// table, the latest whose time span holds the change's commit time. A
// commit time rounded down to the second (DynamoDB Streams' precision on
// AWS) is taken as the second it names. A change no run holds was
// written by a request (a mutation).
func writer(topo topology.Topology, c *traceNode, runs []*traceNode, order map[string]int) *traceNode {
	from, to := c.At.Add(-ClockSlack), c.At.Add(ClockSlack)
	if c.At.Nanosecond() == 0 {
		to = c.At.Add(time.Second)
	}
	var found *traceNode
	for _, r := range runs {
		d := r.Delivery
		if i, ok := order[d.EventID]; !ok || i >= order[c.Change.ID] {
			continue // a run of a later change, of this one, or of none in the trace
		}
		f, ok := topo.Function(d.Function)
		if !ok || !slices.Contains(f.Tables, c.Change.Table) {
			continue
		}
		end := d.At.Add(time.Duration(d.DurationMs * float64(time.Millisecond)))
		if d.At.After(to) || end.Before(from) {
			continue
		}
		if found == nil || d.At.After(found.Delivery.At) {
			found = r
		}
	}
	return found
}

// sortNodes orders siblings: under a change its pushes, then the runs it
// led to (each with what it wrote); at the top and under a run, changes;
// each kind in time order. Pushes and runs of one change happen at about
// the same time, each on its own path; listing them by kind makes the
// tree read the same way every time.
func sortNodes(ns []*traceNode) {
	rank := map[string]int{"push": 0, "delivery": 1, "change": 2}
	slices.SortStableFunc(ns, func(a, b *traceNode) int {
		if r := rank[a.Kind] - rank[b.Kind]; r != 0 {
			return r
		}
		return a.At.Compare(b.At)
	})
}

func writeTrace(w io.Writer, tr traceOut) error {
	if len(tr.Nodes) == 0 {
		_, err := fmt.Fprintf(w, "trace %s: nothing logged (log: %s)\n", tr.CorrelationID, tr.Log)
		return err
	}
	fmt.Fprintf(w, "trace %s: %d changes, %d deliveries, %d pushes over %s (log: %s)\n",
		tr.CorrelationID, tr.Changes, tr.Deliveries, tr.Pushes, secondsText(tr.End.Sub(tr.Start)), tr.Log)
	fmt.Fprintf(w, "started %s\n\n", timeText(tr.Start))
	var walk func(n *traceNode, depth int)
	walk = func(n *traceNode, depth int) {
		indent := strings.Repeat("  ", depth)
		offset := fmt.Sprintf("+%s", secondsText(n.At.Sub(tr.Start)))
		switch {
		case n.Change != nil:
			c := n.Change
			fmt.Fprintf(w, "%-9s %s%s %s  %s  event %s\n", offset, indent, c.Item, c.Operation, whoText(c.CausedBy, ""), c.ID)
			writeAttrs(w, strings.Repeat(" ", 10)+indent+"    ", c.Operation, n.Attributes, c.Reduced)
		case n.Delivery != nil:
			fmt.Fprintf(w, "%-9s %sdelivery %s\n", offset, indent, deliveryText(*n.Delivery))
		default:
			fmt.Fprintf(w, "%-9s %s%s\n", offset, indent, pushText(*n.Push))
		}
		for _, ch := range n.Children {
			walk(ch, depth+1)
		}
	}
	for _, n := range tr.Nodes {
		walk(n, 0)
	}
	return nil
}

func secondsText(d time.Duration) string {
	if d < 0 {
		return "-" + secondsText(-d)
	}
	return fmt.Sprintf("%.3fs", d.Seconds())
}
