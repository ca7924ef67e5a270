package eventlog_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/eventlog/eventlogtest"
)

func openFile(t *testing.T, dir string, cfg eventlog.FileConfig) *eventlog.FileStore {
	t.Helper()
	if cfg.Topology.App == "" {
		cfg.Topology = eventlogtest.Topology
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	st, err := eventlog.OpenFileStore(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func openReader(t *testing.T, dir string, cfg eventlog.FileConfig) *eventlog.FileStore {
	t.Helper()
	if cfg.Topology.App == "" {
		cfg.Topology = eventlogtest.Topology
	}
	r, err := eventlog.OpenFileReader(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

func countChanges(t *testing.T, l eventlog.Log) int {
	t.Helper()
	n := 0
	for _, err := range l.Changes(context.Background(), eventlog.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// checkLines decodes every line of a file: the log is JSON lines.
func checkLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Fatalf("%s does not end with a whole line", path)
	}
	n := 0
	for line := range bytes.Lines(b) {
		var v map[string]any
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatalf("%s line %d: %v: %.80s", path, n+1, err, line)
		}
		n++
	}
	return n
}

// TestFileTornLastLine: a writer killed mid-write leaves part of a line at
// the end of a file. Readers ignore it without touching the file; the
// next writer cuts it off and goes on.
func TestFileTornLastLine(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	clock := eventlogtest.NewClock(time.Now().UTC().Truncate(time.Second))
	st := openFile(t, dir, eventlog.FileConfig{Now: clock.Now})
	e1 := eventlogtest.Order("ev-1", "ord_1", eventlogtest.Seq(1), clock.Now(), "req-1")
	if err := st.WriteChanges(ctx, e1); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteDeliveries(ctx, eventlog.Delivery{EventID: "ev-1", Function: "f", MessageID: "m", Attempt: 1, Outcome: eventlog.OK}); err != nil {
		t.Fatal(err)
	}
	p1, err := st.Append(ctx, "t", e1)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// The crash: each file ends in half a record.
	sizes := map[string]int64{}
	for _, name := range []string{"changes.jsonl", "deliveries.jsonl", "pushes.jsonl", "topics.jsonl"} {
		path := filepath.Join(dir, name)
		sizes[name] = fileSize(t, path)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(`{"id":"torn","table":"orders","keys":{"id":"ord_`); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}

	r := openReader(t, dir, eventlog.FileConfig{Now: clock.Now})
	if n := countChanges(t, r); n != 1 {
		t.Fatalf("reader sees %d changes, want 1", n)
	}
	if got := fileSize(t, filepath.Join(dir, "changes.jsonl")); got == sizes["changes.jsonl"] {
		t.Fatal("the torn line is gone before a writer opened the log")
	}

	st = openFile(t, dir, eventlog.FileConfig{Now: clock.Now})
	for name, size := range sizes {
		if got := fileSize(t, filepath.Join(dir, name)); got != size {
			t.Fatalf("%s: %d bytes after repair, want %d", name, got, size)
		}
	}
	rec, err := st.Event(ctx, "ev-1")
	if err != nil || rec.Change == nil || len(rec.Deliveries) != 1 {
		t.Fatalf("after repair: %+v, %v", rec, err)
	}
	e2 := eventlogtest.Order("ev-2", "ord_1", eventlogtest.Seq(2), clock.Now(), "")
	if err := st.WriteChanges(ctx, e2); err != nil {
		t.Fatal(err)
	}
	p2, err := st.Append(ctx, "t", e2)
	if err != nil || p2 != p1+1 {
		t.Fatalf("append after repair: %d, %v; want %d", p2, err, p1+1)
	}
	for _, name := range []string{"changes.jsonl", "deliveries.jsonl", "topics.jsonl"} {
		checkLines(t, filepath.Join(dir, name))
	}
	// The reader catches up with the writer's new lines.
	if n := countChanges(t, r); n != 2 {
		t.Fatalf("reader sees %d changes after the writer went on, want 2", n)
	}
}

// crashDirEnv names the directory the crash helper writes to.
const crashDirEnv = "EVENTLOG_CRASH_DIR"

// TestFileCrashHelper is the process TestFileSurvivesKill kills: it
// writes large batches and reports each acknowledged one on stdout.
func TestFileCrashHelper(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestFileSurvivesKill")
	}
	round := os.Getenv("EVENTLOG_CRASH_ROUND")
	st, err := eventlog.OpenFileStore(dir, eventlog.FileConfig{Topology: eventlogtest.Topology})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	ctx := context.Background()
	pad := strings.Repeat("x", 800)
	for batch := 0; ; batch++ {
		events := make([]change.Event, 400) // about half a megabyte a write
		for i := range events {
			n := batch*len(events) + i
			e := eventlogtest.Order(fmt.Sprintf("r%s-%d", round, n), fmt.Sprintf("ord_%d", n%50), eventlogtest.Seq(n), time.Now(), "")
			e.New = json.RawMessage(fmt.Sprintf(`{"id":"ord_%d","pad":%q}`, n%50, pad))
			events[i] = e
		}
		if err := st.WriteChanges(ctx, events...); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		p, err := st.Append(ctx, "t", events[0])
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Printf("acked %s %d %d\n", round, (batch+1)*len(events), p)
	}
}

// TestFileSurvivesKill kills a writing process with SIGKILL, several
// times: every acknowledged record is there after each, every file is
// whole JSON lines once a writer reopened it, and topic positions go on
// from where they were.
func TestFileSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills writer processes")
	}
	dir := t.TempDir()
	var lastPos eventlog.Position
	acked := map[string]int{} // round -> events acknowledged
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFileCrashHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, "EVENTLOG_CRASH_ROUND="+strconv.Itoa(round))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		acks := 0
		for acks < 3+round && sc.Scan() {
			var r string
			var n int
			var p eventlog.Position
			if _, err := fmt.Sscanf(sc.Text(), "acked %s %d %d", &r, &n, &p); err != nil {
				_ = cmd.Process.Kill()
				t.Fatalf("helper: %s", sc.Text())
			}
			if p <= lastPos {
				_ = cmd.Process.Kill()
				t.Fatalf("round %d: position %d after %d", round, p, lastPos)
			}
			lastPos = p
			acked[r] = n
			acks++
		}
		if err := cmd.Process.Kill(); err != nil { // SIGKILL, mid-write or not
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if acks == 0 {
			t.Fatalf("round %d: the helper acknowledged nothing", round)
		}
		before := fileSize(t, filepath.Join(dir, "changes.jsonl"))
		st := openFile(t, dir, eventlog.FileConfig{})
		if after := fileSize(t, filepath.Join(dir, "changes.jsonl")); after != before {
			t.Logf("round %d: the kill tore the last line; %d bytes cut off", round, before-after)
		}
		for r, n := range acked {
			for _, i := range []int{0, n / 2, n - 1} {
				if _, err := st.Event(context.Background(), fmt.Sprintf("r%s-%d", r, i)); err != nil {
					t.Fatalf("round %d: acknowledged event r%s-%d: %v", round, r, i, err)
				}
			}
		}
		es, err := st.Read(context.Background(), "t", 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(es); i++ {
			if es[i].Position != es[i-1].Position+1 {
				t.Fatalf("round %d: topic positions %d then %d", round, es[i-1].Position, es[i].Position)
			}
		}
		if len(es) == 0 || es[len(es)-1].Position < lastPos {
			t.Fatalf("round %d: topic ends at %v, acknowledged %d", round, es, lastPos)
		}
		lastPos = es[len(es)-1].Position
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"changes.jsonl", "topics.jsonl"} {
			checkLines(t, filepath.Join(dir, name))
		}
	}
}

