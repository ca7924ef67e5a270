package graphqlhttp

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The page loads GraphiQL, React and the graphql-ws client from a public
// CDN at pinned versions: the handler ships no JavaScript. It queries the
// endpoint it is given; a path is taken on the page's own host.
var graphiqlPage = template.Must(template.New("graphiql").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>GraphiQL</title>
<link rel="stylesheet" href="https://unpkg.com/graphiql@3.9.0/graphiql.min.css" crossorigin="anonymous">
<style>html, body, #graphiql { height: 100%; margin: 0; }</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL&hellip;</div>
<script src="https://unpkg.com/react@18.3.1/umd/react.production.min.js" crossorigin="anonymous"></script>
<script src="https://unpkg.com/react-dom@18.3.1/umd/react-dom.production.min.js" crossorigin="anonymous"></script>
<script src="https://unpkg.com/graphql-ws@5.16.2/umd/graphql-ws.min.js" crossorigin="anonymous"></script>
<script src="https://unpkg.com/graphiql@3.9.0/graphiql.min.js" crossorigin="anonymous"></script>
<script>
(function () {
  var options = {
    url: {{.Endpoint}},
    headers: { Accept: "application/graphql-response+json, application/json" }
  };
  var subscriptions = {{.SubscriptionsURL}};
  if (subscriptions) {
    if (subscriptions.charAt(0) === "/") {
      subscriptions = (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + subscriptions;
    }
    // graphql-ws speaks graphql-transport-ws, the protocol of the
    // framework's WebSocket transport.
    options.wsClient = graphqlWs.createClient({ url: subscriptions, lazy: true });
  }
  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, { fetcher: GraphiQL.createFetcher(options) })
  );
})();
</script>
</body>
</html>
`))

// GraphiQLConfig says where the GraphiQL page sends what it runs.
type GraphiQLConfig struct {
	// Endpoint is the GraphQL endpoint the page queries: a path such as
	// "/graphql" (on the page's own host) or an http(s) URL. Required.
	Endpoint string
	// SubscriptionsURL is where the page opens its graphql-transport-ws
	// WebSocket for subscriptions: a ws:// or wss:// URL, or a path taken
	// on the page's own host with ws:// or wss:// to match the page.
	// Empty: the page offers no subscriptions.
	SubscriptionsURL string
}

// Validate reports URLs the page could not use.
func (c GraphiQLConfig) Validate() error {
	if err := validEndpoint(c.Endpoint); err != nil {
		return err
	}
	if c.SubscriptionsURL != "" {
		return validSubscriptionsURL(c.SubscriptionsURL)
	}
	return nil
}

// GraphiQL serves the GraphiQL IDE page and nothing else: it runs no
// operation and holds no data, so it needs no authorization (the page's
// requests to the endpoint do). GET and HEAD only. The page is rendered
// once.
func GraphiQL(cfg GraphiQLConfig) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("graphiql: %w", err)
	}
	var b bytes.Buffer
	if err := graphiqlPage.Execute(&b, cfg); err != nil {
		return nil, fmt.Errorf("render graphiql page: %w", err)
	}
	page := b.Bytes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			hdr.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		hdr["Content-Type"] = hdrHTML
		hdr["Content-Length"] = []string{strconv.Itoa(len(page))}
		hdr["Cache-Control"] = hdrNoStore
		hdr["X-Content-Type-Options"] = hdrNoSniff
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(page)
		}
	}), nil
}

func validEndpoint(s string) error {
	if s == "" {
		return fmt.Errorf("no Endpoint")
	}
	if strings.HasPrefix(s, "/") {
		if strings.ContainsAny(s, "\"'<> \\") {
			return fmt.Errorf("endpoint %q: not a plain path", s)
		}
		return nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("endpoint %q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("endpoint %q: want an http:// or https:// URL or a path", s)
	}
	return nil
}

func validSubscriptionsURL(s string) error {
	if strings.HasPrefix(s, "/") {
		if strings.ContainsAny(s, "\"'<> \\") {
			return fmt.Errorf("SubscriptionsURL %q: not a plain path", s)
		}
		return nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("SubscriptionsURL %q: %w", s, err)
	}
	if (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return fmt.Errorf("SubscriptionsURL %q: want a ws:// or wss:// URL or a path", s)
	}
	return nil
}
