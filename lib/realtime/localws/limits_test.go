package localws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/smithy-go"
	"github.com/coder/websocket"
)

// hub is a WebSocket API handler that accepts every connection and
// tells the test each connection's id; it never blocks.
type hub struct {
	connected    chan string
	disconnected chan string
	messages     atomic.Int64
}

func newHub() *hub {
	return &hub{connected: make(chan string, 1024), disconnected: make(chan string, 1024)}
}

func (h *hub) handle(_ context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	switch req.RequestContext.RouteKey {
	case "$connect":
		h.connected <- req.RequestContext.ConnectionID
		return events.APIGatewayProxyResponse{StatusCode: 200, Headers: map[string]string{"Sec-WebSocket-Protocol": "graphql-transport-ws"}}, nil
	case "$disconnect":
		h.disconnected <- req.RequestContext.ConnectionID
	default:
		h.messages.Add(1)
	}
	return events.APIGatewayProxyResponse{StatusCode: 200}, nil
}

type testServer struct {
	srv  *Server
	hub  *hub
	url  string // ws://.../graphql
	mgmt *apigatewaymanagementapi.Client
}

func startServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	h := newHub()
	cfg.Handler = h.handle
	if cfg.Credentials == nil {
		cfg.Credentials = testCreds
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/graphql", srv)
	mux.Handle("/@connections/", srv.Management())
	hs := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); hs.Close() })
	return &testServer{
		srv: srv, hub: h, url: "ws" + strings.TrimPrefix(hs.URL, "http") + "/graphql",
		mgmt: apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
			Region: "us-east-1", Credentials: testCreds, BaseEndpoint: aws.String(hs.URL), RetryMaxAttempts: 1,
		}),
	}
}

// dial opens a client socket and returns it with its connection id. A
// positive rcvbuf shrinks the client's receive buffer (SO_RCVBUF).
func (ts *testServer) dial(t *testing.T, rcvbuf int) (*websocket.Conn, string) {
	t.Helper()
	d := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		if rcvbuf <= 0 {
			return nil
		}
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf) }); err != nil {
			return err
		}
		return serr
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, ts.url, &websocket.DialOptions{
		Subprotocols: []string{"graphql-transport-ws"},
		HTTPClient:   &http.Client{Transport: &http.Transport{DialContext: d.DialContext}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = ws.CloseNow() })
	select {
	case id := <-ts.hub.connected:
		return ws, id
	case <-time.After(30 * time.Second):
		t.Fatal("no $connect")
	}
	return nil, ""
}

// post sends one frame through the Management API and returns the AWS
// error code ("" for success). It bounds the call generously: a post
// that waits on the client hits that bound and fails the test.
func (ts *testServer) post(t *testing.T, id string, data []byte) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := ts.mgmt.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(id), Data: data})
	var apiErr smithy.APIError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &apiErr):
		return apiErr.ErrorCode()
	default:
		t.Fatalf("post to %s: %v (a post must never wait on the client)", id, err)
		return ""
	}
}

// expectClose reads (and discards) until the server's close frame.
func expectClose(t *testing.T, ws *websocket.Conn, code websocket.StatusCode, reason string) (frames int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		_, _, err := ws.Read(ctx)
		if err == nil {
			frames++
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("read: %v after %d frames, want close %d", err, frames, code)
		}
		if ce.Code != code || (reason != "" && ce.Reason != reason) {
			t.Fatalf("closed with %d %q, want %d %q", ce.Code, ce.Reason, code, reason)
		}
		return frames
	}
}

// TestSlowClient: a client that stops reading (4 KB receive buffer, big
// pushes) never holds up the posts to it or anyone else's pushes; its
// send queue overflows, the post answers 429 LimitExceededException at
// once, and the client is closed with 1013 and the reason.
func TestSlowClient(t *testing.T) {
	ts := startServer(t, Config{InitTimeout: -1})
	slow, slowID := ts.dial(t, 4096)
	normal, normalID := ts.dial(t, 0)

	var got atomic.Int64
	readDone := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for {
			_, b, err := normal.Read(ctx)
			if err != nil {
				readDone <- err
				return
			}
			if string(b) != fmt.Sprintf(`{"n":%d}`, got.Load()) {
				readDone <- fmt.Errorf("frame %d is %s: out of order", got.Load(), b)
				return
			}
			got.Add(1)
		}
	}()

	big := []byte(`{"blob":"` + strings.Repeat("x", 120*1024) + `"}`)
	codes := map[string]int{}
	sent := 0
	// Pushes go out the way the fan-out sends them: in parallel, slow and
	// normal client alike. The loop stops once the slow client is gone.
	for round := 0; codes["GoneException"] == 0 && round < 2000; round++ {
		var wg sync.WaitGroup
		var slowCode string
		wg.Add(1)
		go func() { defer wg.Done(); slowCode = ts.post(t, slowID, big) }()
		if c := ts.post(t, normalID, []byte(fmt.Sprintf(`{"n":%d}`, sent))); c != "" {
			t.Fatalf("post %d to the normal client: %s", sent, c)
		}
		sent++
		wg.Wait()
		codes[slowCode]++
	}
	t.Logf("posts to the slow client: %v; to the normal one: %d", codes, sent)
	if codes["LimitExceededException"] != 1 || codes["GoneException"] != 1 || codes[""] == 0 {
		t.Fatalf("slow client posts answered %v; want some delivered, then one 429 LimitExceededException, then 410", codes)
	}
	waitFor(t, "the normal client's pushes", func() bool { return got.Load() == int64(sent) })

	// Reading again, the slow client gets what was on the wire, then 1013.
	frames := expectClose(t, slow, websocket.StatusTryAgainLater, ReasonTooSlow)
	t.Logf("the slow client read %d frames before its close frame", frames)
	if frames >= codes[""] {
		t.Fatalf("the slow client read %d frames of %d accepted: the queued ones should have been dropped", frames, codes[""])
	}
	select {
	case id := <-ts.hub.disconnected:
		if id != slowID {
			t.Fatalf("$disconnect for %s, want the slow client %s", id, slowID)
		}
	case <-time.After(time.Minute):
		t.Fatal("no $disconnect for the slow client")
	}
	// The normal client is still served.
	if c := ts.post(t, normalID, []byte(fmt.Sprintf(`{"n":%d}`, sent))); c != "" {
		t.Fatalf("post after: %s", c)
	}
	sent++
	waitFor(t, "the last push", func() bool { return got.Load() == int64(sent) })
	select {
	case err := <-readDone:
		t.Fatalf("normal client: %v", err)
	default:
	}
}

