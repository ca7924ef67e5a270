package tests

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/threefactor/framework/gateway"
	"github.com/threefactor/framework/lib/realtime/wsproto"
)

// wsClient is a raw graphql-transport-ws client over a real socket.
type wsClient struct {
	t  *testing.T
	ws *websocket.Conn
}

func wsDial(t *testing.T, url string, protocols ...string) (*wsClient, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: protocols})
	if err != nil {
		return nil, resp, err
	}
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = ws.CloseNow() })
	return &wsClient{t: t, ws: ws}, resp, nil
}

// initMessage is a connection_init carrying token.
func initMessage(token string) string {
	return `{"type":"connection_init","payload":{"Authorization":"Bearer ` + token + `"}}`
}

// placeOne places an order of the stack's caller (alice) and returns its
// id: a subscription to an order must name one its subscriber may see.
func placeOne(t *testing.T, s *devStack) string {
	t.Helper()
	o, err := s.placeOrder(context.Background(), "r-pizza", item("tiramisu", 1))
	if err != nil {
		t.Fatal(err)
	}
	return o.ID
}

// wsConnect opens a socket as the stack's caller and waits for the ack.
func wsConnect(t *testing.T, s *devStack) *wsClient {
	t.Helper()
	c, _, err := wsDial(t, s.wsURL(), wsproto.Subprotocol)
	if err != nil {
		t.Fatal(err)
	}
	c.send(initMessage(s.token))
	if m := c.read(); m.Type != wsproto.ConnectionAck {
		t.Fatalf("got %+v, want connection_ack", m)
	}
	return c
}

func (c *wsClient) send(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *wsClient) read() wsproto.Message {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var m wsproto.Message
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("read %s: %v", b, err)
	}
	return m
}

// awaitPong reads up to the next pong, skipping the pushes of the
// connection's subscriptions (their orders' workflow may be moving them
// on): the messages sent before the ping have been handled then.
func (c *wsClient) awaitPong() {
	c.t.Helper()
	for m := c.read(); m.Type != wsproto.Pong; m = c.read() {
		if m.Type != wsproto.Next {
			c.t.Fatalf("got %s %s, want pushes, then pong", m.Type, m.Payload)
		}
	}
}

func (c *wsClient) expectClose(code int, reason string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		_, b, err := c.ws.Read(ctx)
		if err == nil {
			c.t.Logf("message before close: %s", b)
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			c.t.Fatalf("read: %v, want close %d", err, code)
		}
		if int(ce.Code) != code || (reason != "" && ce.Reason != reason) {
			c.t.Fatalf("closed with %d %q, want %d %q", ce.Code, ce.Reason, code, reason)
		}
		return
	}
}

