package graphqlhttp_test

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	graphql "github.com/graph-gophers/graphql-go"
	"github.com/threefactor/framework/lib/graphqlhttp"
)

const (
	typeJSON = "application/json"
	typeGR   = "application/graphql-response+json"
	acceptGR = "application/graphql-response+json, application/json;q=0.9"
)

// aliases is a query selecting sel n times under aliases a0, a1...
func aliases(n int, sel string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, " a%d:%s", i, sel)
	}
	b.WriteString(" }")
	return b.String()
}

// introspectionQuery is graphql-js's getIntrospectionQuery({descriptions:
// true, specifiedByUrl: true, inputValueDeprecation: true}), from the npm
// package graphql 16.15.0: what GraphiQL and the Apollo and mobile code
// generators send, with the options graph-gophers/graphql-go supports.
//
//go:embed testdata/introspection.graphql
var introspectionQuery string

// noErrors checks a response has data and no errors.
func noErrors(t *testing.T, _ *fixture, res response, _ int) {
	var got struct {
		Errors []any
		Data   map[string]any
	}
	if err := json.Unmarshal(res.body, &got); err != nil || len(got.Errors) > 0 || got.Data == nil {
		t.Errorf("want data and no errors: %s", res.body)
	}
}

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
		body: `{"errors":[{"message":"internal error","path":["leak"],"extensions":{"code":"INTERNAL_SERVER_ERROR","requestId":"<request id>"}}],"data":{"leak":null,"hello":"hello world"}}`,
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

	// The cost limit: a list field weighs ListSize (10) times what it
	// selects; aliases count; nothing runs when it is over.
	{name: "cost at the limit", fixture: "prod", req: post(aliases(100, "nodes(n:1){id}"), nil, ""),
		status: 200, ctype: typeJSON, check: noErrors},
	{name: "cost over the limit", fixture: "prod", req: post(aliases(101, "nodes(n:1){id}"), nil, "", "Accept", typeGR),
		status: 400, ctype: typeGR,
		body: `{"errors":[{"message":"the query's estimated cost is 1010, more than the 1000 allowed","extensions":{"code":"QUERY_TOO_COMPLEX","cost":1010,"maxCost":1000}}]}`},
	{name: "450 aliased list fields run nothing", fixture: "prod", req: post(aliases(450, "nodes(n:1){id}"), nil, ""),
		status: 200, ctype: typeJSON, codes: []string{"QUERY_TOO_COMPLEX"},
		check: func(t *testing.T, fx *fixture, _ response, _ int) {
			if n := fx.resolver.lists.Load(); n != 0 {
				t.Errorf("the list resolver ran %d times", n)
			}
		}},
	{name: "cost of nested lists and fragments", fixture: "prod",
		req:    post(`{ ...F ...F } fragment F on Query { x: nodes(n: 1) { child { id } } y: nodes(n: 1) { id } }`, nil, "", "Accept", typeGR),
		status: 200, ctype: typeGR, check: noErrors},
	{name: "cost limit set lower", fixture: "tight", req: post(`{ nodes(n: 1) { child { id } } }`, nil, "", "Accept", typeGR),
		status: 400, ctype: typeGR,
		body: `{"errors":[{"message":"the query's estimated cost is 20, more than the 15 allowed","extensions":{"code":"QUERY_TOO_COMPLEX","cost":20,"maxCost":15}}]}`},

	// Introspection is exempt from the depth and cost limits when it is
	// allowed: graphql-js's introspection query, which GraphiQL and the
	// Apollo and mobile code generators send, nests 15 deep.
	{name: "graphql-js introspection query", fixture: "dev", req: post(introspectionQuery, nil, "IntrospectionQuery"),
		status: 200, ctype: typeJSON, check: fullSchema},
	{name: "graphql-js introspection query disabled", fixture: "prod", req: post(introspectionQuery, nil, "IntrospectionQuery", "Accept", typeGR),
		status: 400, ctype: typeGR, body: `{"errors":[{"message":"introspection is disabled","extensions":{"code":"INTROSPECTION_DISABLED"}}]}`},
	{name: "introspection nesting four lists", fixture: "dev",
		req:    post(`{ __schema { types { fields { type { fields { args { name } } } } } } }`, nil, "", "Accept", typeGR),
		status: 400, ctype: typeGR, codes: []string{"QUERY_TOO_DEEP"}},
	{name: "introspection does not lift the limits of data", fixture: "dev",
		req:    post(`{ __schema { queryType { name } } `+deep(12)[1:], nil, "", "Accept", typeGR),
		status: 400, ctype: typeGR, codes: []string{"QUERY_TOO_DEEP"}},

	// Variables are coerced to their declared types before anything runs:
	// what does not coerce is the client's error, BAD_USER_INPUT.
	{name: "Int variable out of range", fixture: "prod",
		req:    post(`query($d: Int!) { node(depth: $d) { id } }`, map[string]any{"d": 2147483648}, ""),
		status: 200, ctype: typeJSON,
		body: `{"errors":[{"message":"Variable \"$d\" got invalid value 2147483648; Int cannot represent non 32-bit signed integer value: 2147483648","locations":[{"line":1,"column":7}],"extensions":{"code":"BAD_USER_INPUT"}}]}`},
	{name: "Int variable not integral", fixture: "prod",
		req:    post(`query($d: Int!) { node(depth: $d) { id } }`, map[string]any{"d": 1.5}, "", "Accept", typeGR),
		status: 400, ctype: typeGR,
		body: `{"errors":[{"message":"Variable \"$d\" got invalid value 1.5; Int cannot represent non-integer value: 1.5","locations":[{"line":1,"column":7}],"extensions":{"code":"BAD_USER_INPUT"}}]}`},
	{name: "Int variable as a string", fixture: "prod",
		req:    post(`query($d: Int!) { node(depth: $d) { id } }`, map[string]any{"d": "2"}, ""),
		status: 200, ctype: typeJSON,
		body: `{"errors":[{"message":"Variable \"$d\" got invalid value \"2\"; Int cannot represent non-integer value: \"2\"","locations":[{"line":1,"column":7}],"extensions":{"code":"BAD_USER_INPUT"}}]}`},
	{name: "required variable null", fixture: "prod",
		req:    post(`query($d: Int!) { node(depth: $d) { id } }`, map[string]any{"d": nil}, ""),
		status: 200, ctype: typeJSON,
		body: `{"errors":[{"message":"Variable \"$d\" of non-null type \"Int!\" must not be null.","locations":[{"line":1,"column":7}],"extensions":{"code":"BAD_USER_INPUT"}}]}`},
	{name: "required variable missing", fixture: "prod",
		req:    post(`query($d: Int!) { node(depth: $d) { id } }`, nil, ""),
		status: 200, ctype: typeJSON,
		body: `{"errors":[{"message":"Variable \"$d\" of required type \"Int!\" was not provided.","locations":[{"line":1,"column":7}],"extensions":{"code":"BAD_USER_INPUT"}}]}`},
	{name: "input object coerced", fixture: "prod",
		req: post(`query($in: EchoInput!) { echo(input: $in) }`,
			map[string]any{"in": map[string]any{"id": 5, "n": 3, "f": 2, "on": true, "tags": "one", "kind": "B"}}, ""),
		status: 200, ctype: typeJSON,
		body: `{"data":{"echo":"{\"ID\":\"5\",\"N\":3,\"F\":2,\"On\":true,\"Tags\":[\"one\"],\"Kind\":\"B\"}"}}`},
	{name: "input object field not integral", fixture: "prod",
		req:    post(`query($in: EchoInput!) { echo(input: $in) }`, map[string]any{"in": map[string]any{"id": "a", "n": 1.5}}, ""),
		status: 200, ctype: typeJSON,
		body: `{"errors":[{"message":"Variable \"$in\" got invalid value 1.5 at \"in.n\"; Int cannot represent non-integer value: 1.5","locations":[{"line":1,"column":7}],"extensions":{"code":"BAD_USER_INPUT"}}]}`},
	{name: "input object unknown field", fixture: "prod",
		req:    post(`query($in: EchoInput!) { echo(input: $in) }`, map[string]any{"in": map[string]any{"id": "a", "x": 1}}, ""),
		status: 200, ctype: typeJSON,
		body: `{"errors":[{"message":"Variable \"$in\" got invalid value {\"id\":\"a\",\"x\":1}; Field \"x\" is not defined by type \"EchoInput\".","locations":[{"line":1,"column":7}],"extensions":{"code":"BAD_USER_INPUT"}}]}`},
	{name: "input object without a required field", fixture: "prod",
		req:    post(`query($in: EchoInput!) { echo(input: $in) }`, map[string]any{"in": map[string]any{"n": 1}}, ""),
		status: 200, ctype: typeJSON,
		body: `{"errors":[{"message":"Variable \"$in\" got invalid value {\"n\":1}; Field \"id\" of required type \"ID!\" was not provided.","locations":[{"line":1,"column":7}],"extensions":{"code":"BAD_USER_INPUT"}}]}`},
	{name: "enum variable not a value", fixture: "prod",
		req:    post(`query($in: EchoInput!) { echo(input: $in) }`, map[string]any{"in": map[string]any{"id": "a", "kind": "C"}}, ""),
		status: 200, ctype: typeJSON,
		body: `{"errors":[{"message":"Variable \"$in\" got invalid value \"C\" at \"in.kind\"; Value \"C\" does not exist in \"Kind\" enum.","locations":[{"line":1,"column":7}],"extensions":{"code":"BAD_USER_INPUT"}}]}`},
	{name: "list item of the wrong type", fixture: "prod",
		req:    post(`query($in: EchoInput!) { echo(input: $in) }`, map[string]any{"in": map[string]any{"id": "a", "tags": []any{"x", 2}}}, ""),
		status: 200, ctype: typeJSON,
		body: `{"errors":[{"message":"Variable \"$in\" got invalid value 2 at \"in.tags[1]\"; String cannot represent a non string value: 2","locations":[{"line":1,"column":7}],"extensions":{"code":"BAD_USER_INPUT"}}]}`},
	{name: "ID variable as a number", fixture: "prod", req: post(`query($id: ID!) { echoId(id: $id) }`, map[string]any{"id": 42}, ""),
		status: 200, ctype: typeJSON, body: `{"data":{"echoId":"42"}}`},
	{name: "ID variable not integral", fixture: "prod", req: post(`query($id: ID!) { echoId(id: $id) }`, map[string]any{"id": 4.2}, ""),
		status: 200, ctype: typeJSON, codes: []string{"BAD_USER_INPUT"}},
	{name: "every bad variable reported", fixture: "prod",
		req:    post(`query($a: Boolean, $b: Float, $c: String) { hello }`, map[string]any{"a": "yes", "b": "x", "c": 1}, ""),
		status: 200, ctype: typeJSON, codes: []string{"BAD_USER_INPUT", "BAD_USER_INPUT", "BAD_USER_INPUT"}},

	// Literals graphql-go parses but would panic decoding.
	{name: "Int literal with separators", fixture: "prod", req: post(`{ node(depth: 1_000) { id } }`, nil, ""),
		status: 200, ctype: typeJSON, codes: []string{"GRAPHQL_VALIDATION_FAILED"}},
	{name: "string literal with an octal escape over 255", fixture: "prod", req: post(`{ hello(name: "\400") }`, nil, ""),
		status: 200, ctype: typeJSON, codes: []string{"GRAPHQL_VALIDATION_FAILED"}},
	{name: "description graphql-go cannot decode", fixture: "prod", req: post(`"\400" query { hello }`, nil, ""),
		status: 200, ctype: typeJSON, codes: []string{"GRAPHQL_PARSE_FAILED"}},
	{name: "literal out of 32 bits", fixture: "prod", req: post(`{ node(depth: 3000000000) { id } }`, nil, ""),
		status: 200, ctype: typeJSON, codes: []string{"GRAPHQL_VALIDATION_FAILED"}},
	{name: "syntax error with its location", fixture: "prod", req: post("{\n  hello(", nil, ""),
		status: 200, ctype: typeJSON,
		body: `{"errors":[{"message":"syntax error: unexpected \"\", expecting Name","locations":[{"line":2,"column":9}],"extensions":{"code":"GRAPHQL_PARSE_FAILED"}}]}`},

	// graphql-go's own errors at a field are server bugs: masked, logged.
	{name: "null in a non-null field", fixture: "prod", req: post(`{ lost { id } }`, nil, ""),
		status: 200, ctype: typeJSON,
		body: `{"errors":[{"message":"internal error","path":["lost"],"extensions":{"code":"INTERNAL_SERVER_ERROR","requestId":"<request id>"}}],"data":null}`,
		check: func(t *testing.T, fx *fixture, _ response, off int) {
			if !strings.Contains(fx.log.String()[off:], "got nil for non-null") {
				t.Error("the error's detail is not in the log")
			}
		}},
}

