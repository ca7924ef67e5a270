package realtime_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/realtime/fanout"
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

// TestSnapshotWaitsForChangesOnTheirWay: a topic just marked, whose log
// holds none of its changes when a subscriber reads its snapshot; the
// changes committed before (an older state, then the snapshot's own)
// reach the fan-out, and the log, a moment later, within a third of
// SnapshotSettle of the mark. The catch-up waits for them, and the
// subscriber gets the snapshot and nothing older.
func TestSnapshotWaitsForChangesOnTheirWay(t *testing.T) {
	const settle = 3 * time.Second
	ctx := context.Background()
	fl, err := eventlog.OpenFileStore(t.TempDir(), eventlog.FileConfig{Topology: topology.Topology{App: "snapshots"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fl.Close() })
	s := newStack(t, 0, func(c *realtime.Config) {
		c.Topics.Snapshot = []string{"itemChanged"}
		c.Log, c.SnapshotSettle = fl, settle
	})
	f := s.newFanout(t, func(c *fanout.Config) { c.Log = fl })
	c := s.connect(t)
	c.send(`{"id":"s","type":"subscribe","payload":{"query":"subscription { itemChanged(id: \"late\") { id status } }"}}`)
	appended := make(chan error, 1)
	go func() {
		// An older state, then the snapshot's (AS_IT_IS), after a
		// tenth of settle (what the wait was) and within a third.
		time.Sleep(settle / 10)
		for i, status := range []string{"OLDER", "AS_IT_IS"} {
			if i > 0 {
				time.Sleep(settle / 10)
			}
			e := change.Event{ID: "ev-" + status, Table: "items", Keys: json.RawMessage(`{"id":"late"}`), New: json.RawMessage(`{"id":"late","status":"` + status + `"}`)}
			if _, err := f.Publish(ctx, e); err != nil {
				appended <- err
				return
			}
		}
		appended <- nil
	}()
	m := c.read()
	if err := <-appended; err != nil {
		t.Fatal(err)
	}
	var p struct {
		Data struct{ ItemChanged struct{ Status string } }
	}
	if err := json.Unmarshal(m.Payload, &p); m.Type != wsproto.Next || err != nil || p.Data.ItemChanged.Status != "AS_IT_IS" {
		t.Fatalf("first message %s %s, want the snapshot", m.Type, m.Payload)
	}
	// Nothing older follows it: the next message is a ping's pong.
	c.send(`{"type":"ping"}`)
	if m := c.read(); m.Type != wsproto.Pong {
		t.Fatalf("after the snapshot: %s %s, want nothing before the pong", m.Type, m.Payload)
	}
}
