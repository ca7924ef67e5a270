package eventlog

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/errs"
)

// changeWriter is the part of the log the feed writes to.
type changeWriter interface {
	WriteChanges(ctx context.Context, events ...change.Event) error
}

// Feed is the framework's eventlog function: the framework route
// topology.EventLogRoute delivers every change event of the app (an
// EventBridge event in an SQS message, at least once) and Feed writes
// them to the log, a whole SQS batch in one WriteChanges. A change is
// identified by its event id, so a redelivered message collapses into
// the record already written: the log has no gaps (a message is
// acknowledged only once its change is written) and no duplicates.
//
// The feed is not a third reader of the table streams (DynamoDB serves
// two per shard: the router and the realtime fan-out); it is a consumer
// of the bus like any function, with its queue, retries and dead-letter
// queue.
type Feed struct {
	w   changeWriter
	log *slog.Logger
}

// NewFeed is a Feed writing to w; log nil is slog.Default().
func NewFeed(w changeWriter, log *slog.Logger) (*Feed, error) {
	if w == nil {
		return nil, errors.New("eventlog: feed: no log to write to")
	}
	if log == nil {
		log = slog.Default()
	}
	return &Feed{w: w, log: log.With("function", "eventlog")}, nil
}

// Handle writes an SQS batch of change events and reports the messages
// whose change could not be written: they come back after their
// visibility timeout, and after the route's receive count they go to its
// dead-letter queue. A message that is not a change event (retrying
// cannot fix it) fails the same way, so that it ends up in the
// dead-letter queue rather than being dropped.
func (f *Feed) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	start := time.Now()
	var resp events.SQSEventResponse
	fail := func(id string) {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
	}
	type item struct {
		msgID string
		ev    change.Event
	}
	items := make([]item, 0, len(ev.Records))
	for _, m := range ev.Records {
		e, err := change.FromEventBridge(m.Body)
		if err != nil {
			f.log.ErrorContext(ctx, "eventlog: not a change event; left for the dead-letter queue", "messageId", m.MessageId, "error", err.Error())
			fail(m.MessageId)
			continue
		}
		items = append(items, item{m.MessageId, e})
	}
	if len(items) == 0 {
		return resp, nil
	}
	all := make([]change.Event, len(items))
	for i, it := range items {
		all[i] = it.ev
	}
	err := f.w.WriteChanges(ctx, all...)
	if err != nil && errs.CodeOf(err) == errs.BadUserInput {
		// One bad event refuses the whole call before anything is
		// written: write them one by one so the others are not held
		// back by it.
		for _, it := range items {
			if werr := f.w.WriteChanges(ctx, it.ev); werr != nil {
				f.log.ErrorContext(ctx, "eventlog: change not logged", "eventId", it.ev.ID, "messageId", it.msgID, "error", werr.Error())
				fail(it.msgID)
			}
		}
	} else if err != nil {
		f.log.WarnContext(ctx, "eventlog: batch not logged; it will be delivered again", "changes", len(items), "error", err.Error())
		for _, it := range items {
			fail(it.msgID)
		}
	}
	f.log.DebugContext(ctx, "eventlog: batch logged", "changes", len(items), "failed", len(resp.BatchItemFailures),
		"durationMs", float64(time.Since(start).Microseconds())/1000)
	return resp, nil
}
