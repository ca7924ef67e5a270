package graphqlhttp_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/threefactor/framework/lib/graphqlhttp"
)

// FuzzRequest sends arbitrary GraphQL-over-HTTP requests (a POST body, or
// a GET query string) through the Handler and holds every answer to the
// contract: no panic and no 500, a JSON body in the negotiated media
// type, every error with a message and extensions.code, no internal
// detail, and never a mutation over GET.
func FuzzRequest(f *testing.F) {
	for _, seed := range []struct {
		get        bool
		body, rawq string
	}{
		{false, `{"query":"{ hello }"}`, ""},
		{false, `{"query":"query($n: String) { hello(name: $n) }","variables":{"n":"ada"}}`, ""},
		{false, `{"query":"mutation { setGreeting(text: \"x\") }"}`, ""},
		{false, `{"query":"query($d: Int!) { node(depth: $d) { id child { id } } }","variables":{"d":2147483648}}`, ""},
		{false, `{"query":"query($in: EchoInput!) { echo(input: $in) }","variables":{"in":{"id":5,"tags":"x","kind":"C"}}}`, ""},
		{false, `{"query":"{ leak boom hello }","operationName":null,"extensions":{}}`, ""},
		{false, `{"query":"{ a0:nodes(n:1){id} a1:nodes(n:1){id} }","extensions":[1]}`, ""},
		{false, `{"query":"{ __schema { types { name } } }"}`, ""},
		{false, `{"query":42}`, ""},
		{false, `[{"query":"{ hello }"}]`, ""},
		{false, `{"query":"{ hello }","variables":"x"}`, ""},
		{false, `{"query":"\"\\400\" query { hello }"}`, ""},
		{true, "", "query=%7B+hello+%7D"},
		{true, "", "query=mutation+%7B+setGreeting(text%3A+%22x%22)+%7D"},
		{true, "", "query=query+A+%7B+hello+%7D+mutation+B+%7B+setGreeting(text%3A%22x%22)+%7D&operationName=B"},
		{true, "", "query=%7B+hello+%7D&variables=%7B%22n%22%3A1%7D&extensions=%5B%5D"},
		{true, "", "query=%zz"},
	} {
		f.Add(seed.get, seed.body, seed.rawq)
	}
	res := &resolver{}
	schema, err := graphqlhttp.ParseSchema(testSDL, res, graphqlhttp.Limits{AllowIntrospection: true})
	if err != nil {
		f.Fatal(err)
	}
	h, err := graphqlhttp.New(schema, graphqlhttp.Config{
		Limits:   graphqlhttp.Limits{AllowIntrospection: true},
		AllowGET: true,
		Timeout:  20 * time.Millisecond, // { wait } must not hold the fuzzer
		Logger:   slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, isGet bool, body, rawq string) {
		var req *http.Request
		if isGet {
			req = httptest.NewRequest(http.MethodGet, "/graphql", nil)
			req.URL.RawQuery = rawq
		} else {
			req = httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Accept", "application/graphql-response+json, application/json;q=0.9")
		before := res.mutations.Load()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if isGet && res.mutations.Load() != before {
			t.Fatalf("a mutation ran over GET: %q", rawq)
		}
		switch rec.Code {
		case 200, 400, 405, 413, 504:
		default:
			t.Fatalf("status %d for %q %q: %s", rec.Code, body, rawq, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/graphql-response+json") {
			t.Fatalf("Content-Type %q", ct)
		}
		if strings.Contains(rec.Body.String(), secret) || strings.Contains(rec.Body.String(), "goroutine") {
			t.Fatalf("internal detail in %s", rec.Body)
		}
		var out struct {
			Errors []struct {
				Message    string         `json:"message"`
				Extensions map[string]any `json:"extensions"`
			} `json:"errors"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("body is not JSON: %s", rec.Body)
		}
		if len(out.Errors) == 0 && out.Data == nil {
			t.Fatalf("neither data nor errors: %s", rec.Body)
		}
		for _, e := range out.Errors {
			if code, _ := e.Extensions["code"].(string); e.Message == "" || code == "" {
				t.Fatalf("an error without a message or code: %s", rec.Body)
			}
		}
		if rec.Code != 200 && out.Data != nil {
			t.Fatalf("a %d with data: %s", rec.Code, rec.Body)
		}
	})
}
