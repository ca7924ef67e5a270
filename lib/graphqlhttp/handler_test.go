package graphqlhttp_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/threefactor/framework/lib/graphqlhttp"
)

// logBuffer collects a handler's JSON log records.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// records are the log records written since offset.
func (l *logBuffer) records(t *testing.T, offset int) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.String()[offset:]), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

type fixture struct {
	handler  *graphqlhttp.Handler
	server   *httptest.Server
	resolver *resolver
	log      *logBuffer
}

// The handler configurations the table runs against.
var configs = map[string]graphqlhttp.Config{
	// prod is the zero Config: the production defaults.
	"prod": {},
	"dev": {
		Limits:   graphqlhttp.Limits{AllowIntrospection: true},
		AllowGET: true,
		Context: func(ctx context.Context, r *http.Request) context.Context {
			return context.WithValue(ctx, callerKey{}, r.Header.Get("X-Caller"))
		},
	},
	"tight": {
		Limits:       graphqlhttp.Limits{MaxQueryLength: 100, MaxDepth: 3, MaxCost: 15},
		MaxBodyBytes: 300,
		AllowGET:     true,
		Timeout:      20 * time.Millisecond,
	},
}

func newFixture(t *testing.T, name string) *fixture {
	t.Helper()
	return newFixtureWith(t, configs[name])
}

func newFixtureWith(t *testing.T, cfg graphqlhttp.Config) *fixture {
	t.Helper()
	fx := &fixture{resolver: &resolver{}, log: &logBuffer{}}
	cfg.Logger = slog.New(slog.NewJSONHandler(fx.log, nil))
	schema, err := graphqlhttp.ParseSchema(testSDL, fx.resolver, cfg.Limits)
	if err != nil {
		t.Fatal(err)
	}
	fx.handler, err = graphqlhttp.New(schema, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/graphql", fx.handler)
	fx.server = httptest.NewServer(mux)
	t.Cleanup(fx.server.Close)
	return fx
}

// request is one HTTP request of the table.
type request struct {
	method string
	query  url.Values // for GET
	body   string
	header map[string]string
}

// post is a JSON POST of a GraphQL request.
func post(query string, variables map[string]any, operationName string, header ...string) request {
	body := map[string]any{"query": query}
	if variables != nil {
		body["variables"] = variables
	}
	if operationName != "" {
		body["operationName"] = operationName
	}
	b, _ := json.Marshal(body)
	return rawPost(string(b), header...)
}

func rawPost(body string, header ...string) request {
	r := request{method: http.MethodPost, body: body, header: map[string]string{"Content-Type": "application/json"}}
	for i := 0; i+1 < len(header); i += 2 {
		r.header[header[i]] = header[i+1]
	}
	return r
}

func get(query url.Values, header ...string) request {
	r := request{method: http.MethodGet, query: query, header: map[string]string{}}
	for i := 0; i+1 < len(header); i += 2 {
		r.header[header[i]] = header[i+1]
	}
	return r
}

// response is what either transport answered.
type response struct {
	status int
	header http.Header
	body   []byte
}

// transport sends a request through the HTTP server or through
// HandleAPIGateway.
type transport func(t *testing.T, fx *fixture, req request) response

func viaHTTP(t *testing.T, fx *fixture, req request) response {
	t.Helper()
	u := fx.server.URL + "/graphql"
	if req.query != nil {
		u += "?" + req.query.Encode()
	}
	var body io.Reader
	if req.body != "" {
		body = strings.NewReader(req.body)
	}
	hr, err := http.NewRequest(req.method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range req.header {
		hr.Header.Set(k, v)
	}
	res, err := fx.server.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// viaAPIGateway builds the payload 2.0 event API Gateway would send;
// base64 sends the body base64-encoded, as API Gateway does for binary
// media types.
func viaAPIGateway(base64Body bool) transport {
	return func(t *testing.T, fx *fixture, req request) response {
		t.Helper()
		ev := events.APIGatewayV2HTTPRequest{
			Version:  "2.0",
			RouteKey: "$default",
			RawPath:  "/graphql",
			Headers:  map[string]string{"host": "api.example.com", "user-agent": "test"},
			Body:     req.body,
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				RequestID:  "gw-" + strings.ReplaceAll(t.Name(), "/", "-"),
				DomainName: "api.example.com",
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
					Method: req.method, Path: "/graphql", Protocol: "HTTP/1.1", SourceIP: "192.0.2.1",
				},
			},
		}
		if req.query != nil {
			ev.RawQueryString = req.query.Encode()
		}
		for k, v := range req.header {
			ev.Headers[strings.ToLower(k)] = v
		}
		if req.body != "" {
			ev.Headers["content-length"] = strconv.Itoa(len(req.body))
			if base64Body {
				ev.Body = base64.StdEncoding.EncodeToString([]byte(req.body))
				ev.IsBase64Encoded = true
			}
		}
		res, err := fx.handler.HandleAPIGateway(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		for k, v := range res.Headers {
			h.Set(k, v)
		}
		if got := h.Get("X-Request-Id"); got != ev.RequestContext.RequestID {
			t.Errorf("X-Request-Id = %q, want API Gateway's request id %q", got, ev.RequestContext.RequestID)
		}
		return response{status: res.StatusCode, header: h, body: []byte(res.Body)}
	}
}