// fullSchema checks an answer to the introspection query describes the
// whole schema.
func fullSchema(t *testing.T, _ *fixture, res response, _ int) {
	var got struct {
		Errors []any
		Data   struct {
			Schema struct {
				QueryType struct{ Name string }
				Types     []struct {
					Kind, Name  string
					Fields      []struct{ Name string }
					InputFields []struct{ Name string }
					EnumValues  []struct{ Name string }
				}
				Directives []struct{ Name string }
			} `json:"__schema"`
		}
	}
	if err := json.Unmarshal(res.body, &got); err != nil || len(got.Errors) > 0 {
		t.Fatalf("errors or no JSON (%v): %.500s", err, res.body)
	}
	s := got.Data.Schema
	types := map[string]int{}
	for _, typ := range s.Types {
		types[typ.Name] = len(typ.Fields) + len(typ.InputFields) + len(typ.EnumValues)
	}
	if s.QueryType.Name != "Query" || types["Query"] < 12 || types["EchoInput"] != 6 || types["Kind"] != 2 ||
		types["__Type"] == 0 || len(s.Directives) < 3 {
		t.Errorf("incomplete schema: query type %q, types %v, %d directives", s.QueryType.Name, types, len(s.Directives))
	}
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
					fx.resolver.lists.Store(0)
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
	if want := strings.ReplaceAll(tc.body, "<request id>", res.header.Get("X-Request-Id")); tc.body != "" && !jsonEqual(res.body, []byte(want)) {
		t.Errorf("body = %s\nwant   %s", res.body, want)
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

// TestIntrospectionQueryIsDeeperThanTheDepthLimit shows what the
// exemption is for: counting every field, as graphql-go's own MaxDepth
// does, graphql-js's introspection query is deeper than the default limit.
func TestIntrospectionQueryIsDeeperThanTheDepthLimit(t *testing.T) {
	s := graphql.MustParseSchema(testSDL, nil, graphql.MaxDepth(graphqlhttp.DefaultMaxDepth))
	errs := s.Validate(introspectionQuery)
	if len(errs) == 0 || errs[0].Rule != "MaxDepthExceeded" {
		t.Fatalf("graphql-go's depth check passes the introspection query: %v", errs)
	}
}
