package graphqlhttp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/threefactor/framework/lib/graphqlhttp"
)

// The GraphiQL page is served on its own: it queries the endpoint it is
// given and runs nothing itself.
func TestGraphiQL(t *testing.T) {
	tokens := 0
	h, err := graphqlhttp.GraphiQL(graphqlhttp.GraphiQLConfig{
		Endpoint: "/graphql", SubscriptionsURL: "/graphql",
		Tabs: []graphqlhttp.GraphiQLTab{{Query: "query Hello { hello }", Variables: `{"a": 1}`}},
		Headers: func(context.Context) (map[string]string, error) {
			tokens++
			return map[string]string{"Authorization": fmt.Sprintf("Bearer t%d", tokens)}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func() (*http.Response, string) {
		resp, err := http.Get(srv.URL + "/graphiql?query={hello}")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	resp, body := get()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%s %v", resp.Status, resp.Header)
	}
	for _, want := range []string{
		// The pinned files from the CDN, each with its integrity.
		`src="https://cdn.jsdelivr.net/npm/graphiql@4.1.2/graphiql.min.js" integrity="sha384-`,
		`href="https://cdn.jsdelivr.net/npm/graphiql@4.1.2/graphiql.min.css" integrity="sha384-`,
		`src="https://cdn.jsdelivr.net/npm/react@18.3.1/umd/react.production.min.js" integrity="sha384-`,
		`src="https://cdn.jsdelivr.net/npm/graphql-ws@6.4.2/umd/graphql-ws.min.js" integrity="sha384-`,
		// Its configuration: the endpoint, the WebSocket, the tab, the
		// headers (as the editor's JSON text).
		`"endpoint":"/graphql"`, `"subscriptions":"/graphql"`, `"query":"query Hello { hello }"`, `"variables":"{\"a\": 1}"`,
		`\"Authorization\": \"Bearer t1\"`,
		"graphqlWs.createClient", "connectionParams",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page has no %s", want)
		}
	}
	csp := resp.Header.Get("Content-Security-Policy")
	m := regexp.MustCompile(`<script nonce="([^"]+)">`).FindStringSubmatch(body)
	if m == nil || !strings.Contains(csp, "script-src 'nonce-"+m[1]+"' https://cdn.jsdelivr.net") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q does not let the page's own script (nonce %v) and the CDN's run, or lets it be framed", csp, m)
	}
	// Each load mints its headers, with a new nonce.
	_, second := get()
	if !strings.Contains(second, `Bearer t2`) || strings.Contains(second, m[1]) {
		t.Errorf("a second load should have fresh headers and nonce")
	}

	post, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"query":"{ hello }"}`))
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != http.StatusMethodNotAllowed || post.Header.Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST: %s allow %q", post.Status, post.Header.Get("Allow"))
	}
}

// With Assets the page loads the same files from its own host: no CDN.
func TestGraphiQLLocalAssets(t *testing.T) {
	h, err := graphqlhttp.GraphiQL(graphqlhttp.GraphiQLConfig{Endpoint: "/graphql", Assets: "/graphiql/assets/"})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/graphiql", nil))
	body := rec.Body.String()
	if !strings.Contains(body, `src="/graphiql/assets/graphiql@4.1.2/graphiql.min.js"`) || strings.Contains(body, "https://") || strings.Contains(body, "integrity=") {
		t.Errorf("the page should load its files from /graphiql/assets/ only:\n%s", body)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); strings.Contains(csp, "https:") || !strings.Contains(csp, "script-src 'nonce-") {
		t.Errorf("CSP %q", csp)
	}
	// No subscriptions configured: no WebSocket allowed either.
	if !strings.Contains(body, `"headers":"{}"`) || strings.Contains(rec.Header().Get("Content-Security-Policy"), "ws:") {
		t.Errorf("headers or CSP: %s", rec.Header().Get("Content-Security-Policy"))
	}
	// A failing Headers func is a 500 that says so, not a page without
	// a token.
	h, _ = graphqlhttp.GraphiQL(graphqlhttp.GraphiQLConfig{Endpoint: "/graphql", Headers: func(context.Context) (map[string]string, error) {
		return nil, errors.New("issuer unreadable")
	}})
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/graphiql", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), "issuer unreadable") {
		t.Errorf("failing headers: %d %s", rec.Code, rec.Body)
	}
}

func TestGraphiQLConfigValidate(t *testing.T) {
	tests := []struct {
		cfg  graphqlhttp.GraphiQLConfig
		want string // part of the error; "" for none
	}{
		{graphqlhttp.GraphiQLConfig{Endpoint: "/graphql"}, ""},
		{graphqlhttp.GraphiQLConfig{Endpoint: "https://api.example.com/graphql", SubscriptionsURL: "wss://ws.example.com/prod"}, ""},
		{graphqlhttp.GraphiQLConfig{}, "no Endpoint"},
		{graphqlhttp.GraphiQLConfig{Endpoint: "ftp://x/graphql"}, "http://"},
		{graphqlhttp.GraphiQLConfig{Endpoint: `/x"<script>`}, "plain path"},
		{graphqlhttp.GraphiQLConfig{Endpoint: "/graphql", SubscriptionsURL: "https://example.com/graphql"}, "ws://"},
		{graphqlhttp.GraphiQLConfig{Endpoint: "/graphql", SubscriptionsURL: `/x"<script>`}, "plain path"},
		{graphqlhttp.GraphiQLConfig{Endpoint: "/graphql", Assets: "/graphiql/assets/"}, ""},
		{graphqlhttp.GraphiQLConfig{Endpoint: "/graphql", Assets: "https://cdn.example.com/"}, "starts and ends with /"},
		{graphqlhttp.GraphiQLConfig{Endpoint: "/graphql", Assets: "/graphiql/assets"}, "starts and ends with /"},
		{graphqlhttp.GraphiQLConfig{Endpoint: "/graphql", Tabs: []graphqlhttp.GraphiQLTab{{Query: " "}}}, "tab 1: no query"},
		{graphqlhttp.GraphiQLConfig{Endpoint: "/graphql", Tabs: []graphqlhttp.GraphiQLTab{{Query: "{ a }"}, {Query: "{ a }", Variables: "[1]"}}}, "tab 2: variables are not a JSON object"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
	}
}
