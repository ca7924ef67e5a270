package realtime_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/realtime/wsproto"
)

// wsCase is one operation sent over a real WebSocket and what must come
// back: the message type (next, then complete; or error) and its payload
// as JSON, where <request id> stands for the id every internal error
// carries (the message's correlation id).
type wsCase struct {
	name    string
	payload map[string]any
	typ     string
	want    string
	codes   []string // when want is empty: the codes, in order
}

func aliasQuery(n int, sel string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, " a%d:%s", i, sel)
	}
	b.WriteString(" }")
	return b.String()
}

func deepQuery(n int) string {
	return "{ items(n: 1) { id" + strings.Repeat(" next { id", n-1) + strings.Repeat(" }", n-1) + " } }"
}

var wsCases = []wsCase{
	{name: "internal resolver error is masked", payload: map[string]any{"query": "{ leak whoami }"},
		typ:  wsproto.Next,
		want: `{"errors":[{"message":"internal error","path":["leak"],"extensions":{"code":"INTERNAL_SERVER_ERROR","requestId":"<request id>"}}],"data":{"leak":null,"whoami":"ann"}}`},
	{name: "Int variable out of range", payload: map[string]any{"query": "mutation($n: Int!) { bump(n: $n) }", "variables": map[string]any{"n": 2147483648}},
		typ:  wsproto.Error,
		want: `[{"message":"Variable \"$n\" got invalid value 2147483648; Int cannot represent non 32-bit signed integer value: 2147483648","locations":[{"line":1,"column":10}],"extensions":{"code":"BAD_USER_INPUT"}}]`},
	{name: "Int variable not integral", payload: map[string]any{"query": "mutation($n: Int!) { bump(n: $n) }", "variables": map[string]any{"n": 1.5}},
		typ:  wsproto.Error,
		want: `[{"message":"Variable \"$n\" got invalid value 1.5; Int cannot represent non-integer value: 1.5","locations":[{"line":1,"column":10}],"extensions":{"code":"BAD_USER_INPUT"}}]`},
	{name: "Int variable as a string", payload: map[string]any{"query": "mutation($n: Int!) { bump(n: $n) }", "variables": map[string]any{"n": "2"}},
		typ:  wsproto.Error,
		want: `[{"message":"Variable \"$n\" got invalid value \"2\"; Int cannot represent non-integer value: \"2\"","locations":[{"line":1,"column":10}],"extensions":{"code":"BAD_USER_INPUT"}}]`},
	{name: "syntax error", payload: map[string]any{"query": "{ whoami "},
		typ:  wsproto.Error,
		want: `[{"message":"syntax error: unexpected \"\", expecting Name","locations":[{"line":1,"column":10}],"extensions":{"code":"GRAPHQL_PARSE_FAILED"}}]`},
	{name: "unknown field", payload: map[string]any{"query": "{ nope }"}, typ: wsproto.Error, codes: []string{"GRAPHQL_VALIDATION_FAILED"}},
	{name: "unknown operation name", payload: map[string]any{"query": "query A { whoami }", "operationName": "B"},
		typ: wsproto.Error, want: `[{"message":"no operation named \"B\"","extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]`},
	{name: "too costly", payload: map[string]any{"query": aliasQuery(101, "items(n:1){id}")},
		typ:  wsproto.Error,
		want: `[{"message":"the query's estimated cost is 1010, more than the 1000 allowed","extensions":{"code":"QUERY_TOO_COMPLEX","cost":1010,"maxCost":1000}}]`},
	{name: "too deep", payload: map[string]any{"query": deepQuery(13)}, typ: wsproto.Error, codes: []string{"QUERY_TOO_DEEP"}},
	{name: "too deep a subscription", payload: map[string]any{"query": "subscription { itemChanged(id: \"d\") { id" + strings.Repeat(" next { id", 12) + strings.Repeat(" }", 12) + " } }"},
		typ: wsproto.Error, codes: []string{"QUERY_TOO_DEEP"}},
	{name: "introspection disabled", payload: map[string]any{"query": "{ __schema { queryType { name } } }"},
		typ: wsproto.Error, want: `[{"message":"introspection is disabled","extensions":{"code":"INTROSPECTION_DISABLED"}}]`},
	{name: "literal graphql-go cannot decode", payload: map[string]any{"query": "mutation { bump(n: 1_000) }"},
		typ: wsproto.Error, codes: []string{"GRAPHQL_VALIDATION_FAILED"}},
	{name: "subscription argument refused by the app", payload: map[string]any{"query": "subscription { itemChanged(id: \"\") { id } }"},
		typ:  wsproto.Error,
		want: `[{"message":"id must not be empty","path":["itemChanged"],"extensions":{"code":"BAD_USER_INPUT"}}]`},
	{name: "app failure choosing the topic is masked", payload: map[string]any{"query": "subscription { itemChanged(id: \"boom\") { id } }"},
		typ:  wsproto.Error,
		want: `[{"message":"internal error","path":["itemChanged"],"extensions":{"code":"INTERNAL_SERVER_ERROR","requestId":"<request id>"}}]`},
	{name: "subscription of two root fields", payload: map[string]any{"query": "subscription { a: itemChanged(id: \"1\") { id } b: itemChanged(id: \"2\") { id } }"},
		typ:  wsproto.Error,
		want: `[{"message":"Anonymous Subscription must select only one top level field.","locations":[{"line":1,"column":47}],"extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]`},
	{name: "subscription ID variable of the wrong type", payload: map[string]any{"query": "subscription($id: ID!) { itemChanged(id: $id) { id } }", "variables": map[string]any{"id": true}},
		typ:  wsproto.Error,
		want: `[{"message":"Variable \"$id\" got invalid value true; ID cannot represent value: true","locations":[{"line":1,"column":14}],"extensions":{"code":"BAD_USER_INPUT"}}]`},
}

