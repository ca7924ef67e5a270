package graphqlhttp_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

const (
	typeJSON = "application/json"
	typeGR   = "application/graphql-response+json"
	acceptGR = "application/graphql-response+json, application/json;q=0.9"
)

// deep is a query nesting fields n levels deep.
func deep(n int) string {
	var b strings.Builder
	b.WriteString("{ node(depth: 20) { id")
	for i := 1; i < n; i++ {
		b.WriteString(" child { id")
	}
	b.WriteString(strings.Repeat(" }", n))
	b.WriteString(" }")
	return b.String()
}

type tcase struct {
	name    string
	fixture string
	req     request
	status  int
	ctype   string // media type of the response
	body    string // exact JSON expected, when set
	codes   []string
	headers map[string]string
	check   func(t *testing.T, fx *fixture, res response, logOffset int)
}

var cases = []tcase{
	{name: "ok query", fixture: "prod", req: post("{ hello }", nil, ""),
		status: 200, ctype: typeJSON, body: `{"data":{"hello":"hello world"}}`},
	{name: "ok query graphql-response+json", fixture: "prod", req: post("{ hello }", nil, "", "Accept", acceptGR),
		status: 200, ctype: typeGR, body: `{"data":{"hello":"hello world"}}`},
	{name: "no Accept is application/json", fixture: "prod", req: post("{ hello }", nil, "", "Accept", "*/*"),
		status: 200, ctype: typeJSON, body: `{"data":{"hello":"hello world"}}`},
	{name: "variables", fixture: "prod", req: post("query Hi($n: String) { hello(name: $n) }", map[string]any{"n": "ada"}, ""),
		status: 200, ctype: typeJSON, body: `{"data":{"hello":"hello ada"}}`},
	{name: "operationName selects", fixture: "prod",
		req:    post(`query A { hello(name: "a") } query B { hello(name: "b") }`, nil, "B"),
		status: 200, ctype: typeJSON, body: `{"data":{"hello":"hello b"}}`},
	{name: "unknown operationName", fixture: "prod", req: post(`query A { hello }`, nil, "Z", "Accept", acceptGR),
		status: 400, ctype: typeGR, codes: []string{"GRAPHQL_VALIDATION_FAILED"}},
	{name: "malformed JSON", fixture: "prod", req: rawPost(`{"query": "{ hello }"`),
		status: 400, ctype: typeJSON, codes: []string{"BAD_REQUEST"}},
	{name: "malformed JSON graphql-response+json", fixture: "prod", req: rawPost(`[1,2`, "Accept", typeGR),
		status: 400, ctype: typeGR, codes: []string{"BAD_REQUEST"}},
	{name: "query not a string", fixture: "prod", req: rawPost(`{"query": 42}`),
		status: 400, ctype: typeJSON, codes: []string{"BAD_REQUEST"}},
	{name: "variables not an object", fixture: "prod", req: rawPost(`{"query": "{ hello }", "variables": [1]}`),
		status: 400, ctype: typeJSON, codes: []string{"BAD_REQUEST"}},
	{name: "missing query", fixture: "prod", req: rawPost(`{"variables": {}}`),
		status: 400, ctype: typeJSON, codes: []string{"BAD_REQUEST"}},
	{name: "parse error application/json", fixture: "prod", req: post("{ hello", nil, ""),
		status: 200, ctype: typeJSON, codes: []string{"GRAPHQL_PARSE_FAILED"}},
	{name: "parse error graphql-response+json", fixture: "prod", req: post("{ hello", nil, "", "Accept", typeGR),
		status: 400, ctype: typeGR, codes: []string{"GRAPHQL_PARSE_FAILED"}},
	{name: "validation error application/json", fixture: "prod", req: post("{ nope }", nil, ""),
		status: 200, ctype: typeJSON, codes: []string{"GRAPHQL_VALIDATION_FAILED"}},
	{name: "validation error graphql-response+json", fixture: "prod", req: post("{ nope }", nil, "", "Accept", typeGR),
		status: 400, ctype: typeGR, codes: []string{"GRAPHQL_VALIDATION_FAILED"}},
	{name: "mutation over POST", fixture: "prod", req: post(`mutation { setGreeting(text: "hi") }`, nil, ""),
		status: 200, ctype: typeJSON, body: `{"data":{"setGreeting":"hi"}}`},
	{name: "mutation over GET is 405", fixture: "dev",
		req:    get(url.Values{"query": {`mutation { setGreeting(text: "hi") }`}}),
		status: 405, ctype: typeJSON, codes: []string{"METHOD_NOT_ALLOWED"}, headers: map[string]string{"Allow": "POST"},
		check: func(t *testing.T, fx *fixture, res response, _ int) {
			if n := fx.resolver.mutations.Load(); n != 0 {
				t.Errorf("the mutation ran %d times over GET", n)
			}
		}},
	{name: "named mutation over GET is 405", fixture: "dev",
		req: get(url.Values{"query": {`query Q { hello } mutation M { setGreeting(text: "hi") }`}, "operationName": {"M"}},
			"Accept", typeGR),
		status: 405, ctype: typeGR, codes: []string{"METHOD_NOT_ALLOWED"}, headers: map[string]string{"Allow": "POST"},
		check: func(t *testing.T, fx *fixture, res response, _ int) {
			if n := fx.resolver.mutations.Load(); n != 0 {
				t.Errorf("the mutation ran %d times over GET", n)
			}
		}},
	{name: "subscription over GET is 405", fixture: "dev", req: get(url.Values{"query": {`subscription { greetings }`}}),
		status: 405, ctype: typeJSON, codes: []string{"METHOD_NOT_ALLOWED"}, headers: map[string]string{"Allow": "POST"}},
	{name: "subscription over POST", fixture: "prod", req: post(`subscription { greetings }`, nil, ""),
		status: 200, ctype: typeJSON, codes: []string{"OPERATION_NOT_SUPPORTED"}},
	{name: "query over GET", fixture: "dev", req: get(url.Values{"query": {`{ hello }`}}),
		status: 200, ctype: typeJSON, body: `{"data":{"hello":"hello world"}}`},
	{name: "query over GET with variables", fixture: "dev",
		req: get(url.Values{"query": {`query Q($n: String) { hello(name: $n) }`}, "variables": {`{"n":"bo"}`}, "operationName": {"Q"}},
			"Accept", acceptGR),
		status: 200, ctype: typeGR, body: `{"data":{"hello":"hello bo"}}`},
	{name: "GET with two operations and no name", fixture: "dev",
		req:    get(url.Values{"query": {`query A { hello } mutation B { setGreeting(text: "x") }`}}, "Accept", typeGR),
		status: 400, ctype: typeGR, codes: []string{"GRAPHQL_VALIDATION_FAILED"}},
	{name: "GET parse error", fixture: "dev", req: get(url.Values{"query": {`{ hello`}}),
		status: 200, ctype: typeJSON, codes: []string{"GRAPHQL_PARSE_FAILED"}},
	{name: "GET with malformed variables", fixture: "dev", req: get(url.Values{"query": {`{ hello }`}, "variables": {`{`}}),
		status: 400, ctype: typeJSON, codes: []string{"BAD_REQUEST"}},
	{name: "GET off by default", fixture: "prod", req: get(url.Values{"query": {`{ hello }`}}),
		status: 405, ctype: typeJSON, codes: []string{"METHOD_NOT_ALLOWED"}, headers: map[string]string{"Allow": "POST"}},
	{name: "other method", fixture: "dev", req: request{method: http.MethodPut, body: `{}`, header: map[string]string{"Content-Type": typeJSON}},
		status: 405, ctype: typeJSON, codes: []string{"METHOD_NOT_ALLOWED"}, headers: map[string]string{"Allow": "GET, POST"}},
	{name: "query too long", fixture: "tight", req: post("{ hello "+strings.Repeat(" ", 100)+"}", nil, ""),
		status: 200, ctype: typeJSON, codes: []string{"QUERY_TOO_LARGE"}},
	{name: "query too long graphql-response+json", fixture: "tight", req: post("{ hello "+strings.Repeat(" ", 100)+"}", nil, "", "Accept", typeGR),
		status: 400, ctype: typeGR, codes: []string{"QUERY_TOO_LARGE"}},
	{name: "depth at the default limit", fixture: "prod", req: post(deep(11), nil, ""), status: 200, ctype: typeJSON,
		check: func(t *testing.T, _ *fixture, res response, _ int) {
			if strings.Contains(string(res.body), "errors") {
				t.Errorf("a query 12 deep failed: %s", res.body)
			}
		}},
	{name: "too deep for the default limit", fixture: "prod", req: post(deep(12), nil, "", "Accept", typeGR),
		status: 400, ctype: typeGR, codes: []string{"QUERY_TOO_DEEP"}},
	{name: "too deep for a set limit", fixture: "tight", req: post(deep(3), nil, ""),
		status: 200, ctype: typeJSON, codes: []string{"QUERY_TOO_DEEP"}},
	{name: "body too large", fixture: "tight", req: post("{ hello }", map[string]any{"pad": strings.Repeat("x", 300)}, ""),
		status: 413, ctype: typeJSON, codes: []string{"PAYLOAD_TOO_LARGE"}},
	{name: "unsupported content type", fixture: "prod", req: request{method: http.MethodPost, body: `{ hello }`,
		header: map[string]string{"Content-Type": "application/graphql"}},
		status: 415, ctype: typeJSON, codes: []string{"UNSUPPORTED_MEDIA_TYPE"}},
	{name: "form content type", fixture: "prod", req: request{method: http.MethodPost, body: `query=%7Bhello%7D`,
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}},
		status: 415, ctype: typeJSON, codes: []string{"UNSUPPORTED_MEDIA_TYPE"}},
	{name: "non-UTF-8 charset", fixture: "prod", req: rawPost(`{"query":"{ hello }"}`, "Content-Type", "application/json; charset=latin1"),
		status: 415, ctype: typeJSON, codes: []string{"UNSUPPORTED_MEDIA_TYPE"}},
	{name: "UTF-8 charset", fixture: "prod", req: rawPost(`{"query":"{ hello }"}`, "Content-Type", "application/json; charset=UTF-8"),
		status: 200, ctype: typeJSON, body: `{"data":{"hello":"hello world"}}`},
	{name: "unacceptable Accept", fixture: "prod", req: post("{ hello }", nil, "", "Accept", "text/plain"),
		status: 406, ctype: typeJSON, codes: []string{"NOT_ACCEPTABLE"}},
	{name: "introspection allowed", fixture: "dev", req: post("{ __schema { queryType { name } } }", nil, ""),
		status: 200, ctype: typeJSON, body: `{"data":{"__schema":{"queryType":{"name":"Query"}}}}`},
	{name: "introspection disallowed", fixture: "prod", req: post("{ __schema { queryType { name } } }", nil, ""),
		status: 200, ctype: typeJSON, codes: []string{"INTROSPECTION_DISABLED"}},
	{name: "__type disallowed", fixture: "prod", req: post(`{ __type(name: "Query") { name } }`, nil, "", "Accept", typeGR),
		status: 400, ctype: typeGR, codes: []string{"INTROSPECTION_DISABLED"}},
	{name: "__typename is not introspection", fixture: "prod", req: post("{ __typename }", nil, ""),
		status: 200, ctype: typeJSON, body: `{"data":{"__typename":"Query"}}`},
	{name: "resolver error with code", fixture: "prod", req: post(`{ fail(code: "NOT_FOUND") }`, nil, ""),
		status: 200, ctype: typeJSON,
		body: `{"errors":[{"message":"order o1 cannot be paid yet","path":["fail"],"extensions":{"code":"NOT_FOUND"}}],"data":{"fail":null}}`},
	{name: "resolver plain error is internal", fixture: "prod", req: post(`{ leak hello }`, nil, ""),
		status: 200, ctype: typeJSON,
		body: `{"errors":[{"message":"internal error","path":["leak"],"extensions":{"code":"INTERNAL_SERVER_ERROR"}}],"data":{"leak":null,"hello":"hello world"}}`,
		check: func(t *testing.T, fx *fixture, res response, off int) {
			if !strings.Contains(fx.log.String()[off:], secret) {
				t.Error("the internal error's detail is not in the log")
			}
		}},
	{name: "resolver panic", fixture: "prod", req: post(`{ boom hello }`, nil, ""), status: 200, ctype: typeJSON,
		check: func(t *testing.T, fx *fixture, res response, off int) {
			var got struct {
				Errors []struct {
					Message    string
					Path       []any
					Extensions map[string]any
				}
				Data map[string]any
			}
			if err := json.Unmarshal(res.body, &got); err != nil {
				t.Fatal(err)
			}
			rid := res.header.Get("X-Request-Id")
			if len(got.Errors) != 1 || got.Errors[0].Message != "internal error" ||
				got.Errors[0].Extensions["code"] != "INTERNAL_SERVER_ERROR" || got.Errors[0].Extensions["requestId"] != rid ||
				!reflect.DeepEqual(got.Errors[0].Path, []any{"boom"}) {
				t.Errorf("errors = %+v, want one internal error at boom carrying request id %q", got.Errors, rid)
			}
			if got.Data["hello"] != "hello world" {
				t.Errorf("data = %v: the other fields must still resolve", got.Data)
			}
			for _, leak := range []string{"goroutine", "panic occurred", "nil map", ".go:"} {
				if strings.Contains(string(res.body), leak) {
					t.Errorf("body leaks %q: %s", leak, res.body)
				}
			}
			var logged bool
			for _, rec := range fx.log.records(t, off) {
				if rec["msg"] == "graphql resolver panic" && rec["requestId"] == rid &&
					strings.Contains(rec["stack"].(string), "resolver_test.go") {
					logged = true
				}
			}
			if !logged {
				t.Errorf("no panic record with request id %s and the stack in the log:\n%s", rid, fx.log.String()[off:])
			}
		}},
	{name: "timeout", fixture: "tight", req: post(`{ wait }`, nil, ""), status: 200, ctype: typeJSON,
		body: `{"errors":[{"message":"the request timed out","extensions":{"code":"TIMEOUT"}}]}`},
	{name: "timeout graphql-response+json", fixture: "tight", req: post(`{ wait }`, nil, "", "Accept", typeGR),
		status: 504, ctype: typeGR, codes: []string{"TIMEOUT"}},
	{name: "a browser with a query gets JSON", fixture: "dev",
		req:    get(url.Values{"query": {"{ hello }"}}, "Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
		status: 200, ctype: typeJSON, body: `{"data":{"hello":"hello world"}}`},
	{name: "a browser asking for HTML only gets 406 (GraphiQL is its own handler)", fixture: "dev", req: get(nil, "Accept", "text/html"),
		status: 406, ctype: typeJSON, codes: []string{"NOT_ACCEPTABLE"}},
	{name: "correlation id from the client", fixture: "prod",
		req:    post(`{ ids { correlationId } }`, nil, "", "X-Correlation-Id", "order-flow.42_a"),
		status: 200, ctype: typeJSON, body: `{"data":{"ids":{"correlationId":"order-flow.42_a"}}}`,
		headers: map[string]string{"X-Correlation-Id": "order-flow.42_a"}},
	{name: "invalid correlation id is replaced by the request id", fixture: "prod",
		req:    post(`{ ids { correlationId requestId } }`, nil, "", "X-Correlation-Id", "bad id<script>"),
		status: 200, ctype: typeJSON,
		check: func(t *testing.T, _ *fixture, res response, _ int) {
			rid := res.header.Get("X-Request-Id")
			if rid == "" || res.header.Get("X-Correlation-Id") != rid {
				t.Errorf("X-Request-Id %q, X-Correlation-Id %q: want the same id", rid, res.header.Get("X-Correlation-Id"))
			}
			want := `{"data":{"ids":{"correlationId":"` + rid + `","requestId":"` + rid + `"}}}`
			if !jsonEqual(res.body, []byte(want)) {
				t.Errorf("body = %s, want %s", res.body, want)
			}
		}},
	{name: "Context hook", fixture: "dev", req: post(`{ caller }`, nil, "", "X-Caller", "courier-7"),
		status: 200, ctype: typeJSON, body: `{"data":{"caller":"courier-7"}}`},
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// TestHandler runs the table through a real HTTP server, then through
// HandleAPIGateway with a plain and with a base64 body, and holds the
// three to the same answers.
func TestHandler(t *testing.T) {
	fixtures := map[string]*fixture{}
	for name := range configs {
		fixtures[name] = newFixture(t, name)
	}
	transports := []struct {
		name string
		do   transport
	}{
		{"http", viaHTTP},
		{"apigateway", viaAPIGateway(false)},
		{"apigateway-base64", viaAPIGateway(true)},
	}
	answers := map[string][]response{}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					fx := fixtures[tc.fixture]
					fx.resolver.mutations.Store(0)
					off := len(fx.log.String())
					res := tr.do(t, fx, tc.req)
					answers[tc.name] = append(answers[tc.name], res)
					checkResponse(t, tc, res)
					if tc.check != nil {
						tc.check(t, fx, res, off)
					}
				})
			}
		})
	}
	t.Run("same answers", func(t *testing.T) {
		for _, tc := range cases {
			rs := answers[tc.name]
			for i := 1; i < len(rs); i++ {
				a, b := rs[0], rs[i]
				if a.status != b.status || a.header.Get("Content-Type") != b.header.Get("Content-Type") ||
					a.header.Get("Allow") != b.header.Get("Allow") ||
					!bytes.Equal(withoutID(a), withoutID(b)) {
					t.Errorf("%s: %s answered %d %s %s; http answered %d %s %s", tc.name, transports[i].name,
						b.status, b.header.Get("Content-Type"), b.body, a.status, a.header.Get("Content-Type"), a.body)
				}
			}
		}
	})
}

