package devruntime

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/threefactor/framework/lib/emulator/emulatortest"
)

// TestHTTPTimeouts: a request whose body stalls and a keep-alive
// connection left idle are closed by the server after HTTPReadTimeout and
// HTTPIdleTimeout; a WebSocket connection, hijacked from the server, lives
// on past both.
func TestHTTPTimeouts(t *testing.T) {
	const timeout = 300 * time.Millisecond
	rt, err := New(Config{
		AWS: emulatortest.Config(t), Topology: testTopology(fmt.Sprintf("dvtimeouts%d", os.Getpid()%10000)), Addr: "127.0.0.1:0",
		Logger: testLogger(t), Out: io.Discard, ShutdownTimeout: 5 * time.Second,
		HTTPReadTimeout: timeout, HTTPIdleTimeout: timeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Provision(context.Background()); err != nil {
		t.Fatal(err)
	}
	rt.Handle("/echo", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestTimeout)
			return
		}
		fmt.Fprintf(w, "%d bytes", len(b))
	}))
	rt.HandleWebSocket("/ws", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		for {
			typ, b, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			if err := ws.Write(context.Background(), typ, b); err != nil {
				return
			}
		}
	}))
	run(t, rt)
	addr := rt.Addr()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	echo := func(msg string) {
		t.Helper()
		if err := ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatalf("websocket write %q: %v", msg, err)
		}
		if _, b, err := ws.Read(ctx); err != nil || string(b) != msg {
			t.Fatalf("websocket read = %q, %v; want %q", b, err, msg)
		}
	}
	echo("before")

	// closedByServer reads until the server ends the connection; the
	// client's own deadline is far beyond the server's timeouts.
	closedByServer := func(c net.Conn, what string) string {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		got, err := io.ReadAll(c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s: the server kept the connection open (read %q)", what, got)
		}
		return string(got)
	}

	stalled, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	fmt.Fprintf(stalled, "POST /echo HTTP/1.1\r\nHost: %s\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\nonly the first bytes", addr)
	got := closedByServer(stalled, "stalled body")
	if strings.Contains(got, "bytes") && !strings.Contains(got, "408") {
		t.Fatalf("stalled body answered %q", got)
	}

	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	fmt.Fprintf(idle, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz = %v, %v", resp, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if rest := closedByServer(idle, "idle keep-alive"); rest != "" {
		t.Fatalf("idle connection got %q", rest)
	}

	// Both timeouts have passed since the socket opened: it still works.
	echo("after")
}
