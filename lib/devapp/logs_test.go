package devapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	apitypes "github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/graphqlhttp"
)

// records decodes a JSON log.
func records(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func jsonLogger(b *bytes.Buffer, lvl slog.Level) *slog.Logger {
	return slog.New(correlation.WrapHandler(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: lvl})))
}

func TestChangeLog(t *testing.T) {
	var b bytes.Buffer
	decode := func(rec events.DynamoDBEventRecord) (change.Event, error) {
		if rec.EventID == "bad" {
			return change.Event{}, errors.New("undecodable")
		}
		return change.Event{
			ID: rec.EventID, Table: "orders", Operation: "MODIFY",
			Keys:          json.RawMessage(`{"id":"ord_1"}`),
			New:           json.RawMessage(`{"id":"ord_1","status":"PAID","totalCents":1800,"items":[1],"payments":[],"correlationId":"c1","causedBy":"bob","updatedAt":"t","reason":"a reason long enough that it does not belong on a line of the log, however wide"}`),
			Changed:       []string{"status", "totalCents", "items", "payments", "reason", "correlationId", "causedBy", "updatedAt"},
			CorrelationID: "c1", CausedBy: "bob",
		}, nil
	}
	c := newChangeLog(jsonLogger(&b, slog.LevelInfo), decode)
	calls := 0
	h := c.wrap(func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		calls++
		return events.DynamoDBEventResponse{}, nil
	})
	batch := events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{{EventID: "e1"}, {EventID: "bad"}}}
	// The router retries a batch: its changes are logged once.
	for range 2 {
		if _, err := h(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 2 {
		t.Fatalf("the wrapped handler ran %d times, want 2", calls)
	}
	recs := records(t, &b)
	if len(recs) != 1 {
		t.Fatalf("%d records, want one for e1:\n%s", len(recs), b.String())
	}
	r := recs[0]
	want := map[string]any{
		"msg": "change", "table": "orders", "operation": "MODIFY", "key": "ord_1", "eventId": "e1",
		"changedCount": 5.0, "correlationId": "c1", "subject": "bob",
		"new": map[string]any{"status": "PAID", "totalCents": "1800"},
	}
	for k, v := range want {
		if got, _ := json.Marshal(r[k]); string(got) != mustJSON(v) {
			t.Errorf("%s = %s, want %s", k, got, mustJSON(v))
		}
	}

	// Nothing is decoded when the level hides the lines.
	var quiet bytes.Buffer
	c = newChangeLog(jsonLogger(&quiet, slog.LevelWarn), func(events.DynamoDBEventRecord) (change.Event, error) {
		t.Fatal("decoded with INFO off")
		return change.Event{}, nil
	})
	if _, err := c.wrap(func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		return events.DynamoDBEventResponse{}, nil
	})(context.Background(), batch); err != nil || quiet.Len() != 0 {
		t.Fatalf("err %v, log %s", err, quiet.String())
	}
}

// The memory of logged ids is bounded: the oldest is forgotten first.
func TestChangeLogForgets(t *testing.T) {
	c := newChangeLog(slog.New(slog.DiscardHandler), nil)
	c.ring = make([]string, 2)
	for _, id := range []string{"a", "b", "c"} {
		if !c.first(id) {
			t.Fatalf("%s seen before", id)
		}
	}
	if c.first("c") || c.first("b") {
		t.Fatal("recent ids forgotten")
	}
	if !c.first("a") || len(c.seen) != 2 {
		t.Fatalf("a should be forgotten, memory %v", c.seen)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestLogPush(t *testing.T) {
	post := func(data string) *apigatewaymanagementapi.PostToConnectionInput {
		return &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String("conn1"), Data: []byte(data)}
	}
	tests := []struct {
		name  string
		data  string
		err   error
		level slog.Level
		want  map[string]any // nil: not logged at INFO
	}{
		{"a push", `{"id":"1","type":"next","payload":{"data":{"orderUpdated":{"status":"PAID"}}}}`, nil, slog.LevelInfo,
			map[string]any{"msg": "push", "field": "orderUpdated", "connectionId": "conn1", "subscriptionId": "1", "outcome": "ok", "level": "INFO"}},
		{"to a gone connection", `{"id":"1","type":"next","payload":{"data":{"orderUpdated":{}}}}`, &apitypes.GoneException{}, slog.LevelInfo,
			map[string]any{"outcome": "gone", "level": "INFO"}},
		{"a failed post", `{"id":"1","type":"next","payload":{"data":{"orderUpdated":{}}}}`, errors.New("throttled"), slog.LevelInfo,
			map[string]any{"outcome": "failed", "level": "WARN", "error": "throttled"}},
		{"an error message", `{"id":"2","type":"error","payload":[{"message":"no"}]}`, nil, slog.LevelInfo,
			map[string]any{"field": "error", "subscriptionId": "2"}},
		{"the protocol's own", `{"type":"connection_ack"}`, nil, slog.LevelInfo, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			logPush(context.Background(), jsonLogger(&b, tt.level), post(tt.data), tt.err)
			recs := records(t, &b)
			if tt.want == nil {
				if len(recs) != 0 {
					t.Fatalf("logged %v", recs)
				}
				return
			}
			if len(recs) != 1 {
				t.Fatalf("%d records", len(recs))
			}
			for k, v := range tt.want {
				if recs[0][k] != v {
					t.Errorf("%s = %v, want %v (%v)", k, recs[0][k], v, recs[0])
				}
			}
			if recs[0]["bytes"] != float64(len(tt.data)) {
				t.Errorf("bytes %v", recs[0]["bytes"])
			}
		})
	}
}

