package devapp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/topology"
)

var tiny = app.App{
	Name:   "tiny",
	Tables: []topology.Table{{Name: "notes", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true}},
}

// The local log keeps records until make dev-clean, or for
// DEV_EVENTLOG_RETENTION, which a short value makes visible; one process
// writes it.
func TestOpenLocalLog(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := filepath.Join(t.TempDir(), "state")

	t.Setenv(EnvEventLogRetention, "a while")
	if _, err := openLocalLog(tiny, dir, quiet); err == nil || !strings.Contains(err.Error(), EnvEventLogRetention) {
		t.Fatalf("a bad retention: %v", err)
	}

	t.Setenv(EnvEventLogRetention, "2s")
	l, err := openLocalLog(tiny, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := openLocalLog(tiny, dir, quiet); err == nil || !strings.Contains(err.Error(), "is another make dev running") {
		t.Fatalf("a second writer: %v", err)
	}
	at := time.Now().UTC()
	ctx := context.Background()
	if err := l.WriteDeliveries(ctx, eventlog.Delivery{EventID: "ev-1", Route: "r", Function: "f", Attempt: 1, Outcome: eventlog.OK, MessageID: "m", At: at}); err != nil {
		t.Fatal(err)
	}
	if rec, err := l.Event(ctx, "ev-1"); err != nil || len(rec.Deliveries) != 1 {
		t.Fatalf("just written: %+v, %v", rec, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := l.Event(ctx, "ev-1")
		if errors.Is(err, eventlog.ErrNotFound) {
			break // expired
		}
		if time.Now().After(deadline) {
			t.Fatalf("a record kept 2s still there after 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
