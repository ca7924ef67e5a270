package replay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/topology"
)

// queueAPI is the part of the SQS client Redeliver uses.
type queueAPI interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// RedeliverOptions configure Redeliver.
type RedeliverOptions struct {
	// Topology is the app's.
	Topology topology.Topology
	// Route is the route whose queue the events go to: only the logged
	// events its pattern matches are sent.
	Route string
	// QueueURL is the route's queue.
	QueueURL string
	// Since and Until bound the events' times; zero is unbounded.
	Since, Until time.Time
	// Item, when set, sends that item's events only.
	Item eventlog.ItemKey
	// Region and Account fill the envelope's fields as EventBridge does;
	// they may be empty.
	Region, Account string
	// DryRun finds the events without sending them.
	DryRun bool
	// Logger reports progress; default slog.Default().
	Logger *slog.Logger
}

// RedeliverResult says what Redeliver sent.
type RedeliverResult struct {
	// Read is how many logged changes were looked at.
	Read int `json:"read"`
	// Sent is how many events were sent (or, dry, would be).
	Sent int `json:"sent"`
	// EventIDs are the events sent, in log order.
	EventIDs []string `json:"eventIds"`
}

// Redeliver sends the logged events route o.Route matches (within the
// time bounds and item, if given) to its queue again, oldest first, in
// the envelope its rule delivers. The route's function handles them as
// it handles any redelivery: functions are idempotent, so an event
// handled before changes nothing.
func Redeliver(ctx context.Context, src Source, q queueAPI, o RedeliverOptions) (RedeliverResult, error) {
	var res RedeliverResult
	r, ok := o.Topology.Route(o.Route)
	if !ok {
		return res, errs.Newf(errs.BadUserInput, "replay: no route %q", o.Route)
	}
	if r.IsFrameworkRoute() {
		return res, errs.Newf(errs.BadUserInput, "replay: route %q is the framework's event log feed; redeliver to an app route", o.Route)
	}
	if o.QueueURL == "" && !o.DryRun {
		return res, errs.Newf(errs.BadUserInput, "replay: no queue URL for route %s", o.Route)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	pattern, err := o.Topology.CompilePattern(r)
	if err != nil {
		return res, err
	}
	f := eventlog.Filter{Since: o.Since, Until: o.Until, Item: o.Item, Tables: []string{r.Match.Table}}
	var batch []sqstypes.SendMessageBatchRequestEntry
	flush := func() error {
		if len(batch) == 0 || o.DryRun {
			batch = batch[:0]
			return nil
		}
		err := sendBatch(ctx, q, o.QueueURL, batch)
		batch = batch[:0]
		return err
	}
	for c, err := range src.Changes(ctx, f) {
		if err != nil {
			return res, fmt.Errorf("replay: read the log: %w", err)
		}
		res.Read++
		detail, err := c.Event.Detail()
		if err != nil {
			return res, fmt.Errorf("replay: event %s: %w", c.ID, err)
		}
		match, err := pattern.MatchDetail(detail)
		if err != nil {
			return res, fmt.Errorf("replay: event %s: %w", c.ID, err)
		}
		if !match {
			continue
		}
		body, err := Envelope(o.Topology, c.Event, o.Region, o.Account)
		if err != nil {
			return res, err
		}
		batch = append(batch, entry(len(batch), body, c.ID))
		res.Sent++
		res.EventIDs = append(res.EventIDs, c.ID)
		if len(batch) == 10 {
			if err := flush(); err != nil {
				return res, err
			}
		}
	}
	if err := flush(); err != nil {
		return res, err
	}
	o.Logger.Info("redelivered from the event log", "route", o.Route, "read", res.Read, "sent", res.Sent, "dryRun", o.DryRun)
	return res, nil
}

// AttrRedelivered is the message attribute a redelivered message carries:
// the event id, for whoever inspects the queue.
const AttrRedelivered = "redeliveredEventId"

// maxMessageBytes is SQS's message size limit.
const maxMessageBytes = 256 << 10

// Envelope is the body an EventBridge rule delivers to its queue for the
// change event e, as the router published it: the event without its
// images if whole it would not fit in an SQS message, as the router
// publishes an event too large for EventBridge.
func Envelope(t topology.Topology, e change.Event, region, account string) (string, error) {
	body, err := envelope(t, e, region, account)
	if err == nil && len(body) > maxMessageBytes {
		body, err = envelope(t, e.Reduce(), region, account)
	}
	return body, err
}

func envelope(t topology.Topology, e change.Event, region, account string) (string, error) {
	detail, err := e.Detail()
	if err != nil {
		return "", fmt.Errorf("replay: event %s: %w", e.ID, err)
	}
	at := e.ApproximateAt
	if at.IsZero() {
		at = time.Now()
	}
	env := struct {
		Version    string          `json:"version"`
		ID         string          `json:"id"`
		DetailType string          `json:"detail-type"`
		Source     string          `json:"source"`
		Account    string          `json:"account,omitempty"`
		Time       string          `json:"time"`
		Region     string          `json:"region,omitempty"`
		Resources  []string        `json:"resources"`
		Detail     json.RawMessage `json:"detail"`
	}{"0", newEnvelopeID(), topology.DetailType, t.EventSource(), account, at.UTC().Format(time.RFC3339), region, []string{}, detail}
	b, err := json.Marshal(env)
	if err != nil {
		return "", fmt.Errorf("replay: event %s: %w", e.ID, err)
	}
	return string(b), nil
}

// newEnvelopeID is a fresh EventBridge-style event id (a UUID): each
// delivery of a change has its own envelope; the change keeps its id.
func newEnvelopeID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func sendBatch(ctx context.Context, q queueAPI, url string, entries []sqstypes.SendMessageBatchRequestEntry) error {
	pending := append([]sqstypes.SendMessageBatchRequestEntry(nil), entries...)
	delay := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		out, err := q.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: pending})
		if err != nil {
			return fmt.Errorf("replay: send to %s: %w", url, err)
		}
		if len(out.Failed) == 0 {
			return nil
		}
		failed := map[string]bool{}
		for _, f := range out.Failed {
			if f.SenderFault {
				return fmt.Errorf("replay: send to %s: %s: %s", url, aws.ToString(f.Code), aws.ToString(f.Message))
			}
			failed[aws.ToString(f.Id)] = true
		}
		var again []sqstypes.SendMessageBatchRequestEntry
		for _, e := range pending {
			if failed[aws.ToString(e.Id)] {
				again = append(again, e)
			}
		}
		if attempt >= 5 {
			return fmt.Errorf("replay: send to %s: %d messages still failing", url, len(again))
		}
		pending = again
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay *= 2
	}
}
