package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/console"
	"github.com/threefactor/framework/lib/dlq"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/topology"
)

var topo = topology.Topology{
	App: "shop",
	Tables: []topology.Table{
		{Name: "orders", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true},
		{Name: "lines", PartitionKey: topology.Key{Name: "orderId", Type: topology.String}, SortKey: &topology.Key{Name: "n", Type: topology.Number}, Stream: true},
	},
	Functions: []topology.Function{{Name: "ship", Tables: []string{"orders"}}},
	Routes:    []topology.Route{{Name: "ship-order", Function: "ship", Match: topology.Match{Table: "orders"}}},
}

var t0 = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

var seq int

// orderChange is a change of order id from status old to new.
func orderChange(id, event, corr, old, new string, at time.Time) change.Event {
	seq++
	e := change.Event{
		ID: event, Table: "orders", Operation: topology.Modify, Keys: json.RawMessage(`{"id":"` + id + `"}`),
		Old: json.RawMessage(`{"id":"` + id + `","status":"` + old + `"}`), New: json.RawMessage(`{"id":"` + id + `","status":"` + new + `"}`),
		Changed: []string{"status"}, SequenceNumber: fmt.Sprintf("1%020d", seq), ApproximateAt: at, CorrelationID: corr, CausedBy: "alice",
	}
	if old == "" {
		e.Operation, e.Old, e.Changed = topology.Insert, nil, nil
	}
	return e
}

// fixture is a console over a file store holding one order's flow.
type fixture struct {
	log *eventlog.FileStore
	dl  *fakeDLQ
	c   *console.Console
	srv *httptest.Server
}

func setup(t *testing.T, mod func(*console.Config)) *fixture {
	t.Helper()
	log, err := eventlog.OpenFileStore(t.TempDir(), eventlog.FileConfig{Topology: topo})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	ctx := context.Background()
	must(t, log.WriteChanges(ctx,
		orderChange("ord_1", "ev1", "corr-1", "", "PLACED", t0),
		orderChange("ord_1", "ev2", "corr-1", "PLACED", "VALIDATED", t0.Add(40*time.Millisecond)),
		orderChange("ord_2", "ev3", "corr-2", "", "PLACED", t0.Add(time.Second)),
	))
	must(t, log.WriteDeliveries(ctx,
		eventlog.Delivery{EventID: "ev1", Route: "ship-order", Function: "ship", Attempt: 1, Outcome: eventlog.Retry, Error: "warehouse busy", Code: errs.Unavailable, DurationMs: 3, At: t0.Add(10 * time.Millisecond), MessageID: "m1", CorrelationID: "corr-1"},
		eventlog.Delivery{EventID: "ev1", Route: "ship-order", Function: "ship", Attempt: 2, Outcome: eventlog.OK, DurationMs: 12, At: t0.Add(25 * time.Millisecond), MessageID: "m1", CorrelationID: "corr-1"},
	))
	must(t, log.WritePushes(ctx, eventlog.Push{EventID: "ev2", Topic: "order:ord_1", ConnectionID: "c1", SubscriptionID: "s1", Outcome: eventlog.Pushed, DurationMs: 2, At: t0.Add(50 * time.Millisecond), CorrelationID: "corr-1"}))
	f := &fixture{log: log, dl: &fakeDLQ{depth: map[string]int{"ship-order": 2}}}
	cfg := console.Config{Log: log, DeadLetters: f.dl, Topology: topo, PollInterval: 20 * time.Millisecond, DeadLetterPoll: 20 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	if f.c, err = console.New(cfg); err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.c)
	t.Cleanup(f.srv.Close)
	// First (cleanups run last first): a stream still open ends.
	t.Cleanup(f.c.Close)
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// fakeDLQ stands for a dlq.Client (which the end-to-end tests run for
// real): it records what it is asked.
type fakeDLQ struct {
	mu    sync.Mutex
	depth map[string]int
	calls []string
}

func (f *fakeDLQ) Routes() []dlq.Route {
	return []dlq.Route{{Name: "ship-order", Function: "ship", MaxReceiveCount: 5}}
}

func (f *fakeDLQ) Depths(context.Context) ([]dlq.Depth, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []dlq.Depth{{Route: "ship-order", Visible: f.depth["ship-order"]}}, nil
}

func (f *fakeDLQ) List(_ context.Context, route string, limit int) ([]dlq.Message, error) {
	if route != "ship-order" {
		return nil, fmt.Errorf("%w %q", dlq.ErrNoRoute, route)
	}
	return []dlq.Message{{Route: route, ID: "msg-1", EventID: "ev1", Reason: "BAD_USER_INPUT: no such item", Attempts: 1, By: dlq.ByConsumer}}, nil
}

func (f *fakeDLQ) act(what, route string, sel dlq.Selection) (dlq.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("%s %s all=%v ids=%v", what, route, sel.All, sel.IDs))
	n := f.depth[route]
	f.depth[route] = 0
	return dlq.Result{Route: route, Count: n}, nil
}