// withoutID is a body with its request id masked: each transport has its own.
func withoutID(r response) []byte {
	return bytes.ReplaceAll(r.body, []byte(r.header.Get("X-Request-Id")), []byte("<request id>"))
}

func checkResponse(t *testing.T, tc tcase, res response) {
	t.Helper()
	if res.status != tc.status {
		t.Errorf("status = %d, want %d; body %s", res.status, tc.status, res.body)
	}
	ct := res.header.Get("Content-Type")
	if mt, _, _ := strings.Cut(ct, ";"); mt != tc.ctype {
		t.Errorf("Content-Type = %q, want %s", ct, tc.ctype)
	}
	for k, v := range tc.headers {
		if got := res.header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if res.header.Get("X-Request-Id") == "" || res.header.Get("X-Correlation-Id") == "" {
		t.Errorf("no X-Request-Id or X-Correlation-Id: %v", res.header)
	}
	if tc.body != "" && !jsonEqual(res.body, []byte(tc.body)) {
		t.Errorf("body = %s\nwant   %s", res.body, tc.body)
	}
	if tc.codes != nil {
		var got struct {
			Errors []struct {
				Message    string         `json:"message"`
				Extensions map[string]any `json:"extensions"`
			} `json:"errors"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(res.body, &got); err != nil {
			t.Fatalf("body %s: %v", res.body, err)
		}
		var codes []string
		for _, e := range got.Errors {
			if e.Message == "" {
				t.Errorf("an error without a message: %s", res.body)
			}
			c, _ := e.Extensions["code"].(string)
			codes = append(codes, c)
		}
		if !reflect.DeepEqual(codes, tc.codes) {
			t.Errorf("codes = %v, want %v; body %s", codes, tc.codes, res.body)
		}
		if res.status >= 400 && got.Data != nil {
			t.Errorf("a %d response with data: %s", res.status, res.body)
		}
	}
	if strings.Contains(string(res.body), secret) {
		t.Errorf("body leaks internal detail: %s", res.body)
	}
}
