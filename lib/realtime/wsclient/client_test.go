package wsclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/threefactor/framework/lib/realtime/wsclient"
	"github.com/threefactor/framework/lib/realtime/wsproto"
)

// server is a scripted graphql-transport-ws peer: script runs with the
// accepted socket after the client's connection_init arrived, which it is
// given. (The real server, locally and on AWS, is lib/realtime's: the
// threefactor subscribe tests and tests/ run this client against it.)
func server(t *testing.T, script func(ctx context.Context, ws *websocket.Conn, init map[string]any)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{wsproto.Subprotocol}})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := r.Context()
		var init map[string]any
		if err := readJSON(ctx, ws, &init); err != nil || init["type"] != wsproto.ConnectionInit {
			_ = ws.Close(wsproto.CloseBadRequest, "want connection_init")
			return
		}
		script(ctx, ws, init)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func readJSON(ctx context.Context, ws *websocket.Conn, v any) error {
	_, b, err := ws.Read(ctx)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func send(ctx context.Context, ws *websocket.Conn, s string) {
	_ = ws.Write(ctx, websocket.MessageText, []byte(s))
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestSubscription(t *testing.T) {
	url := server(t, func(ctx context.Context, ws *websocket.Conn, init map[string]any) {
		if p, _ := init["payload"].(map[string]any); p["Authorization"] != "Bearer tok" {
			_ = ws.Close(wsproto.CloseForbidden, wsproto.ReasonForbidden)
			return
		}
		send(ctx, ws, `{"type":"ping"}`) // answered before the ack is sent
		var pong map[string]any
		if readJSON(ctx, ws, &pong) != nil || pong["type"] != wsproto.Pong {
			return
		}
		send(ctx, ws, `{"type":"connection_ack"}`)
		var sub struct {
			ID      string
			Type    string
			Payload wsclient.Request
		}
		if readJSON(ctx, ws, &sub) != nil || sub.Type != wsproto.Subscribe || sub.Payload.Variables["id"] != "o1" {
			_ = ws.Close(wsproto.CloseBadRequest, "bad subscribe")
			return
		}
		send(ctx, ws, `{"id":"`+sub.ID+`","type":"next","payload":{"data":{"orderUpdated":{"status":"PAID"}},"extensions":{"cursor":"c1"}}}`)
		send(ctx, ws, `{"id":"`+sub.ID+`","type":"next","payload":{"data":{"orderUpdated":{"status":"APPROVED"}}}}`)
		send(ctx, ws, `{"id":"`+sub.ID+`","type":"complete"}`)
		// A client ping is answered.
		var ping map[string]any
		if readJSON(ctx, ws, &ping) == nil && ping["type"] == wsproto.Ping {
			send(ctx, ws, `{"type":"pong"}`)
		}
		_ = readJSON(ctx, ws, &ping) // until the client closes
	})
	c, err := wsclient.Dial(ctx(t), wsclient.Config{URL: url, ConnectionParams: wsclient.Bearer("tok")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.Subscribe(ctx(t), wsclient.Request{Query: "subscription ($id: ID!) { orderUpdated(id: $id) { status } }", Variables: map[string]any{"id": "o1"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		r, err := s.Next(ctx(t))
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(r.Data))
		if len(got) == 1 && (string(r.Extensions) != `{"cursor":"c1"}` || !strings.Contains(string(r.Raw), `"extensions"`)) {
			t.Errorf("first result %+v: extensions or raw payload lost", r)
		}
	}
	if strings.Join(got, " ") != `{"orderUpdated":{"status":"PAID"}} {"orderUpdated":{"status":"APPROVED"}}` {
		t.Fatalf("results %v", got)
	}
	if err := c.Ping(ctx(t)); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

func TestRefusedAndErrors(t *testing.T) {
	t.Run("a refused token is a 4403 CloseError", func(t *testing.T) {
		url := server(t, func(ctx context.Context, ws *websocket.Conn, _ map[string]any) {
			_ = ws.Close(wsproto.CloseForbidden, wsproto.ReasonForbidden)
		})
		_, err := wsclient.Dial(ctx(t), wsclient.Config{URL: url, ConnectionParams: wsclient.Bearer("expired")})
		var ce *wsclient.CloseError
		if !errors.As(err, &ce) || ce.Code != 4403 || ce.Reason != "Forbidden" {
			t.Fatalf("err %v, want a 4403 Forbidden CloseError", err)
		}
	})
	t.Run("no ack", func(t *testing.T) {
		url := server(t, func(ctx context.Context, ws *websocket.Conn, _ map[string]any) {
			var m map[string]any
			_ = readJSON(ctx, ws, &m)
		})
		_, err := wsclient.Dial(ctx(t), wsclient.Config{URL: url, AckTimeout: 100 * time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), "no connection_ack") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("an error message ends the subscription with its errors", func(t *testing.T) {
		url := server(t, func(ctx context.Context, ws *websocket.Conn, _ map[string]any) {
			send(ctx, ws, `{"type":"connection_ack"}`)
			var sub map[string]any
			_ = readJSON(ctx, ws, &sub)
			send(ctx, ws, `{"id":"`+sub["id"].(string)+`","type":"error","payload":[{"message":"not allowed","extensions":{"code":"FORBIDDEN"}}]}`)
			_ = readJSON(ctx, ws, &sub)
		})
		c, err := wsclient.Dial(ctx(t), wsclient.Config{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := c.Subscribe(ctx(t), wsclient.Request{Query: "subscription { x }"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Next(ctx(t))
		var ge wsclient.GraphQLErrors
		if !errors.As(err, &ge) || err.Error() != "not allowed (FORBIDDEN)" {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("the connection's end reaches every subscription", func(t *testing.T) {
		url := server(t, func(ctx context.Context, ws *websocket.Conn, _ map[string]any) {
			send(ctx, ws, `{"type":"connection_ack"}`)
			var sub map[string]any
			_ = readJSON(ctx, ws, &sub)
			_ = ws.Close(wsproto.CloseForbidden, wsproto.ReasonForbidden) // the token expired
		})
		c, err := wsclient.Dial(ctx(t), wsclient.Config{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		s, err := c.Subscribe(ctx(t), wsclient.Request{Query: "subscription { x }"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Next(ctx(t))
		var ce *wsclient.CloseError
		if !errors.As(err, &ce) || ce.Code != 4403 {
			t.Fatalf("err %v", err)
		}
		<-c.Done()
		if _, err := c.Subscribe(ctx(t), wsclient.Request{Query: "subscription { x }"}); !errors.As(err, &ce) {
			t.Fatalf("subscribe on a closed connection: %v", err)
		}
	})
	t.Run("stop sends complete", func(t *testing.T) {
		completed := make(chan string, 1)
		url := server(t, func(ctx context.Context, ws *websocket.Conn, _ map[string]any) {
			send(ctx, ws, `{"type":"connection_ack"}`)
			var sub, done map[string]any
			_ = readJSON(ctx, ws, &sub)
			if readJSON(ctx, ws, &done) == nil && done["type"] == wsproto.Complete && done["id"] == sub["id"] {
				completed <- done["id"].(string)
			}
		})
		c, err := wsclient.Dial(ctx(t), wsclient.Config{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, _ := c.Subscribe(ctx(t), wsclient.Request{Query: "subscription { x }"})
		if err := s.Stop(ctx(t)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Next(ctx(t)); !errors.Is(err, io.EOF) {
			t.Fatalf("Next after Stop: %v", err)
		}
		select {
		case id := <-completed:
			if id != s.ID() {
				t.Fatalf("completed %s, want %s", id, s.ID())
			}
		case <-ctx(t).Done():
			t.Fatal("the server saw no complete")
		}
	})
	t.Run("bad URL", func(t *testing.T) {
		if _, err := wsclient.Dial(ctx(t), wsclient.Config{URL: "http://x/graphql"}); err == nil || !strings.Contains(err.Error(), "ws://") {
			t.Fatalf("err %v", err)
		}
	})
}
