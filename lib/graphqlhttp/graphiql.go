package graphqlhttp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The page runs GraphiQL with a fetcher per set of headers: the headers
// its editor holds go with every HTTP request and, for a subscription, in
// connection_init's payload (graphql-ws's connectionParams), which is
// where the framework's WebSocket takes the token from. The inline script
// runs under a nonce; everything else the page loads is listed in its
// Content-Security-Policy.
var graphiqlPage = template.Must(template.New("graphiql").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>GraphiQL</title>
<link rel="icon" href="data:,">
{{range .Styles}}<link rel="stylesheet" href="{{.URL}}"{{if .Integrity}} integrity="{{.Integrity}}" crossorigin="anonymous"{{end}}>
{{end}}<style>html, body, #graphiql { height: 100%; margin: 0; }</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL&hellip;</div>
{{range .Scripts}}<script src="{{.URL}}"{{if .Integrity}} integrity="{{.Integrity}}" crossorigin="anonymous"{{end}}></script>
{{end}}<script nonce="{{.Nonce}}">
(function () {
  "use strict";
  var cfg = {{.Config}};
  var ws = cfg.subscriptions;
  if (ws && ws.charAt(0) === "/") {
    ws = (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + ws;
  }
  var fetchers = {};
  var initialHeaders = JSON.parse(cfg.headers);
  function fetcher(params, opts) {
    var headers = opts && opts.headers;
    if (!headers && params.operationName === "IntrospectionQuery") {
      // GraphiQL loads the schema before its headers editor exists; the
      // API wants the token for that too.
      headers = initialHeaders;
    }
    headers = headers || {};
    var key = JSON.stringify(headers);
    if (!fetchers[key]) {
      var o = { url: cfg.endpoint, headers: { Accept: "application/graphql-response+json, application/json" } };
      if (ws) {
        // graphql-ws speaks graphql-transport-ws, the protocol of the
        // framework's WebSocket; connectionParams is read at each
        // connection, so a reconnect sends the headers again.
        o.wsClient = graphqlWs.createClient({ url: ws, lazy: true, connectionParams: function () { return headers; } });
      }
      fetchers[key] = GraphiQL.createFetcher(o);
    }
    return fetchers[key](params, Object.assign({}, opts, { headers: headers }));
  }
  var props = { fetcher: fetcher, defaultHeaders: cfg.headers, defaultEditorToolsVisibility: true };
  if (cfg.tabs && cfg.tabs.length) {
    props.defaultTabs = cfg.tabs;
  }
  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(GraphiQL, props));
})();
</script>
</body>
</html>
`))

// GraphiQLConfig says where the GraphiQL page sends what it runs, where
// it loads GraphiQL from and what it opens with.
type GraphiQLConfig struct {
	// Endpoint is the GraphQL endpoint the page queries: a path such as
	// "/graphql" (on the page's own host) or an http(s) URL. Required.
	Endpoint string
	// SubscriptionsURL is where the page opens its graphql-transport-ws
	// WebSocket for subscriptions: a ws:// or wss:// URL, or a path taken
	// on the page's own host with ws:// or wss:// to match the page.
	// Empty: the page offers no subscriptions.
	SubscriptionsURL string
	// Assets is where the page loads GraphiQL, React and graphql-ws from.
	// Empty: their pinned versions from GraphiQLCDN, each with its
	// subresource integrity (what a Lambda serves: it has no
	// node_modules). A path such as "/graphiql/assets/": the same files
	// from the page's own host, where GraphiQLAssets serves them from the
	// npm packages installed (the dev runtime: no internet needed).
	Assets string
	// Tabs are the tabs a first visit opens with; after that GraphiQL
	// keeps the user's own in the browser. None: GraphiQL's default.
	Tabs []GraphiQLTab
	// Headers are the request headers every page load starts with, in
	// the headers editor (nil: none), such as a token. It is called for
	// each page load, so a token can be fresh. Headers are not kept in
	// the browser's storage: a reload starts with them again.
	Headers func(context.Context) (map[string]string, error)
}

// GraphiQLTab is a ready-made operation the page opens a tab with.
type GraphiQLTab struct {
	// Query is the operation; name it, GraphiQL titles the tab with it.
	Query string `json:"query"`
	// Variables is a JSON object, or "".
	Variables string `json:"variables,omitempty"`
}

// Validate reports URLs the page could not use and tabs whose variables
// are not a JSON object.
func (c GraphiQLConfig) Validate() error {
	if err := validEndpoint(c.Endpoint); err != nil {
		return err
	}
	if c.SubscriptionsURL != "" {
		if err := validSubscriptionsURL(c.SubscriptionsURL); err != nil {
			return err
		}
	}
	if c.Assets != "" && (!strings.HasPrefix(c.Assets, "/") || !strings.HasSuffix(c.Assets, "/") || strings.ContainsAny(c.Assets, "\"'<> \\")) {
		return fmt.Errorf("assets %q: want a path that starts and ends with /", c.Assets)
	}
	for i, t := range c.Tabs {
		if strings.TrimSpace(t.Query) == "" {
			return fmt.Errorf("tab %d: no query", i+1)
		}
		if t.Variables != "" {
			var m map[string]any
			if err := json.Unmarshal([]byte(t.Variables), &m); err != nil || m == nil {
				return fmt.Errorf("tab %d: variables are not a JSON object", i+1)
			}
		}
	}
	return nil
}

// GraphiQL serves the GraphiQL IDE page and nothing else: it runs no
// operation and holds no data, so it needs no authorization (the page's
// requests to the endpoint do). GET and HEAD only.
func GraphiQL(cfg GraphiQLConfig) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("graphiql: %w", err)
	}
	p := &graphiql{cfg: cfg}
	for _, a := range graphiqlAssets {
		ref := assetRef{URL: cfg.Assets + a.path()}
		if cfg.Assets == "" {
			ref = assetRef{URL: GraphiQLCDN + a.path(), Integrity: a.integrity}
		}
		if a.style {
			p.styles = append(p.styles, ref)
		} else {
			p.scripts = append(p.scripts, ref)
		}
	}
	p.csp = contentSecurityPolicy(cfg)
	// Render once up front: a template error shows at start, not on a
	// visit.
	if _, err := p.render("{}", newNonce()); err != nil {
		return nil, err
	}
	return p, nil
}

type graphiql struct {
	cfg             GraphiQLConfig
	styles, scripts []assetRef
	csp             string
}

type assetRef struct {
	URL       string
	Integrity string
}

// pageConfig is what the page's script reads.
type pageConfig struct {
	Endpoint      string        `json:"endpoint"`
	Subscriptions string        `json:"subscriptions,omitempty"`
	Headers       string        `json:"headers"`
	Tabs          []GraphiQLTab `json:"tabs,omitempty"`
}

// headers is the JSON text the headers editor starts with.
func (p *graphiql) headers(ctx context.Context) (string, error) {
	if p.cfg.Headers == nil {
		return "{}", nil
	}
	h, err := p.cfg.Headers(ctx)
	if err != nil {
		return "", fmt.Errorf("graphiql headers: %w", err)
	}
	b, err := json.MarshalIndent(h, "", "  ")
	return string(b), err
}

func (p *graphiql) render(headers, nonce string) ([]byte, error) {
	var b bytes.Buffer
	err := graphiqlPage.Execute(&b, map[string]any{
		"Styles": p.styles, "Scripts": p.scripts, "Nonce": nonce,
		"Config": pageConfig{Endpoint: p.cfg.Endpoint, Subscriptions: p.cfg.SubscriptionsURL, Headers: headers, Tabs: p.cfg.Tabs},
	})
	if err != nil {
		return nil, fmt.Errorf("render graphiql page: %w", err)
	}
	return b.Bytes(), nil
}

func (p *graphiql) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	nonce := newNonce()
	headers, err := p.headers(r.Context())
	var page []byte
	if err == nil {
		page, err = p.render(headers, nonce)
	}
	if err != nil {
		http.Error(w, "GraphiQL: "+err.Error(), http.StatusInternalServerError)
		return
	}
	hdr["Content-Type"] = hdrHTML
	hdr["Content-Length"] = []string{strconv.Itoa(len(page))}
	// The page can hold a token: never cached, never framed.
	hdr["Cache-Control"] = hdrNoStore
	hdr["X-Content-Type-Options"] = hdrNoSniff
	hdr["Referrer-Policy"] = []string{"no-referrer"}
	hdr["Content-Security-Policy"] = []string{strings.ReplaceAll(p.csp, "{nonce}", nonce)}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(page)
	}
}

// contentSecurityPolicy lets the page run its own script (by nonce) and
// the pinned files, and talk to the endpoint and the WebSocket only.
// GraphiQL sets inline styles, and its stylesheet embeds its fonts and
// icons as data: URLs.
func contentSecurityPolicy(cfg GraphiQLConfig) string {
	files := "'self'"
	if cfg.Assets == "" {
		files = strings.TrimSuffix(GraphiQLCDN, "npm/")
	}
	connect := []string{"'self'"}
	if u, err := url.Parse(cfg.Endpoint); err == nil && u.Host != "" {
		connect = append(connect, u.Scheme+"://"+u.Host)
	}
	if u, err := url.Parse(cfg.SubscriptionsURL); err == nil && u.Host != "" {
		connect = append(connect, u.Scheme+"://"+u.Host)
	} else if cfg.SubscriptionsURL != "" {
		// A path on the page's host: 'self' covers ws:// and wss:// of
		// the same host in current browsers; older ones want them named.
		connect = append(connect, "ws:", "wss:")
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'nonce-{nonce}' " + files,
		"style-src 'unsafe-inline' " + files,
		"img-src 'self' data:",
		"font-src data:",
		"connect-src " + strings.Join(connect, " "),
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}

func newNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
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