func (f *fakeDLQ) Redrive(_ context.Context, route string, sel dlq.Selection) (dlq.Result, error) {
	return f.act("redrive", route, sel)
}

func (f *fakeDLQ) Drop(_ context.Context, route string, sel dlq.Selection) (dlq.Result, error) {
	return f.act("drop", route, sel)
}

func (f *fakeDLQ) setDepth(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.depth["ship-order"] = n
}

func get(t *testing.T, url string, out any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("GET %s: %d %s: %v", url, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

type view struct {
	Change struct {
		ID, Item, Operation, CorrelationID string
	}
	Deliveries []eventlog.Delivery
	Pushes     []eventlog.Push
}

func TestRecentEventTraceItem(t *testing.T) {
	f := setup(t, nil)
	base := f.srv.URL + "/console/api"

	var recent struct{ Events []view }
	if code := get(t, base+"/recent", &recent); code != 200 {
		t.Fatalf("recent: %d", code)
	}
	var ids []string
	for _, v := range recent.Events {
		ids = append(ids, v.Change.ID)
	}
	if strings.Join(ids, ",") != "ev3,ev2,ev1" {
		t.Fatalf("recent: %v, want newest first", ids)
	}
	if ev1 := recent.Events[2]; ev1.Change.Item != "orders/ord_1" || len(ev1.Deliveries) != 2 || ev1.Deliveries[1].Outcome != eventlog.OK || ev1.Deliveries[0].Error != "warehouse busy" {
		t.Errorf("ev1: %+v", ev1)
	}
	if ev2 := recent.Events[1]; len(ev2.Pushes) != 1 || ev2.Pushes[0].Topic != "order:ord_1" {
		t.Errorf("ev2 pushes: %+v", ev2.Pushes)
	}
	if code := get(t, base+"/recent?limit=1", &recent); code != 200 || len(recent.Events) != 1 {
		t.Errorf("limit 1: %d, %d events", code, len(recent.Events))
	}
	var e struct {
		Error struct{ Code, Message string }
	}
	if code := get(t, base+"/recent?limit=x", &e); code != 400 || e.Error.Code != "BAD_USER_INPUT" {
		t.Errorf("limit x: %d %+v", code, e)
	}

	var one view
	if code := get(t, base+"/events/ev1", &one); code != 200 || one.Change.ID != "ev1" || len(one.Deliveries) != 2 {
		t.Errorf("event ev1: %d %+v", code, one)
	}
	if code := get(t, base+"/events/nope", &e); code != 404 || e.Error.Code != "NOT_FOUND" {
		t.Errorf("event nope: %d %+v", code, e)
	}

	var tr struct {
		CorrelationID string
		Entries       []struct {
			At       time.Time
			Kind     string
			Change   *struct{ ID string }
			Delivery *eventlog.Delivery
			Push     *eventlog.Push
		}
	}
	if code := get(t, base+"/trace/corr-1", &tr); code != 200 {
		t.Fatalf("trace: %d", code)
	}
	var kinds []string
	for _, en := range tr.Entries {
		kinds = append(kinds, en.Kind)
	}
	if strings.Join(kinds, ",") != "change,delivery,delivery,change,push" || tr.Entries[0].Change.ID != "ev1" || tr.Entries[3].Change.ID != "ev2" {
		t.Errorf("trace corr-1: %v", kinds)
	}

	var h struct {
		Item    string
		Changes []struct{ ID string }
	}
	if code := get(t, base+"/items/orders/ord_1", &h); code != 200 || h.Item != "orders/ord_1" || len(h.Changes) != 2 || h.Changes[0].ID != "ev1" {
		t.Errorf("item history: %d %+v", code, h)
	}
	if code := get(t, base+"/items/lines/ord_1", &e); code != 400 || !strings.Contains(e.Error.Message, "want lines/ORDERID/N") {
		t.Errorf("bad item key: %d %+v", code, e)
	}
	if code := get(t, base+"/items/orders/ord_9", &h); code != 200 || len(h.Changes) != 0 {
		t.Errorf("unknown item: %d %+v", code, h)
	}

	var ov struct {
		App         string
		Routes      []dlq.Route
		DeadLetters bool
	}
	if code := get(t, base+"/overview", &ov); code != 200 || ov.App != "shop" || len(ov.Routes) != 1 || !ov.DeadLetters {
		t.Errorf("overview: %d %+v", code, ov)
	}
}

func TestPage(t *testing.T) {
	f := setup(t, nil)
	for path, want := range map[string]string{
		"/console/":                   "<title>threefactor console</title>",
		"/console/static/console.js":  "new EventSource",
		"/console/static/console.css": ".timeline",
	} {
		resp, err := http.Get(f.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d, lacks %q", path, resp.StatusCode, want)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", path, resp.Header)
		}
	}
	// The page's script never puts data in as markup.
	js, _ := http.Get(f.srv.URL + "/console/static/console.js")
	b, _ := io.ReadAll(js.Body)
	js.Body.Close()
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
		if strings.Contains(string(b), bad) {
			t.Errorf("console.js uses %s", bad)
		}
	}
}

