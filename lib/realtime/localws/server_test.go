package localws

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/coder/websocket"
)

// testCreds sign the tests' Management API calls.
var testCreds = credentials.NewStaticCredentialsProvider("AKIDLOCALTEST", "local-test-secret", "")

// recorder is a WebSocket API handler that records its events and
// echoes each message back through the server's Management API sinks.
type recorder struct {
	mu     sync.Mutex
	events []events.APIGatewayWebsocketProxyRequest
	srv    *Server
	status int
	got    chan events.APIGatewayWebsocketProxyRequest
}

func (r *recorder) handle(_ context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	r.mu.Lock()
	r.events = append(r.events, req)
	r.mu.Unlock()
	r.got <- req
	if req.RequestContext.RouteKey == "$connect" {
		if r.status != 0 {
			return events.APIGatewayProxyResponse{StatusCode: r.status, Body: "no"}, nil
		}
		return events.APIGatewayProxyResponse{StatusCode: 200, Headers: map[string]string{"Sec-WebSocket-Protocol": "graphql-transport-ws"}}, nil
	}
	return events.APIGatewayProxyResponse{StatusCode: 200}, nil
}

func newServer(t *testing.T, cfg Config, status int) (*recorder, string) {
	t.Helper()
	rec := &recorder{status: status, got: make(chan events.APIGatewayWebsocketProxyRequest, 16)}
	cfg.Handler = rec.handle
	if cfg.Credentials == nil {
		cfg.Credentials = testCreds
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec.srv = srv
	mux := http.NewServeMux()
	mux.Handle("/graphql", srv)
	mux.Handle("/@connections/", srv.Management())
	hs := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); hs.Close() })
	return rec, "ws" + strings.TrimPrefix(hs.URL, "http") + "/graphql?x=1"
}

func (r *recorder) next(t *testing.T, route string) events.APIGatewayWebsocketProxyRequest {
	t.Helper()
	select {
	case ev := <-r.got:
		if ev.RequestContext.RouteKey != route {
			t.Fatalf("got %s, want %s", ev.RequestContext.RouteKey, route)
		}
		return ev
	case <-time.After(30 * time.Second):
		t.Fatalf("no %s event", route)
	}
	return events.APIGatewayWebsocketProxyRequest{}
}

func TestEvents(t *testing.T) {
	rec, url := newServer(t, Config{InitTimeout: -1}, 0)
	ctx := context.Background()
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		Subprotocols: []string{"graphql-transport-ws"},
		HTTPHeader:   http.Header{"Authorization": {"Bearer t"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	conn := rec.next(t, "$connect")
	id := conn.RequestContext.ConnectionID
	if id == "" || conn.RequestContext.EventType != "CONNECT" || conn.Headers["Authorization"] != "Bearer t" ||
		conn.QueryStringParameters["x"] != "1" || conn.RequestContext.Stage != "local" || conn.RequestContext.ConnectedAt == 0 {
		t.Fatalf("$connect event = %+v", conn)
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	msg := rec.next(t, "$default")
	if msg.Body != `{"type":"ping"}` || msg.RequestContext.ConnectionID != id || msg.RequestContext.EventType != "MESSAGE" {
		t.Fatalf("$default event = %+v", msg)
	}
	if err := ws.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	if d := rec.next(t, "$disconnect"); d.RequestContext.ConnectionID != id {
		t.Fatalf("$disconnect for %s, want %s", d.RequestContext.ConnectionID, id)
	}
	if rec.srv.Connections() != 0 {
		t.Fatalf("%d connections left", rec.srv.Connections())
	}
}

func TestConnectRefused(t *testing.T) {
	rec, url := newServer(t, Config{}, http.StatusForbidden)
	_, resp, err := websocket.Dial(context.Background(), url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("dial = %v, %v; want 403", resp, err)
	}
	rec.next(t, "$connect")
	if rec.srv.Connections() != 0 {
		t.Fatal("a refused connection was registered")
	}
}

func TestIdleTimeout(t *testing.T) {
	rec, url := newServer(t, Config{InitTimeout: -1, IdleTimeout: 200 * time.Millisecond}, 0)
	ws, _, err := websocket.Dial(context.Background(), url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	rec.next(t, "$connect")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _, err = ws.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway {
		t.Fatalf("read = %v, want the server to close an idle connection with 1001", err)
	}
	rec.next(t, "$disconnect")
}

func TestConfigDefaults(t *testing.T) {
	if _, err := New(Config{Credentials: testCreds}); err == nil {
		t.Fatal("New without a handler succeeded")
	}
	if _, err := New(Config{Handler: (&recorder{}).handle}); err == nil {
		t.Fatal("New without Management API credentials succeeded")
	}
	s, err := New(Config{Handler: (&recorder{}).handle, Credentials: testCreds})
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.InitTimeout != DefaultInitTimeout || s.cfg.IdleTimeout != DefaultIdleTimeout || s.cfg.MaxLifetime != DefaultMaxLifetime ||
		s.cfg.SendQueueFrames != DefaultSendQueueFrames || s.cfg.SendQueueBytes != DefaultSendQueueBytes || s.cfg.WriteTimeout != DefaultWriteTimeout ||
		s.cfg.MessageRate != DefaultMessageRate || s.cfg.MessageBurst != DefaultMessageBurst {
		t.Fatalf("defaults = %+v", s.cfg)
	}
}
