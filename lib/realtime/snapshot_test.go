package realtime_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/realtime/wsproto"
	"github.com/threefactor/framework/lib/topology"
)

// countingLog counts the reads of a topic log.
type countingLog struct {
	realtime.TopicLog
	reads atomic.Int32
}

func (l *countingLog) Read(ctx context.Context, topic string, after eventlog.Position, limit int) ([]eventlog.Entry, error) {
	l.reads.Add(1)
	return l.TopicLog.Read(ctx, topic, after, limit)
}

// TestSnapshotOfQuietTopic: the snapshot of a topic whose log holds none
// of its changes waits for the log only while the topic's mark is young
// (a change committed just before the first subscription may still be
// appended); once the mark is older than SnapshotSettle, a subscriber
// gets its snapshot at once, with a cursor: two reads of the log (the
// change at the head, none; what follows it, nothing).
func TestSnapshotOfQuietTopic(t *testing.T) {
	const settle = 2 * time.Second
	fl, err := eventlog.OpenFileStore(t.TempDir(), eventlog.FileConfig{Topology: topology.Topology{App: "snapshots"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fl.Close() })
	l := &countingLog{TopicLog: fl}
	s := newStack(t, 0, func(c *realtime.Config) {
		c.Topics.Snapshot = []string{"itemChanged"}
		c.Log, c.SnapshotSettle = l, settle
	})
	c := s.connect(t)
	snapshot := func(id string) (reads int32) {
		t.Helper()
		l.reads.Store(0)
		c.send(`{"id":"` + id + `","type":"subscribe","payload":{"query":"subscription { itemChanged(id: \"quiet\") { id status } }"}}`)
		m := c.read()
		var p struct {
			Data       struct{ ItemChanged struct{ Status string } }
			Extensions struct{ Cursor string }
		}
		if err := json.Unmarshal(m.Payload, &p); m.Type != wsproto.Next || m.ID != id || err != nil ||
			p.Data.ItemChanged.Status != "AS_IT_IS" || p.Extensions.Cursor == "" {
			t.Fatalf("subscription %s: got %s %s, want its snapshot with a cursor", id, m.Type, m.Payload)
		}
		return l.reads.Load()
	}
	if reads := snapshot("first"); reads <= 2 {
		t.Fatalf("the first subscription read the log %d times: a topic just marked resumable waits for a change committed before", reads)
	}
	time.Sleep(settle + 50*time.Millisecond) // the mark is older than SnapshotSettle now
	if reads := snapshot("later"); reads != 2 {
		t.Fatalf("a subscription to the quiet topic read the log %d times, want twice: its snapshot waits for nothing", reads)
	}
}
