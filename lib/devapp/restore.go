package devapp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/devruntime"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/replay"
)

// RestoreResult says what RestoreFromLog did.
type RestoreResult struct {
	// Restored is false when there was nothing to do: the log is empty, or
	// the app's tables are not.
	Restored bool
	Restore  replay.RestoreResult
	// Redelivered counts, per route, the events sent to it again.
	Redelivered map[string]int
}

// RestoreFromLog brings an emptied local environment back to the state
// the event log describes: when every app table of rt (provisioned) is
// empty and the log holds changes, it writes each item as its latest
// logged change left it (replay.Restore: the router and the fan-out skip
// those writes, so no function runs again and no subscriber is
// notified), then sends each route again the logged events it matches
// but has not finished with (replay.Pending: no ok, permanent or
// dead-lettered delivery), so that work caught mid-way when the emulator
// stopped completes, once (functions are idempotent). It reports on out
// what it did. Call it after Provision and before Run.
func RestoreFromLog(ctx context.Context, rt *devruntime.Runtime, a app.App, log replay.Source, out io.Writer, logger *slog.Logger) (RestoreResult, error) {
	var res RestoreResult
	res.Redelivered = map[string]int{}
	resources := rt.Resources()
	if resources == nil {
		return res, fmt.Errorf("devapp: restore: the runtime is not provisioned")
	}
	empty := true
	for _, err := range log.Changes(ctx, eventlog.Filter{}) {
		if err != nil {
			return res, fmt.Errorf("devapp: restore: read the event log: %w", err)
		}
		empty = false
		break
	}
	if empty {
		return res, nil
	}
	db := dynamodb.NewFromConfig(rt.AWS())
	tables := map[string]string{}
	var unlogged []string
	for _, tb := range a.Tables {
		name := resources.Tables[tb.Name].Name
		if tb.Stream {
			tables[tb.Name] = name
		} else {
			unlogged = append(unlogged, tb.Name)
		}
		page, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(name), Limit: aws.Int32(1)})
		if err != nil {
			return res, fmt.Errorf("devapp: restore: scan %s: %w", name, err)
		}
		if len(page.Items) > 0 {
			return res, nil // the emulator has the app's data
		}
	}

	start := time.Now()
	fmt.Fprintln(out, "the emulator's tables are empty and the event log has changes: restoring the local state from the log")
	r, err := replay.Restore(ctx, log, db, replay.RestoreOptions{Topology: a.Topology(), Tables: tables, Logger: logger})
	if err != nil {
		return res, fmt.Errorf("devapp: restore: %w", err)
	}
	res.Restored, res.Restore = true, r
	got, err := replay.DigestTables(ctx, db, tables)
	if err != nil {
		return res, fmt.Errorf("devapp: restore: %w", err)
	}
	if len(unlogged) > 0 {
		fmt.Fprintf(out, "  not restored (no stream, so not in the event log): %s\n", strings.Join(unlogged, ", "))
	}
	if !got.Equal(r.Expected) {
		fmt.Fprintf(out, "  warning: the restored tables differ from the log's state: %s\n", strings.Join(got.Diff(r.Expected), ", "))
	}
	for _, k := range r.Reduced {
		fmt.Fprintf(out, "  warning: %s not restored: its latest change was logged without its item (too large)\n", k)
	}

	pending, err := replay.Pending(ctx, log, a.Topology(), eventlog.Filter{})
	if err != nil {
		return res, fmt.Errorf("devapp: restore: %w", err)
	}
	q := sqs.NewFromConfig(rt.AWS())
	routes := make([]string, 0, len(pending))
	for name := range pending {
		routes = append(routes, name)
	}
	sort.Strings(routes)
	for _, name := range routes {
		events := pending[name]
		if err := replay.Send(ctx, q, resources.Routes[name].QueueURL, a.Topology(), events, rt.AWS().Region, ""); err != nil {
			return res, fmt.Errorf("devapp: restore: redeliver to %s: %w", name, err)
		}
		res.Redelivered[name] = len(events)
	}
	fmt.Fprintf(out, "restored %d items (%d tables) from %d logged changes in %s; no function ran for them\n",
		r.Items, len(tables), r.Changes, time.Since(start).Round(time.Millisecond))
	for _, name := range routes {
		fmt.Fprintf(out, "  delivering again to %s: %d events the log shows it had not finished\n", name, res.Redelivered[name])
	}
	return res, nil
}