// TestWriteTimeout: a client that accepts no bytes for WriteTimeout is
// dropped, and the Management API answers 410 for it from then on.
func TestWriteTimeout(t *testing.T) {
	ts := startServer(t, Config{InitTimeout: -1, WriteTimeout: 300 * time.Millisecond, SendQueueFrames: 1 << 20, SendQueueBytes: 1 << 30})
	_, id := ts.dial(t, 4096)
	big := []byte(`{"blob":"` + strings.Repeat("x", 120*1024) + `"}`)
	deadline := time.Now().Add(time.Minute)
	for {
		code := ts.post(t, id, big)
		if code == "GoneException" {
			break
		}
		if code != "" {
			t.Fatalf("post = %s, want success until the connection is dropped, then 410", code)
		}
		if time.Now().After(deadline) {
			t.Fatal("the client that does not read was never dropped")
		}
	}
	select {
	case got := <-ts.hub.disconnected:
		if got != id {
			t.Fatalf("$disconnect for %s, want %s", got, id)
		}
	case <-time.After(time.Minute):
		t.Fatal("no $disconnect")
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("count descriptors: %v", err)
	}
	return len(ents)
}

// TestTooBigReleasesSocket: a message over 128 KiB gets 1009 and the
// server closes its end of the TCP connection: 100 such clients leave no
// descriptor behind once they are gone.
func TestTooBigReleasesSocket(t *testing.T) {
	ts := startServer(t, Config{InitTimeout: -1})
	// One connection first, so the listener, the HTTP client and the
	// runtime's pollers have their descriptors before the count.
	warm, _ := ts.dial(t, 0)
	_ = warm.Close(websocket.StatusNormalClosure, "")
	<-ts.hub.disconnected
	before := openFDs(t)

	big := make([]byte, MaxMessageBytes+1)
	for i := range 100 {
		ws, _ := ts.dial(t, 0)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := ws.Write(ctx, websocket.MessageText, big); err != nil {
			t.Fatalf("client %d: write: %v", i, err)
		}
		_, _, err := ws.Read(ctx)
		cancel()
		if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
			t.Fatalf("client %d: read = %v, want close 1009", i, err)
		}
		_ = ws.CloseNow()
	}
	for range 100 {
		select {
		case <-ts.hub.disconnected:
		case <-time.After(time.Minute):
			t.Fatal("missing $disconnect events")
		}
	}
	waitFor(t, "descriptors back to where they were", func() bool { return openFDs(t) <= before+2 })
	t.Logf("open descriptors: %d before, %d after 100 oversize messages", before, openFDs(t))
}

// TestMessageRate: a client over its message rate is closed with 1008
// and the reason; WebSocket pings count too.
func TestMessageRate(t *testing.T) {
	ts := startServer(t, Config{InitTimeout: -1, MessageRate: 5, MessageBurst: 20})
	reason := "Too many messages: over 5 a second"

	t.Run("messages", func(t *testing.T) {
		ws, _ := ts.dial(t, 0)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		before := ts.hub.messages.Load()
		for i := range 200 {
			if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
				t.Logf("write %d: %v (closed)", i, err)
				break
			}
		}
		expectClose(t, ws, websocket.StatusPolicyViolation, reason)
		if n := ts.hub.messages.Load() - before; n < 20 || n > 40 {
			t.Fatalf("%d messages reached the handler, want the burst of 20 (and the few the rate refilled)", n)
		}
	})
	t.Run("websocket pings", func(t *testing.T) {
		ws, _ := ts.dial(t, 0)
		// Ping waits for its pong; a reader must run for pongs to arrive.
		closed := make(chan error, 1)
		go func() { _, _, err := ws.Read(context.Background()); closed <- err }()
		for i := range 200 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err := ws.Ping(ctx)
			cancel()
			if err != nil {
				t.Logf("ping %d: %v", i, err)
				break
			}
		}
		select {
		case err := <-closed:
			if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
				t.Fatalf("closed with %v, want 1008", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("a ping flood was never closed")
		}
	})
	t.Run("a client within the rate stays", func(t *testing.T) {
		ws, id := ts.dial(t, 0)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for range 20 {
			if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
				t.Fatal(err)
			}
		}
		if c := ts.post(t, id, []byte(`{"type":"pong"}`)); c != "" {
			t.Fatalf("post = %s", c)
		}
		if _, b, err := ws.Read(ctx); err != nil || string(b) != `{"type":"pong"}` {
			t.Fatalf("read = %s, %v", b, err)
		}
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
