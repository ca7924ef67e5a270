package replay

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/topology"
)

// Final reports whether a delivery outcome ends the route's work on an
// event: it was handled (ok), or given up on (permanent, dead-lettered).
func Final(o eventlog.Outcome) bool {
	return o == eventlog.OK || o == eventlog.Permanent || o == eventlog.DeadLettered
}

// Pending lists, per app route (by name), the logged events the filter
// selects that the route's pattern matches and that have no final
// delivery for the route (Final): the route never got them, or got them
// and had not finished. In log order. The framework's own route is left
// out: a logged change was delivered to it.
func Pending(ctx context.Context, src Source, topo topology.Topology, f eventlog.Filter) (map[string][]change.Event, error) {
	type compiled struct {
		r topology.Route
		p *topology.Pattern
	}
	var routes []compiled
	for _, r := range topo.RoutesWithDefaults() {
		if r.IsFrameworkRoute() {
			continue
		}
		p, err := topo.CompilePattern(r)
		if err != nil {
			return nil, err
		}
		routes = append(routes, compiled{r, p})
	}
	out := map[string][]change.Event{}
	for c, err := range src.Changes(ctx, f) {
		if err != nil {
			return nil, fmt.Errorf("replay: read the log: %w", err)
		}
		detail, err := c.Event.Detail()
		if err != nil {
			return nil, fmt.Errorf("replay: event %s: %w", c.ID, err)
		}
		var rec *eventlog.EventRecord
		for _, rt := range routes {
			if rt.r.Match.Table != c.Table {
				continue
			}
			match, err := rt.p.MatchDetail(detail)
			if err != nil {
				return nil, fmt.Errorf("replay: event %s, route %s: %w", c.ID, rt.r.Name, err)
			}
			if !match {
				continue
			}
			if rec == nil {
				r, err := src.Event(ctx, c.ID)
				if err != nil && !errors.Is(err, eventlog.ErrNotFound) {
					return nil, fmt.Errorf("replay: event %s: %w", c.ID, err)
				}
				rec = &r
			}
			if !finished(rec, rt.r.Name) {
				out[rt.r.Name] = append(out[rt.r.Name], c.Event)
			}
		}
	}
	return out, nil
}

func finished(rec *eventlog.EventRecord, route string) bool {
	for _, d := range rec.Deliveries {
		if d.Route == route && Final(d.Outcome) {
			return true
		}
	}
	return false
}

// Send sends change events to a queue, in order, each in the envelope a
// rule delivers (Envelope), ten to a call.
func Send(ctx context.Context, q queueAPI, queueURL string, topo topology.Topology, events []change.Event, region, account string) error {
	var batch []sqstypes.SendMessageBatchRequestEntry
	for i, e := range events {
		body, err := Envelope(topo, e, region, account)
		if err != nil {
			return err
		}
		batch = append(batch, entry(len(batch), body, e.ID))
		if len(batch) == 10 || i == len(events)-1 {
			if err := sendBatch(ctx, q, queueURL, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	return nil
}

func entry(i int, body, eventID string) sqstypes.SendMessageBatchRequestEntry {
	return sqstypes.SendMessageBatchRequestEntry{
		Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String(body),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			AttrRedelivered: {DataType: aws.String("String"), StringValue: aws.String(eventID)},
		},
	}
}