func TestAtLeast(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(atLeast(jsonLogger(&b, slog.LevelInfo).Handler(), slog.LevelWarn)).With("component", "router")
	log.Info("stream batch routed")
	log.Warn("PutEvents failed")
	if recs := records(t, &b); len(recs) != 1 || recs[0]["msg"] != "PutEvents failed" || recs[0]["component"] != "router" {
		t.Fatalf("at INFO: %v", recs)
	}
	b.Reset()
	log = slog.New(atLeast(jsonLogger(&b, slog.LevelDebug).Handler(), slog.LevelWarn))
	log.Debug("reading")
	log.Info("stream batch routed")
	if recs := records(t, &b); len(recs) != 2 {
		t.Fatalf("LOG_LEVEL=debug shows everything: %v", recs)
	}
}

func TestColumns(t *testing.T) {
	got := columns([][3]string{{"GraphiQL", "http://h/graphiql", "open it"}, {"Token", "make token", "note"}})
	want := []string{"GraphiQL   http://h/graphiql  open it", "Token      make token         note"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Without GraphiQL's files /graphiql says what to run, rather than a page
// that never loads.
func TestGraphiQLNotInstalled(t *testing.T) {
	_, err := graphiqlAssets("")
	if !errors.Is(err, graphqlhttp.ErrGraphiQLAssetsMissing) {
		t.Fatalf("err %v", err)
	}
	rec := httptest.NewRecorder()
	missingGraphiQL(err).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/graphiql", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "make deps") || !strings.Contains(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

// From the module (tests run in the package's directory) the npm
// packages are found when installed.
func TestFindGraphiQLAssets(t *testing.T) {
	dir := FindGraphiQLAssets()
	if _, err := os.Stat(filepath.Join("..", "..", graphqlhttp.GraphiQLNodeModules)); err != nil {
		if dir != "" {
			t.Fatalf("found %q where nothing is installed", dir)
		}
		t.Skip("GraphiQL's npm packages are not installed (make deps)")
	}
	if _, err := graphqlhttp.GraphiQLAssets(dir); err != nil {
		t.Fatalf("FindGraphiQLAssets() = %q: %v", dir, err)
	}
}

// A function binary's JSON log line becomes a record of the runtime's
// logger, attributes in order, so that it reads like the in-process
// functions' lines in either format.
func TestFunctionLog(t *testing.T) {
	var b bytes.Buffer
	f := functionLog{log: jsonLogger(&b, slog.LevelInfo), name: "validateorder"}
	lines := []string{
		`2026/05/01 14:03:07 [validateorder] {"time":"2026-05-01T14:03:07.412Z","level":"INFO","msg":"order validated","eventId":"e1","totalCents":1800,"new":{"b":2,"a":"x"},"correlationId":"c1"}`,
		`2026/05/01 14:03:07 [validateorder] {"time":"2026-05-01T14:03:07.413Z","level":"DEBUG","msg":"hidden"}`,
		`2026/05/01 14:03:07 [validateorder] START RequestId: 1 Version: $LATEST`,
	}
	for _, l := range lines {
		if _, err := f.Write([]byte(l + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	recs := records(t, &b)
	if len(recs) != 1 {
		t.Fatalf("records %v", recs)
	}
	want := `{"time":"2026-05-01T14:03:07.412Z","level":"INFO","msg":"order validated","eventId":"e1","totalCents":1800,"new":{"a":"x","b":2},"correlationId":"c1","component":"validateorder"}`
	if got := strings.TrimSpace(b.String()); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if _, ok := jsonRecord(`{"level":"LOUD","msg":"x"}`); ok {
		t.Error("a line with an unknown level read as a record")
	}
}