// TestOperationErrors runs the table over a real WebSocket, through the
// local front door, against the handler with its store on the emulator:
// every error a client sees carries extensions.code, bad input is the
// client's error, and no internal detail gets out.
func TestOperationErrors(t *testing.T) {
	s := newStack(t, time.Minute)
	c := s.connect(t)
	for i, tc := range wsCases {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			id := fmt.Sprintf("op%d", i)
			msg, _ := json.Marshal(map[string]any{"id": id, "type": "subscribe", "payload": tc.payload})
			c.send(string(msg))
			m := c.read()
			if m.Type != tc.typ || m.ID != id {
				t.Fatalf("got %s %s %s, want a %s message", m.Type, m.ID, m.Payload, tc.typ)
			}
			checkPayload(t, m.Payload, tc)
			if m.Type == wsproto.Next {
				if m := c.read(); m.Type != wsproto.Complete || m.ID != id {
					t.Fatalf("got %+v, want complete", m)
				}
			}
		})
	}
	c.t = t
	c.send(`{"type":"ping"}`)
	if m := c.read(); m.Type != wsproto.Pong {
		t.Fatalf("the connection is unusable after the errors: %+v", m)
	}
}

func checkPayload(t *testing.T, payload json.RawMessage, tc wsCase) {
	t.Helper()
	if strings.Contains(string(payload), "DynamoDB") || strings.Contains(string(payload), "RequestID") {
		t.Fatalf("internal detail reached the client: %s", payload)
	}
	var errs []wsproto.Err
	if tc.typ == wsproto.Error {
		if err := json.Unmarshal(payload, &errs); err != nil {
			t.Fatalf("error payload %s: %v", payload, err)
		}
	} else {
		var r struct{ Errors []wsproto.Err }
		if err := json.Unmarshal(payload, &r); err != nil {
			t.Fatalf("payload %s: %v", payload, err)
		}
		errs = r.Errors
	}
	rid := ""
	var codes []string
	for _, e := range errs {
		code, _ := e.Extensions["code"].(string)
		if e.Message == "" || code == "" {
			t.Errorf("an error without a message or code: %s", payload)
		}
		codes = append(codes, code)
		if code == "INTERNAL_SERVER_ERROR" {
			rid, _ = e.Extensions["requestId"].(string)
			if !correlation.Valid(rid) {
				t.Errorf("an internal error without a request id: %s", payload)
			}
		}
	}
	if tc.want != "" {
		want := strings.ReplaceAll(tc.want, "<request id>", rid)
		if !jsonEqual(payload, []byte(want)) {
			t.Errorf("payload %s\nwant    %s", payload, want)
		}
		return
	}
	if fmt.Sprint(codes) != fmt.Sprint(tc.codes) {
		t.Errorf("codes %v, want %v: %s", codes, tc.codes, payload)
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

// TestOperationTimeout: a query over the socket gets the execution
// timeout a query over HTTP gets, and the client a TIMEOUT error.
func TestOperationTimeout(t *testing.T) {
	s := newStack(t, time.Minute, func(c *realtime.Config) { c.Timeout = 100 * time.Millisecond })
	c := s.connect(t)
	c.send(`{"id":"w","type":"subscribe","payload":{"query":"{ wait }"}}`)
	m := c.read()
	if m.Type != wsproto.Error || m.ID != "w" || !jsonEqual(m.Payload, []byte(`[{"message":"the request timed out","extensions":{"code":"TIMEOUT"}}]`)) {
		t.Fatalf("got %s %s %s", m.Type, m.ID, m.Payload)
	}
}

// TestSubscriptionVariablesCoerced: a subscription is stored with its
// variables coerced (an ID given as a number is its string), so the
// topic and every later run of the operation see the same value.
func TestSubscriptionVariablesCoerced(t *testing.T) {
	s := newStack(t, time.Minute)
	c := s.connect(t)
	c.send(`{"id":"n","type":"subscribe","payload":{"query":"subscription($id: ID!) { itemChanged(id: $id) { id } }","variables":{"id":42}}}`)
	c.send(`{"type":"ping"}`)
	if m := c.read(); m.Type != wsproto.Pong {
		t.Fatalf("got %s %s", m.Type, m.Payload)
	}
	subs, err := s.store.SubscriptionsFor(t.Context(), "item:42")
	if err != nil || len(subs) != 1 || subs[0].Variables["id"] != "42" {
		t.Fatalf("stored %+v, %v", subs, err)
	}
}
