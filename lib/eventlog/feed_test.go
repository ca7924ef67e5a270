package eventlog_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/eventlog/eventlogtest"
)

// envelope is the body of an SQS message the eventlog route delivers: an
// EventBridge event around the change event.
func envelope(t *testing.T, e change.Event) string {
	t.Helper()
	d, err := e.Detail()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`{"version":"0","id":"env-%s","detail-type":"Change","source":"shop.changes","time":"2026-01-02T03:04:05Z","region":"us-east-1","resources":[],"detail":%s}`, e.ID, d)
}

func failures(r events.SQSEventResponse) []string {
	var out []string
	for _, f := range r.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	slices.Sort(out)
	return out
}

// A batch is written whole; a redelivered change collapses into its
// record; what cannot be logged is reported failed, alone.
func TestFeedWritesBatchesOnce(t *testing.T) {
	ctx := context.Background()
	st := openFile(t, t.TempDir(), eventlog.FileConfig{})
	feed, err := eventlog.NewFeed(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Minute).UTC()
	e1 := eventlogtest.Order("ev-1", "o1", eventlogtest.Seq(1), at, "req-1")
	e2 := eventlogtest.Order("ev-2", "o1", eventlogtest.Seq(2), at.Add(time.Second), "req-1")
	unknown := eventlogtest.Order("ev-3", "o2", eventlogtest.Seq(3), at, "req-2")
	unknown.Table = "no-such-table"
	batch := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m1", Body: envelope(t, e1)},
		{MessageId: "m2", Body: envelope(t, e2)},
		{MessageId: "m1-again", Body: envelope(t, e1)}, // SQS's at-least-once, in one batch
		{MessageId: "m-bad", Body: `{"detail-type":"Change","detail":{"id":"x"}}`},
		{MessageId: "m-unknown", Body: envelope(t, unknown)},
	}}
	resp, err := feed.Handle(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if got := failures(resp); !slices.Equal(got, []string{"m-bad", "m-unknown"}) {
		t.Fatalf("failures %v, want the malformed and the unknown table's", got)
	}
	// The redelivery of the whole batch writes nothing new.
	if _, err := feed.Handle(ctx, batch); err != nil {
		t.Fatal(err)
	}
	item, err := eventlog.ParseItemKey(eventlogtest.Topology, "orders/o1")
	if err != nil {
		t.Fatal(err)
	}
	h, err := st.ItemHistory(ctx, item)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].ID != "ev-1" || h[1].ID != "ev-2" || h[0].CausedBy != "user-1" || string(h[1].New) != string(e2.New) {
		t.Fatalf("history %+v, want ev-1 then ev-2 once each", h)
	}
}

type failingWriter struct{ calls int }

func (w *failingWriter) WriteChanges(context.Context, ...change.Event) error {
	w.calls++
	return errors.New("throttled")
}

// A batch the log cannot take is left for redelivery, every message of it.
func TestFeedLeavesUnwrittenBatchForRedelivery(t *testing.T) {
	w := &failingWriter{}
	feed, _ := eventlog.NewFeed(w, slog.New(slog.NewTextHandler(io.Discard, nil)))
	at := time.Now().UTC()
	resp, err := feed.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "a", Body: envelope(t, eventlogtest.Order("ev-a", "o", eventlogtest.Seq(1), at, ""))},
		{MessageId: "b", Body: envelope(t, eventlogtest.Order("ev-b", "o", eventlogtest.Seq(2), at, ""))},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := failures(resp); !slices.Equal(got, []string{"a", "b"}) || w.calls != 1 {
		t.Fatalf("failures %v after %d writes, want both after one", got, w.calls)
	}
}