func TestDeadLetterActionsAndOrigins(t *testing.T) {
	f := setup(t, nil)
	url := f.srv.URL + "/console/api/dlq/ship-order/redrive"
	host := strings.TrimPrefix(f.srv.URL, "http://")
	post := func(body string, headers map[string]string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for name, h := range map[string]map[string]string{
		"another site":                  {"Origin": "https://evil.example"},
		"another port of the same host": {"Origin": "http://127.0.0.1:1"},
		"a sandboxed frame":             {"Origin": "null"},
		"cross-site fetch metadata":     {"Sec-Fetch-Site": "cross-site"},
		"same-site fetch metadata":      {"Sec-Fetch-Site": "same-site", "Origin": "http://" + host},
		"a simple form":                 {"Content-Type": "application/x-www-form-urlencoded"},
		"text/plain":                    {"Content-Type": "text/plain"},
	} {
		if code, body := post(`{"all":true}`, h); code != 403 && code != 415 {
			t.Errorf("%s: %d %s, want refused", name, code, body)
		}
	}
	if len(f.dl.calls) != 0 {
		t.Fatalf("a refused request acted: %v", f.dl.calls)
	}
	if code, body := post(`{"all":true}`, map[string]string{"Origin": "http://" + host, "Sec-Fetch-Site": "same-origin"}); code != 200 || !strings.Contains(body, `"count":2`) {
		t.Errorf("same origin: %d %s", code, body)
	}
	// A client with no browser headers (a script on the machine) is let through.
	if code, body := post(`{"ids":["msg-1"]}`, nil); code != 200 {
		t.Errorf("no browser headers: %d %s", code, body)
	}
	if code, body := post(`{"all":true,"bogus":1}`, nil); code != 400 || !strings.Contains(body, "BAD_USER_INPUT") {
		t.Errorf("unknown field: %d %s", code, body)
	}
	want := []string{"redrive ship-order all=true ids=[]", "redrive ship-order all=false ids=[msg-1]"}
	if fmt.Sprint(f.dl.calls) != fmt.Sprint(want) {
		t.Errorf("calls %v, want %v", f.dl.calls, want)
	}
	var list struct{ Messages []dlq.Message }
	if code := get(t, f.srv.URL+"/console/api/dlq/ship-order", &list); code != 200 || len(list.Messages) != 1 || list.Messages[0].Reason == "" {
		t.Errorf("list: %d %+v", code, list)
	}
	if code := get(t, f.srv.URL+"/console/api/dlq/nope", nil); code != 404 {
		t.Errorf("unknown route: %d", code)
	}
}

func TestLocalOnly(t *testing.T) {
	f := setup(t, nil)
	for _, tc := range []struct {
		remote, host string
		want         int
	}{
		{"127.0.0.1:5000", "127.0.0.1:8080", 200},
		{"[::1]:5000", "[::1]:8080", 200},
		{"127.0.0.1:5000", "localhost:8080", 200},
		{"127.0.0.1:5000", "app.localhost", 200},
		{"192.0.2.7:5000", "127.0.0.1:8080", 403},           // another machine
		{"127.0.0.1:5000", "rebound.example.com:8080", 403}, // DNS rebinding
		{"127.0.0.1:5000", "192.168.1.5:8080", 403},         // the LAN address
		{"127.0.0.1:5000", "localhost.example.com", 403},    // not .localhost
		{"127.0.0.1:5000", "127.0.0.1.nip.io:8080", 403},    // resolves to loopback, but not a loopback name
		{"10.0.0.1:5000", "localhost", 403},
	} {
		req := httptest.NewRequest(http.MethodGet, "/console/api/overview", nil)
		req.RemoteAddr, req.Host = tc.remote, tc.host
		rec := httptest.NewRecorder()
		f.c.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("from %s for %s: %d, want %d", tc.remote, tc.host, rec.Code, tc.want)
		}
	}
}