// TestRealtimeProtocol holds the dev gateway (cmd/dev) to the
// graphql-transport-ws protocol over a real socket. 4403 is
// TestAuthentication's.
func TestRealtimeProtocol(t *testing.T) {
	s := startDev(t)
	url := s.wsURL()
	ctx := context.Background()
	st := realtimeStore(t)

	t.Run("subprotocol", func(t *testing.T) {
		c, _, err := wsDial(t, url, "graphql-ws", wsproto.Subprotocol)
		if err != nil || c.ws.Subprotocol() != wsproto.Subprotocol {
			t.Fatalf("dial = %v; subprotocol not negotiated", err)
		}
		for _, offered := range [][]string{nil, {"graphql-ws"}} {
			if _, resp, err := wsDial(t, url, offered...); err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("offering %v: %v, %v; want a 400 handshake", offered, resp, err)
			}
		}
	})
	t.Run("ping pong", func(t *testing.T) {
		c := wsConnect(t, s)
		c.send(`{"type":"pong"}`)
		c.send(`{"type":"ping","payload":{"n":1}}`)
		if m := c.read(); m.Type != wsproto.Pong {
			t.Fatalf("got %+v, want pong", m)
		}
	})
	t.Run("query and mutation run once", func(t *testing.T) {
		c := wsConnect(t, s)
		c.send(`{"id":"q","type":"subscribe","payload":{"query":"{ restaurants { id } }"}}`)
		if m := c.read(); m.Type != wsproto.Next || m.ID != "q" || !strings.Contains(string(m.Payload), `"r-pizza"`) {
			t.Fatalf("got %s %s", m.Type, m.Payload)
		}
		if m := c.read(); m.Type != wsproto.Complete || m.ID != "q" {
			t.Fatalf("got %+v, want complete", m)
		}
		c.send(`{"id":"m","type":"subscribe","payload":{"query":"mutation { placeOrder(input: {restaurantId: \"r-pizza\", items: [{menuItemId: \"diavola\", quantity: 1}]}) { status } }"}}`)
		if m := c.read(); m.Type != wsproto.Next || string(m.Payload) != `{"data":{"placeOrder":{"status":"PLACED"}}}` {
			t.Fatalf("got %s %s", m.Type, m.Payload)
		}
		if m := c.read(); m.Type != wsproto.Complete {
			t.Fatalf("got %+v, want complete", m)
		}
	})
	t.Run("invalid subscription gets an error message", func(t *testing.T) {
		c := wsConnect(t, s)
		c.send(`{"id":"e","type":"subscribe","payload":{"query":"subscription { orderUpdated(id: \"x\") { nope } }"}}`)
		m := c.read()
		var errs []wsproto.Err
		if m.Type != wsproto.Error || m.ID != "e" || json.Unmarshal(m.Payload, &errs) != nil || len(errs) == 0 ||
			errs[0].Extensions["code"] != "GRAPHQL_VALIDATION_FAILED" {
			t.Fatalf("got %s %s", m.Type, m.Payload)
		}
	})
	t.Run("bad input is the client's error, with a code", func(t *testing.T) {
		c := wsConnect(t, s)
		for _, tc := range []struct {
			msg, typ, want string
		}{
			// The empty id once reached DynamoDB, whose error (with its
			// request id) reached the client.
			{`{"id":"b1","type":"subscribe","payload":{"query":"{ order(id: \"\") { id } }"}}`, wsproto.Next,
				`{"errors":[{"message":"id must not be empty","path":["order"],"extensions":{"code":"BAD_USER_INPUT"}}],"data":{"order":null}}`},
			{`{"id":"b2","type":"subscribe","payload":{"query":"query($id: ID!) { order(id: $id) { id } }","variables":{"id":null}}}`, wsproto.Error,
				`[{"message":"Variable \"$id\" of non-null type \"ID!\" must not be null.","locations":[{"line":1,"column":7}],"extensions":{"code":"BAD_USER_INPUT"}}]`},
			{`{"id":"b3","type":"subscribe","payload":{"query":"mutation($n: Int!) { payOrder(input: {orderId: \"o\", amountCents: $n}) { id } }","variables":{"n":2147483648}}}`, wsproto.Error,
				`[{"message":"Variable \"$n\" got invalid value 2147483648; Int cannot represent non 32-bit signed integer value: 2147483648","locations":[{"line":1,"column":10}],"extensions":{"code":"BAD_USER_INPUT"}}]`},
			{`{"id":"b4","type":"subscribe","payload":{"query":"subscription { orderUpdated(id: \"\") { status } }"}}`, wsproto.Error,
				`[{"message":"argument \"id\" must be 1 to 128 characters","path":["orderUpdated"],"extensions":{"code":"BAD_USER_INPUT"}}]`},
		} {
			c.send(tc.msg)
			m := c.read()
			var got, want any
			if m.Type != tc.typ || json.Unmarshal(m.Payload, &got) != nil || json.Unmarshal([]byte(tc.want), &want) != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("%s:\ngot  %s %s\nwant %s %s", tc.msg, m.Type, m.Payload, tc.typ, tc.want)
			}
			if m.Type == wsproto.Next {
				if m := c.read(); m.Type != wsproto.Complete {
					t.Fatalf("got %+v, want complete", m)
				}
			}
		}
	})
	t.Run("subscribe stores, complete removes", func(t *testing.T) {
		mine := placeOne(t, s)
		c := wsConnect(t, s)
		c.send(`{"id":"s","type":"subscribe","payload":{"query":"subscription { orderUpdated(id: \"` + mine + `\") { status } }"}}`)
		c.send(`{"type":"ping"}`)
		c.awaitPong()
		subs, err := st.SubscriptionsFor(ctx, gateway.OrderTopic(mine))
		if err != nil || len(subs) != 1 || subs[0].ID != "s" {
			t.Fatalf("stored %+v, %v", subs, err)
		}
		c.send(`{"id":"s","type":"complete"}`)
		c.send(`{"type":"ping"}`)
		c.awaitPong()
		if subs, _ := st.SubscriptionsFor(ctx, gateway.OrderTopic(mine)); len(subs) != 0 {
			t.Fatalf("still stored: %+v", subs)
		}
	})
	t.Run("4400 invalid message", func(t *testing.T) {
		c := wsConnect(t, s)
		c.send(`{"type":"subscribe","payload":{"query":"{ restaurants { id } }"}}`)
		c.expectClose(wsproto.CloseBadRequest, "")
	})
	t.Run("4401 subscribe before ack", func(t *testing.T) {
		c, _, err := wsDial(t, url, wsproto.Subprotocol)
		if err != nil {
			t.Fatal(err)
		}
		c.send(`{"id":"1","type":"subscribe","payload":{"query":"{ restaurants { id } }"}}`)
		c.expectClose(wsproto.CloseUnauthorized, "Unauthorized")
	})
	t.Run("4409 duplicate id", func(t *testing.T) {
		c := wsConnect(t, s)
		q := `{"id":"d","type":"subscribe","payload":{"query":"subscription { orderUpdated(id: \"` + placeOne(t, s) + `\") { status } }"}}`
		c.send(q)
		c.send(q)
		c.expectClose(wsproto.CloseSubscriberExists, "Subscriber for d already exists")
	})
	t.Run("4429 second connection_init", func(t *testing.T) {
		c := wsConnect(t, s)
		c.send(initMessage(s.token))
		c.expectClose(wsproto.CloseTooManyInitRequests, "Too many initialisation requests")
	})
}

// TestRealtimeInitTimeout: the dev front door closes a connection that
// sends no connection_init with 4408 (DEV_WS_INIT_TIMEOUT shortens the wait).
func TestRealtimeInitTimeout(t *testing.T) {
	s := startDev(t, "DEV_WS_INIT_TIMEOUT=300ms")
	c, _, err := wsDial(t, s.wsURL(), wsproto.Subprotocol)
	if err != nil {
		t.Fatal(err)
	}
	c.expectClose(wsproto.CloseInitTimeout, "Connection initialisation timeout")
}
