package localws

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// dialLifetime opens a connection to a server with the given idle and
// maximum durations and returns it with its id; a goroutine reads it and
// reports the close on the returned channel.
func dialLifetime(t *testing.T, idle, maxLife time.Duration) (*recorder, *websocket.Conn, string, <-chan error) {
	t.Helper()
	rec, url := newServer(t, Config{InitTimeout: -1, IdleTimeout: idle, MaxLifetime: maxLife}, 0)
	ws, _, err := websocket.Dial(context.Background(), url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	id := rec.next(t, "$connect").RequestContext.ConnectionID
	closed := make(chan error, 1)
	go func() {
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				closed <- err
				return
			}
		}
	}()
	return rec, ws, id, closed
}

// wantGoingAway waits for the server's close and checks it is API
// Gateway's 1001 Going away, followed by $disconnect.
func wantGoingAway(t *testing.T, rec *recorder, closed <-chan error) {
	t.Helper()
	select {
	case err := <-closed:
		checkGoingAway(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not close the connection")
	}
	waitDisconnect(t, rec)
}

func checkGoingAway(t *testing.T, err error) {
	t.Helper()
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway || ce.Reason != ReasonGoingAway {
		t.Fatalf("closed with %v, want 1001 %q", err, ReasonGoingAway)
	}
}

// waitDisconnect waits for the $disconnect event, which is what cleans
// up the connection's subscriptions.
func waitDisconnect(t *testing.T, rec *recorder) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev := <-rec.got:
			if ev.RequestContext.RouteKey == "$disconnect" {
				if rec.srv.Connections() != 0 {
					t.Fatal("connection still registered after $disconnect")
				}
				return
			}
		case <-deadline:
			t.Fatal("no $disconnect")
		}
	}
}

// A client that sends graphql-transport-ws pings stays open well past the
// idle timeout, and is closed at idle once it stops.
func TestClientPingsKeepAConnectionOpen(t *testing.T) {
	const idle = 1500 * time.Millisecond
	rec, ws, _, closed := dialLifetime(t, idle, -1)
	ctx := context.Background()
	stop := time.Now().Add(3 * idle)
	for time.Now().Before(stop) {
		select {
		case err := <-closed:
			t.Fatalf("closed while pinging every 150ms (idle timeout %s): %v", idle, err)
		case <-time.After(150 * time.Millisecond):
		}
		if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
			t.Fatal(err)
		}
		rec.next(t, "$default")
	}
	silent := time.Now()
	wantGoingAway(t, rec, closed)
	if d := time.Since(silent); d < idle {
		t.Fatalf("closed %s after the last message, before the idle timeout %s", d, idle)
	}
}

// What API Gateway's idle timer does not count here: pushes to the client
// and WebSocket ping frames. A client that only receives is closed at idle.
func TestPushesAndPingFramesAreNotActivity(t *testing.T) {
	const idle = 800 * time.Millisecond
	rec, ws, id, closed := dialLifetime(t, idle, -1)
	e, ok := rec.srv.lookup(id)
	if !ok {
		t.Fatal("connection not registered")
	}
	ctx := context.Background()
	start := time.Now()
	var err error
	for err == nil {
		select {
		case err = <-closed:
			continue
		case <-time.After(100 * time.Millisecond):
		}
		if time.Since(start) > 3*idle {
			t.Fatalf("still open %s after connecting while only receiving (idle timeout %s)", time.Since(start), idle)
		}
		_ = e.sink.Send(ctx, []byte(`{"type":"pong"}`)) // a push; ErrClosed once closing
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		_ = ws.Ping(pctx) // a WebSocket ping frame, answered with a pong
		cancel()
	}
	checkGoingAway(t, err)
	if d := time.Since(start); d < idle {
		t.Fatalf("closed after %s, before the idle timeout %s", d, idle)
	}
	waitDisconnect(t, rec)
}

// Any connection, active or not, is closed at its maximum duration.
func TestMaxLifetimeClosesAnActiveConnection(t *testing.T) {
	const maxLife = 1500 * time.Millisecond
	rec, ws, _, closed := dialLifetime(t, time.Hour, maxLife)
	ctx := context.Background()
	opened := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ws.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)) == nil {
			time.Sleep(150 * time.Millisecond)
		}
	}()
	select {
	case err := <-closed:
		checkGoingAway(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("not closed at the maximum duration")
	}
	if d := time.Since(opened); d < maxLife {
		t.Fatalf("closed after %s, before the maximum duration %s", d, maxLife)
	}
	<-done
	waitDisconnect(t, rec)
}