// sse reads a Server-Sent Events stream.
type sse struct {
	resp *http.Response
	r    *bufio.Reader
}

func openLive(t *testing.T, base string) *sse {
	t.Helper()
	resp, err := http.Get(base + "/console/api/live")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("live: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return &sse{resp: resp, r: bufio.NewReader(resp.Body)}
}

// next is the next event's name and data, skipping comments.
func (s *sse) next(t *testing.T) (string, string) {
	t.Helper()
	type ev struct{ name, data string }
	got := make(chan ev, 1)
	errc := make(chan error, 1)
	go func() {
		var name, data string
		for {
			line, err := s.r.ReadString('\n')
			if err != nil {
				errc <- err
				return
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case line == "" && name != "":
				got <- ev{name, data}
				return
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data += strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	select {
	case e := <-got:
		return e.name, e.data
	case err := <-errc:
		t.Fatalf("stream ended: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no event in 30s")
	}
	return "", ""
}

func TestLive(t *testing.T) {
	f := setup(t, nil)
	s := openLive(t, f.srv.URL)
	if name, _ := s.next(t); name != "ready" {
		t.Fatalf("first event %q, want ready", name)
	}
	ctx := context.Background()
	// What was there before is not news; a new change is.
	must(t, f.log.WriteChanges(ctx, orderChange("ord_1", "ev4", "corr-1", "VALIDATED", "PAID", time.Now().UTC())))
	name, data := s.next(t)
	var v view
	if err := json.Unmarshal([]byte(data), &v); name != "change" || err != nil || v.Change.ID != "ev4" || v.Change.Item != "orders/ord_1" {
		t.Fatalf("got %s %s, want the change ev4", name, data)
	}
	// Its first delivery is an update.
	must(t, f.log.WriteDeliveries(ctx, eventlog.Delivery{EventID: "ev4", Route: "ship-order", Function: "ship", Attempt: 1, Outcome: eventlog.DeadLettered, Error: "no such item", MessageID: "m4"}))
	name, data = s.next(t)
	v = view{}
	if err := json.Unmarshal([]byte(data), &v); name != "update" || err != nil || v.Change.ID != "ev4" || len(v.Deliveries) != 1 || v.Deliveries[0].Outcome != eventlog.DeadLettered {
		t.Fatalf("got %s %s, want ev4's update", name, data)
	}
	// The dead-letter count changes.
	f.dl.setDepth(3)
	name, data = s.next(t)
	if name != "dlq" || !strings.Contains(data, `"visible":3`) {
		t.Fatalf("got %s %s, want the dead-letter count", name, data)
	}
	// Closing the console ends the stream.
	f.c.Close()
	if _, err := io.ReadAll(s.r); err != nil {
		t.Errorf("after Close: %v", err)
	}
}

// The dev runtime's server has a read timeout (and no write timeout): a
// stream, which lasts as long as its page, outlives it.
func TestLiveOutlivesTheReadTimeout(t *testing.T) {
	f := setup(t, nil)
	srv := httptest.NewUnstartedServer(f.c)
	srv.Config.ReadTimeout = 200 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(f.c.Close)
	s := openLive(t, srv.URL)
	if name, _ := s.next(t); name != "ready" {
		t.Fatal("no ready")
	}
	// The passing of time is what is tested: the stream must still be
	// open after the server's read timeout.
	time.Sleep(4 * srv.Config.ReadTimeout)
	must(t, f.log.WriteChanges(context.Background(), orderChange("ord_3", "ev5", "corr-3", "", "PLACED", time.Now().UTC())))
	if name, data := s.next(t); name != "change" || !strings.Contains(data, `"ev5"`) {
		t.Fatalf("got %s %s", name, data)
	}
}

func TestConfig(t *testing.T) {
	if _, err := console.New(console.Config{}); err == nil || !strings.Contains(err.Error(), "neither an event log nor dead-letter queues") {
		t.Errorf("nothing to show: %v", err)
	}
}

// An app with its event log disabled: the console shows its dead
// letters, and says the log's views have nothing to read.
func TestWithoutEventLog(t *testing.T) {
	f := setup(t, func(c *console.Config) { c.Log = nil })
	var o struct {
		EventLog, DeadLetters bool
	}
	if code := get(t, f.srv.URL+"/console/api/overview", &o); code != 200 || o.EventLog || !o.DeadLetters {
		t.Fatalf("overview: %d %+v", code, o)
	}
	for _, path := range []string{"recent", "events/ev1", "trace/corr-1", "items/orders/ord_1"} {
		var e struct {
			Error struct{ Code, Message string }
		}
		if code := get(t, f.srv.URL+"/console/api/"+path, &e); code != 404 || e.Error.Code != string(errs.FailedPrecondition) || !strings.Contains(e.Error.Message, "event log is disabled") {
			t.Errorf("%s: %d %+v", path, code, e)
		}
	}
	var d struct{ Routes []dlq.Depth }
	if code := get(t, f.srv.URL+"/console/api/dlq", &d); code != 200 || len(d.Routes) == 0 {
		t.Fatalf("dlq: %d %+v", code, d)
	}
	s := openLive(t, f.srv.URL)
	if name, _ := s.next(t); name != "ready" {
		t.Fatalf("first event %q, want ready", name)
	}
	f.dl.setDepth(4)
	if name, data := s.next(t); name != "dlq" || !strings.Contains(data, `"visible":4`) {
		t.Fatalf("got %s %s, want the dead-letter count", name, data)
	}
}