// TestFileLock: one writer at a time; readers need no lock.
func TestFileLock(t *testing.T) {
	dir := t.TempDir()
	st := openFile(t, dir, eventlog.FileConfig{})
	_, err := eventlog.OpenFileStore(dir, eventlog.FileConfig{Topology: eventlogtest.Topology})
	if !errors.Is(err, eventlog.ErrLocked) {
		t.Fatalf("second writer: %v, want ErrLocked", err)
	}
	r := openReader(t, dir, eventlog.FileConfig{})
	ctx := context.Background()
	e := eventlogtest.Order("ev-1", "ord_1", eventlogtest.Seq(1), time.Now(), "")
	for name, err := range map[string]error{
		"write":  r.WriteChanges(ctx, e),
		"append": func() error { _, err := r.Append(ctx, "t", e); return err }(),
	} {
		if !errors.Is(err, eventlog.ErrReadOnly) {
			t.Errorf("reader %s: %v, want ErrReadOnly", name, err)
		}
	}
	if h, err := r.Head(ctx, "t"); err != nil || h != 0 {
		t.Fatalf("reader head of a topic with no log: %d, %v; want 0", h, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st2 := openFile(t, dir, eventlog.FileConfig{})
	if err := st2.WriteChanges(ctx, e); err != nil {
		t.Fatalf("writer after the first closed: %v", err)
	}
	if err := st.WriteChanges(ctx, e); !errors.Is(err, eventlog.ErrClosed) {
		t.Fatalf("write to a closed store: %v, want ErrClosed", err)
	}
}

// TestFileReaderFollowsWriter: another process's reader sees what the
// writer appends, and follows it through a compaction.
func TestFileReaderFollowsWriter(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	clock := eventlogtest.NewClock(time.Now().UTC().Truncate(time.Second))
	r := openReader(t, dir, eventlog.FileConfig{Now: clock.Now, Retention: time.Hour})
	if n := countChanges(t, r); n != 0 {
		t.Fatalf("reader of no log: %d changes", n)
	}
	w := openFile(t, dir, eventlog.FileConfig{Now: clock.Now, Retention: time.Hour, CompactEvery: time.Hour})
	for i := range 10 {
		e := eventlogtest.Order(fmt.Sprintf("ev-%d", i), "ord_1", eventlogtest.Seq(i), clock.Now(), "")
		if err := w.WriteChanges(ctx, e); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Append(ctx, "t", e); err != nil {
			t.Fatal(err)
		}
		if i == 4 {
			clock.Advance(40 * time.Minute)
		}
	}
	if n := countChanges(t, r); n != 10 {
		t.Fatalf("reader sees %d changes, want 10", n)
	}
	head, err := r.Head(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(30 * time.Minute) // the first five are 70 minutes old
	if err := w.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if n := checkLines(t, filepath.Join(dir, "changes.jsonl")); n != 5 {
		t.Fatalf("changes.jsonl has %d lines after compaction, want 5", n)
	}
	if n := countChanges(t, r); n != 5 {
		t.Fatalf("reader sees %d changes after compaction, want 5", n)
	}
	es, err := r.Read(ctx, "t", head-5, 10)
	if err != nil || len(es) != 5 || es[4].Position != head {
		t.Fatalf("reader's topic read after compaction: %v, %v", es, err)
	}
	if _, err := r.Read(ctx, "t", head-6, 10); !errors.Is(err, eventlog.ErrExpired) {
		t.Fatalf("read of a compacted entry: %v, want ErrExpired", err)
	}
	// Positions go on after compaction and reopening.
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w = openFile(t, dir, eventlog.FileConfig{Now: clock.Now, Retention: time.Hour})
	if p, err := w.Append(ctx, "t", eventlogtest.Order("ev-10", "ord_1", eventlogtest.Seq(10), clock.Now(), "")); err != nil || p != head+1 {
		t.Fatalf("append after compaction: %d, %v; want %d", p, err, head+1)
	}
}

// TestFileCompaction: expired records leave the files at open and
// periodically, by themselves.
func TestFileCompaction(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	clock := eventlogtest.NewClock(time.Now().UTC().Truncate(time.Second))
	st := openFile(t, dir, eventlog.FileConfig{Now: clock.Now, Retention: time.Hour})
	write := func(from, to int) {
		for i := from; i < to; i++ {
			e := eventlogtest.Order(fmt.Sprintf("ev-%d", i), "ord_1", eventlogtest.Seq(i), clock.Now(), "")
			if err := st.WriteChanges(ctx, e); err != nil {
				t.Fatal(err)
			}
			if err := st.WritePushes(ctx, eventlog.Push{EventID: e.ID, Topic: "t", ConnectionID: "c", SubscriptionID: "s", Outcome: eventlog.Gone}); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Append(ctx, "t", e); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(0, 50)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	st = openFile(t, dir, eventlog.FileConfig{Now: clock.Now, Retention: time.Hour})
	for _, name := range []string{"changes.jsonl", "pushes.jsonl", "topics.jsonl"} {
		if n := checkLines(t, filepath.Join(dir, name)); n != 0 {
			t.Fatalf("%s: %d lines after reopening past the retention, want 0", name, n)
		}
	}
	write(50, 60)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// Periodically, with a writer that stays open.
	st = openFile(t, dir, eventlog.FileConfig{Now: clock.Now, Retention: time.Hour, CompactEvery: 5 * time.Millisecond})
	clock.Advance(2 * time.Hour)
	deadline := time.Now().Add(30 * time.Second)
	for fileSize(t, filepath.Join(dir, "changes.jsonl")) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("expired changes still in changes.jsonl 30s after they expired")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := countChanges(t, st); n != 0 {
		t.Fatalf("%d changes after compaction", n)
	}
	write(60, 61)
	if n := countChanges(t, st); n != 1 {
		t.Fatalf("%d changes after writing one more, want 1", n)
	}
}

// TestFileInspectable: the files are JSON lines a person can read.
func TestFileInspectable(t *testing.T) {
	dir := t.TempDir()
	st := openFile(t, dir, eventlog.FileConfig{})
	e := eventlogtest.Order("ev-1", "ord/1", eventlogtest.Seq(1), time.Now(), "req-1")
	if err := st.WriteChanges(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "changes.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(b), &line); err != nil {
		t.Fatal(err)
	}
	if line["id"] != "ev-1" || line["item"] != "orders/ord%2F1" || line["correlationId"] != "req-1" || line["loggedAt"] == nil {
		t.Fatalf("line %s", b)
	}
	if got := eventlog.LocalDir(".dev"); got != filepath.Join(".dev", "eventlog") {
		t.Fatalf("LocalDir(.dev) = %s", got)
	}
}
