package graphqlhttp_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/threefactor/framework/lib/graphqlhttp"
)

// The GraphiQL page is served on its own: it queries the endpoint it is
// given and runs nothing itself.
func TestGraphiQL(t *testing.T) {
	h, err := graphqlhttp.GraphiQL(graphqlhttp.GraphiQLConfig{Endpoint: "/graphql", SubscriptionsURL: "/graphql"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/graphiql?query={hello}")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%s %v", resp.Status, resp.Header)
	}
	for _, want := range []string{"graphiql.min.js", `url: "/graphql"`, "graphqlWs.createClient", `var subscriptions = "/graphql"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the page has no %q", want)
		}
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
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
	}
}
