package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/threefactor/framework/lib/eventlog"
)

func init() {
	register(&command{
		name:     "log",
		args:     []string{"TABLE/KEY"},
		synopsis: "[--json] [--state-dir .dev | --profile P [--stack S | --table T]]",
		summary:  "print every logged change of an item, oldest first, with the deliveries and pushes each led to",
		help: `
Prints the item's audit trail from the event log: for each change, its
time, operation, the attributes it changed with their old and new values,
who caused it and its correlation id (threefactor trace takes it), then
every realtime push of it and every delivery of it to a function (route,
attempt, outcome, error, duration).

  threefactor log orders/ord_123
  threefactor log lines/ord_123/3        # a table with a sort key
  threefactor log orders/ord_123 --json

The key is TABLE/KEY, or TABLE/PK/SK; a '/' or '%' inside a value is
written %2F or %25.

Where the log is: locally (AWS_ENDPOINT_URL and AWS_PROFILE unset, no
--profile, --stack or --table) the one make dev keeps in .dev/eventlog,
read while make dev runs; otherwise the deployed app's eventlog table, named by --table or by
the stack's EventLogTable output (stack APP-STAGE, or --stack).`,
		setup: func(fs *flag.FlagSet, _ Config) func(context.Context, *env, []string) error {
			where := addLogFlags(fs)
			asJSON := fs.Bool("json", false, "print JSON: {item, log, changes: [{change..., attributes, deliveries, pushes}]}")
			return func(ctx context.Context, e *env, args []string) error {
				item, err := eventlog.ParseItemKey(e.cfg.App.Topology(), args[0])
				if err != nil {
					return err
				}
				le, err := where.open(ctx, e)
				if err != nil {
					return err
				}
				defer le.close()
				h, err := itemHistory(ctx, le, item)
				if err != nil {
					return err
				}
				if *asJSON {
					return writeJSON(e.stdout, h)
				}
				return writeItemHistory(e.stdout, h)
			}
		},
	})
}

// historyEntry is one change of an item with what it led to.
type historyEntry struct {
	eventlog.Change
	Attributes []attrLine          `json:"attributes"`
	Deliveries []eventlog.Delivery `json:"deliveries"`
	Pushes     []eventlog.Push     `json:"pushes"`
}

type itemHistoryOut struct {
	Item    string         `json:"item"`
	Log     string         `json:"log"`
	Changes []historyEntry `json:"changes"`
}

func itemHistory(ctx context.Context, le *logEnv, item eventlog.ItemKey) (itemHistoryOut, error) {
	out := itemHistoryOut{Item: item.String(), Log: le.where, Changes: []historyEntry{}}
	changes, err := le.log.ItemHistory(ctx, item)
	if err != nil {
		return out, err
	}
	for _, c := range changes {
		h := historyEntry{Change: c, Attributes: changedAttrs(le.topo, c), Deliveries: []eventlog.Delivery{}, Pushes: []eventlog.Push{}}
		rec, err := le.log.Event(ctx, c.ID)
		if err != nil && !errors.Is(err, eventlog.ErrNotFound) {
			return out, err
		}
		h.Deliveries = append(h.Deliveries, rec.Deliveries...)
		h.Pushes = append(h.Pushes, rec.Pushes...)
		out.Changes = append(out.Changes, h)
	}
	return out, nil
}

func writeItemHistory(w io.Writer, h itemHistoryOut) error {
	if len(h.Changes) == 0 {
		_, err := fmt.Fprintf(w, "%s: no logged change (log: %s)\n", h.Item, h.Log)
		return err
	}
	fmt.Fprintf(w, "%s: %d changes, oldest first (log: %s)\n", h.Item, len(h.Changes), h.Log)
	for _, c := range h.Changes {
		fmt.Fprintf(w, "\n%s  %s  %s  event %s\n", timeText(c.At()), c.Operation, whoText(c.CausedBy, c.CorrelationID), c.ID)
		writeAttrs(w, "    ", c.Operation, c.Attributes, c.Reduced)
		// Its pushes, then its deliveries, each in time order (as trace
		// lists them).
		for _, p := range c.Pushes {
			fmt.Fprintf(w, "  %s  %s\n", timeText(p.At), pushText(p))
		}
		for _, d := range c.Deliveries {
			fmt.Fprintf(w, "  %s  delivery %s\n", timeText(d.At), deliveryText(d))
		}
	}
	return nil
}
