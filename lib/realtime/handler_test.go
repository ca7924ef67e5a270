package realtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	apitypes "github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/coder/websocket"
	graphql "github.com/graph-gophers/graphql-go"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/identity"
	"github.com/threefactor/framework/lib/provision"
	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/realtime/fanout"
	"github.com/threefactor/framework/lib/realtime/localws"
	"github.com/threefactor/framework/lib/realtime/store"
	"github.com/threefactor/framework/lib/realtime/wsproto"
	"github.com/threefactor/framework/lib/topology"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

const sdl = `
schema { query: Query mutation: Mutation subscription: Subscription }
type Query {
  whoami: String!
  hello(name: String!): String!
  correlation: String!
  items(n: Int!): [Item!]!
  leak: String
  wait: String
}
type Mutation { bump(n: Int!): Int! }
type Subscription { itemChanged(id: ID!): Item! }
type Item { id: ID! status: String! next: Item }
`

// secret is what the leak resolver's error says; no client may see it.
const secret = "operation error DynamoDB: GetItem, https response error StatusCode: 400, RequestID: 7Q3S9, ValidationException"

type root struct{ counter atomic.Int32 }

func (*root) Whoami(ctx context.Context) string {
	id, _ := identity.From(ctx)
	return id.Subject
}
func (*root) Hello(args struct{ Name string }) string { return "hello " + args.Name }

func (*root) Correlation(ctx context.Context) string { return correlation.From(ctx) }
func (r *root) Bump(args struct{ N int32 }) int32    { return r.counter.Add(args.N) }

func (*root) Items(args struct{ N int32 }) []itemResolver {
	out := make([]itemResolver, max(0, min(args.N, 10)))
	for i := range out {
		out[i] = itemResolver{item{ID: fmt.Sprint(i), Status: "PLACED"}}
	}
	return out
}

func (*root) Leak() (*string, error) { return nil, errors.New(secret) }

func (*root) Wait(ctx context.Context) (*string, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

type item struct{ ID, Status string }

type itemResolver struct{ it item }

func (r itemResolver) ID() graphql.ID      { return graphql.ID(r.it.ID) }
func (r itemResolver) Status() string      { return r.it.Status }
func (r itemResolver) Next() *itemResolver { return nil }

func (*root) ItemChanged(ctx context.Context, args struct{ ID graphql.ID }) (<-chan itemResolver, error) {
	ch := make(chan itemResolver, 1)
	defer close(ch)
	e, ok := realtime.ChangeFrom(ctx)
	if !ok {
		// The start: "private-<subject>" is only that subject's.
		if owner, private := strings.CutPrefix(string(args.ID), "private-"); private {
			if who, _ := identity.From(ctx); who.Subject != owner {
				return nil, errs.Newf(errs.Forbidden, "item %q is not yours", args.ID)
			}
		}
		if realtime.SnapshotFrom(ctx) {
			ch <- itemResolver{item{ID: string(args.ID), Status: "AS_IT_IS"}}
		}
		return ch, nil
	}
	var it struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if json.Unmarshal(e.New, &it) == nil && it.ID == string(args.ID) {
		ch <- itemResolver{item{ID: it.ID, Status: it.Status}}
	}
	return ch, nil
}

type stack struct {
	url    string
	store  *store.Store
	front  *localws.Server
	fanout *fanout.Fanout
	h      *realtime.Handler
	// newFanout is a fan-out like the stack's with cfg's changes.
	newFanout func(t *testing.T, mod func(*fanout.Config)) *fanout.Fanout
}

var appSeq atomic.Int64

func topicOf(field string, args map[string]any) (string, error) {
	if field != "itemChanged" {
		return "", fmt.Errorf("no subscription %q", field)
	}
	switch args["id"] {
	case "":
		return "", errs.New(errs.BadUserInput, "id must not be empty")
	case "boom":
		return "", errors.New(secret) // an app failure, not the client's
	}
	return "item:" + fmt.Sprint(args["id"]), nil
}

// newStack runs the handler behind the local front door and Management
// API on a real HTTP server, with its store on the emulator.
func newStack(t *testing.T, initTimeout time.Duration, opts ...func(*realtime.Config)) *stack {
	t.Helper()
	ctx := context.Background()
	cfg := emulatortest.Config(t)
	topo := topology.Topology{App: fmt.Sprintf("rthandler%d-%d", os.Getpid()%10000, appSeq.Add(1))}
	if _, err := provision.Apply(ctx, cfg, topo); err != nil {
		t.Fatal(err)
	}
	st, err := store.New(dynamodb.NewFromConfig(cfg), store.Config{
		ConnectionsTable: topo.TableName(topology.ConnectionsTable), SubscriptionsTable: topo.TableName(topology.SubscriptionsTable),
	})
	if err != nil {
		t.Fatal(err)
	}
	schema := graphql.MustParseSchema(sdl, &root{})
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	mgmt := apigatewaymanagementapi.NewFromConfig(cfg, func(o *apigatewaymanagementapi.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	log := slog.New(slog.NewJSONHandler(logOut(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	hcfg := realtime.Config{
		Schema: schema, Store: st, Management: mgmt, Logger: log,
		Topics: realtime.Topics{Subscription: topicOf},
		OnConnect: func(_ context.Context, payload json.RawMessage) (realtime.Accept, error) {
			var p struct{ Token string }
			_ = json.Unmarshal(payload, &p)
			if p.Token == "unavailable" {
				return realtime.Accept{}, identity.ErrKeysUnavailable
			}
			if p.Token == "bad" {
				return realtime.Accept{}, identity.ErrSignature
			}
			return realtime.Accept{Ack: json.RawMessage(`{"server":"test"}`), Identity: &identity.Identity{Subject: "ann"}}, nil
		},
	}
	for _, o := range opts {
		o(&hcfg)
	}
	h, err := realtime.NewHandler(hcfg)
	if err != nil {
		t.Fatal(err)
	}
	front, err := localws.New(localws.Config{Handler: h.Handle, InitTimeout: initTimeout, Logger: log, Credentials: cfg.Credentials})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/graphql", front)
	mux.Handle("/@connections/", front.Management())
	newFanout := func(t *testing.T, mod func(*fanout.Config)) *fanout.Fanout {
		t.Helper()
		fc := fanout.Config{
			Schema: schema, Store: st, Management: mgmt, Logger: log,
			Topics: func(e change.Event) []string {
				var k struct{ ID string }
				_ = json.Unmarshal(e.Keys, &k)
				return []string{"item:" + k.ID}
			},
		}
		if mod != nil {
			mod(&fc)
		}
		f, err := fanout.New(fc)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	f := newFanout(t, nil)
	t.Cleanup(func() { front.Close(); srv.Close() })
	return &stack{url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/graphql", store: st, front: front, fanout: f, h: h, newFanout: newFanout}
}

type client struct {
	t  *testing.T
	ws *websocket.Conn
}

func (s *stack) dial(t *testing.T, protocols ...string) (*client, *http.Response, error) {
	t.Helper()
	if protocols == nil {
		protocols = []string{wsproto.Subprotocol}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, s.url, &websocket.DialOptions{Subprotocols: protocols})
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	return &client{t: t, ws: ws}, resp, nil
}

func (s *stack) connect(t *testing.T) *client {
	t.Helper()
	c, _, err := s.dial(t)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.send(`{"type":"connection_init","payload":{"token":"ok"}}`)
	if m := c.read(); m.Type != wsproto.ConnectionAck {
		t.Fatalf("got %+v, want connection_ack", m)
	}
	return c
}

func (c *client) send(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatalf("send %s: %v", s, err)
	}
}

func (c *client) read() wsproto.Message {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, data, err := c.ws.Read(ctx)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var m wsproto.Message
	if err := json.Unmarshal(data, &m); err != nil {
		c.t.Fatalf("read %s: %v", data, err)
	}
	return m
}

// closed waits for the server to close the socket and returns the close frame.
func (c *client) closed() websocket.CloseError {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, data, err := c.ws.Read(ctx)
		if err == nil {
			c.t.Logf("message before close: %s", data)
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			c.t.Fatalf("read: %v, want a close frame", err)
		}
		return ce
	}
}

func (c *client) expectClose(code int, reason string) {
	c.t.Helper()
	ce := c.closed()
	if int(ce.Code) != code || ce.Reason != reason {
		c.t.Fatalf("closed with %d %q, want %d %q", ce.Code, ce.Reason, code, reason)
	}
}

func TestProtocol(t *testing.T) {
	// A generous init timeout: no subtest may fail because the machine is slow.
	s := newStack(t, time.Minute)

	t.Run("subprotocol is negotiated", func(t *testing.T) {
		c, _, err := s.dial(t, "graphql-ws", wsproto.Subprotocol)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.ws.Subprotocol(); got != wsproto.Subprotocol {
			t.Fatalf("subprotocol %q", got)
		}
	})
	for _, offered := range [][]string{{}, {"graphql-ws"}} {
		t.Run(fmt.Sprintf("subprotocol %v is refused", offered), func(t *testing.T) {
			_, resp, err := s.dial(t, offered...)
			if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("dial = %v, %v; want a 400 handshake", resp, err)
			}
		})
	}
	t.Run("connection_ack carries the ack payload", func(t *testing.T) {
		c, _, err := s.dial(t)
		if err != nil {
			t.Fatal(err)
		}
		c.send(`{"type":"connection_init","payload":{"token":"ok"}}`)
		m := c.read()
		if m.Type != wsproto.ConnectionAck || string(m.Payload) != `{"server":"test"}` {
			t.Fatalf("got %+v", m)
		}
	})
	t.Run("4403 when OnConnect refuses", func(t *testing.T) {
		c, _, _ := s.dial(t)
		c.send(`{"type":"connection_init","payload":{"token":"bad"}}`)
		c.expectClose(wsproto.CloseForbidden, "Forbidden")
	})
	t.Run("4500 when OnConnect cannot decide", func(t *testing.T) {
		c, _, _ := s.dial(t)
		c.send(`{"type":"connection_init","payload":{"token":"unavailable"}}`)
		c.expectClose(wsproto.CloseInternalError, "Internal server error")
	})
	t.Run("4408 without connection_init", func(t *testing.T) {
		quick := newStack(t, 200*time.Millisecond)
		c, _, _ := quick.dial(t)
		c.expectClose(wsproto.CloseInitTimeout, "Connection initialisation timeout")
	})
	t.Run("4429 on a second connection_init", func(t *testing.T) {
		c := s.connect(t)
		c.send(`{"type":"connection_init"}`)
		c.expectClose(wsproto.CloseTooManyInitRequests, "Too many initialisation requests")
	})
	t.Run("4401 subscribe before ack", func(t *testing.T) {
		c, _, _ := s.dial(t)
		c.send(`{"id":"1","type":"subscribe","payload":{"query":"{ hello(name: \"x\") }"}}`)
		c.expectClose(wsproto.CloseUnauthorized, "Unauthorized")
	})
	for name, msg := range map[string]string{
		"not JSON":           `hello`,
		"unknown type":       `{"type":"start","id":"1"}`,
		"subscribe no id":    `{"type":"subscribe","payload":{"query":"{ whoami }"}}`,
		"subscribe no query": `{"id":"1","type":"subscribe","payload":{}}`,
		"server message":     `{"id":"1","type":"next","payload":{}}`,
	} {
		t.Run("4400 "+name, func(t *testing.T) {
			c := s.connect(t)
			c.send(msg)
			ce := c.closed()
			if ce.Code != wsproto.CloseBadRequest || ce.Reason == "" {
				t.Fatalf("closed with %d %q, want 4400 with a reason", ce.Code, ce.Reason)
			}
		})
	}
	t.Run("ping pong both ways", func(t *testing.T) {
		c, _, _ := s.dial(t)
		c.send(`{"type":"ping"}`) // allowed before the ack
		if m := c.read(); m.Type != wsproto.Pong {
			t.Fatalf("got %+v, want pong", m)
		}
		c.send(`{"type":"connection_init"}`)
		if m := c.read(); m.Type != wsproto.ConnectionAck {
			t.Fatalf("got %+v", m)
		}
		c.send(`{"type":"pong","payload":{"t":1}}`) // a client pong is accepted, unanswered
		c.send(`{"type":"ping","payload":{"t":2}}`)
		if m := c.read(); m.Type != wsproto.Pong {
			t.Fatalf("got %+v, want pong", m)
		}
	})
	t.Run("query runs once: next, complete", func(t *testing.T) {
		c := s.connect(t)
		c.send(`{"id":"q1","type":"subscribe","payload":{"query":"query Q($n: String!) { hello(name: $n) me: whoami }","variables":{"n":"bob"},"operationName":"Q"}}`)
		m := c.read()
		if m.Type != wsproto.Next || m.ID != "q1" || string(m.Payload) != `{"data":{"hello":"hello bob","me":"ann"}}` {
			t.Fatalf("got %s %s %s", m.Type, m.ID, m.Payload)
		}
		if m := c.read(); m.Type != wsproto.Complete || m.ID != "q1" {
			t.Fatalf("got %+v, want complete", m)
		}
		// Each message runs with its own correlation id.
		c.send(`{"id":"q2","type":"subscribe","payload":{"query":"{ correlation }"}}`)
		var r struct{ Data struct{ Correlation string } }
		if m := c.read(); json.Unmarshal(m.Payload, &r) != nil || !correlation.Valid(r.Data.Correlation) {
			t.Fatalf("correlation id: %s", m.Payload)
		}
		if m := c.read(); m.Type != wsproto.Complete || m.ID != "q2" {
			t.Fatalf("got %+v, want complete", m)
		}
	})
	t.Run("a finished query's id can be used again", func(t *testing.T) {
		c := s.connect(t)
		for range 2 {
			c.send(`{"id":"q1","type":"subscribe","payload":{"query":"{ whoami }"}}`)
			if m := c.read(); m.Type != wsproto.Next || string(m.Payload) != `{"data":{"whoami":"ann"}}` {
				t.Fatalf("got %s %s %s", m.Type, m.ID, m.Payload)
			}
			if m := c.read(); m.Type != wsproto.Complete || m.ID != "q1" {
				t.Fatalf("got %+v, want complete", m)
			}
		}
	})
	t.Run("mutation runs once: next, complete", func(t *testing.T) {
		c := s.connect(t)
		c.send(`{"id":"m1","type":"subscribe","payload":{"query":"mutation { bump(n: 5) }"}}`)
		if m := c.read(); m.Type != wsproto.Next || !strings.Contains(string(m.Payload), `"bump":`) {
			t.Fatalf("got %s %s", m.Type, m.Payload)
		}
		if m := c.read(); m.Type != wsproto.Complete {
			t.Fatalf("got %+v", m)
		}
	})
	t.Run("invalid operation: error message, connection stays", func(t *testing.T) {
		c := s.connect(t)
		for _, q := range []string{
			`subscription { nope(id: \"1\") { id } }`,
			`subscription { itemChanged(id: \"1\") { id } `,
			`subscription { itemChanged { id } }`,
		} {
			c.send(`{"id":"e1","type":"subscribe","payload":{"query":"` + q + `"}}`)
			m := c.read()
			var errs []wsproto.Err
			if m.Type != wsproto.Error || m.ID != "e1" || json.Unmarshal(m.Payload, &errs) != nil || len(errs) == 0 || errs[0].Message == "" {
				t.Fatalf("%s: got %s %s", q, m.Type, m.Payload)
			}
		}
		c.send(`{"type":"ping"}`)
		if m := c.read(); m.Type != wsproto.Pong {
			t.Fatalf("connection unusable after errors: %+v", m)
		}
	})
	t.Run("subscription is stored, pushed, completed", func(t *testing.T) {
		ctx := context.Background()
		c := s.connect(t)
		c.send(`{"id":"s1","type":"subscribe","payload":{"query":"subscription W($id: ID!) { x: itemChanged(id: $id) { status } }","variables":{"id":"i1"}}}`)
		// Ping after subscribe: the pong proves the subscribe was handled.
		c.send(`{"type":"ping"}`)
		if m := c.read(); m.Type != wsproto.Pong {
			t.Fatalf("got %+v", m)
		}
		subs, err := s.store.SubscriptionsFor(ctx, "item:i1")
		if err != nil || len(subs) != 1 || subs[0].ID != "s1" || !strings.Contains(string(subs[0].Session), `"sub":"ann"`) {
			t.Fatalf("stored = %+v, %v", subs, err)
		}
		ev := change.Event{ID: "e1", Table: "items", Keys: json.RawMessage(`{"id":"i1"}`), New: json.RawMessage(`{"id":"i1","status":"PAID"}`)}
		if st, err := s.fanout.Publish(ctx, ev); err != nil || st.Pushed != 1 {
			t.Fatalf("publish = %+v, %v", st, err)
		}
		if m := c.read(); m.Type != wsproto.Next || m.ID != "s1" || string(m.Payload) != `{"data":{"x":{"status":"PAID"}}}` {
			t.Fatalf("got %s %s %s", m.Type, m.ID, m.Payload)
		}
		c.send(`{"id":"s1","type":"complete"}`)
		c.send(`{"type":"ping"}`)
		if m := c.read(); m.Type != wsproto.Pong {
			t.Fatalf("got %+v", m)
		}
		if subs, _ := s.store.SubscriptionsFor(ctx, "item:i1"); len(subs) != 0 {
			t.Fatalf("completed subscription still stored: %+v", subs)
		}
		if st, _ := s.fanout.Publish(ctx, ev); st.Matched != 0 {
			t.Fatalf("completed subscription matched: %+v", st)
		}
	})
	t.Run("the resolver decides at the start, as the subscriber", func(t *testing.T) {
		ctx := context.Background()
		c := s.connect(t)
		c.send(`{"id":"no","type":"subscribe","payload":{"query":"subscription { x: itemChanged(id: \"private-bob\") { status } }"}}`)
		m := c.read()
		if m.Type != wsproto.Error || m.ID != "no" || string(m.Payload) != `[{"message":"item \"private-bob\" is not yours","path":["x"],"extensions":{"code":"FORBIDDEN"}}]` {
			t.Fatalf("got %s %s %s", m.Type, m.ID, m.Payload)
		}
		c.send(`{"id":"yes","type":"subscribe","payload":{"query":"subscription { itemChanged(id: \"private-ann\") { status } }"}}`)
		c.send(`{"type":"ping"}`)
		if m := c.read(); m.Type != wsproto.Pong {
			t.Fatalf("got %+v, want pong (no message for a subscription that starts)", m)
		}
		if subs, err := s.store.SubscriptionsFor(ctx, "item:private-bob"); err != nil || len(subs) != 0 {
			t.Fatalf("a refused subscription was stored: %+v, %v", subs, err)
		}
		if subs, err := s.store.SubscriptionsFor(ctx, "item:private-ann"); err != nil || len(subs) != 1 || subs[0].ID != "yes" {
			t.Fatalf("stored = %+v, %v", subs, err)
		}
	})
	t.Run("subscriptions per connection are bounded", func(t *testing.T) {
		small := newStack(t, time.Minute, func(c *realtime.Config) { c.MaxSubscriptions = 2 })
		c := small.connect(t)
		for i := range 2 {
			c.send(fmt.Sprintf(`{"id":"%d","type":"subscribe","payload":{"query":"subscription { itemChanged(id: \"m%d\") { status } }"}}`, i, i))
		}
		c.send(`{"id":"x","type":"subscribe","payload":{"query":"subscription { itemChanged(id: \"mx\") { status } }"}}`)
		m := c.read()
		if m.Type != wsproto.Error || m.ID != "x" || !strings.Contains(string(m.Payload), "TOO_MANY_SUBSCRIPTIONS") {
			t.Fatalf("got %s %s %s", m.Type, m.ID, m.Payload)
		}
		c.send(`{"id":"0","type":"complete"}`)
		c.send(`{"id":"y","type":"subscribe","payload":{"query":"subscription { itemChanged(id: \"my\") { status } }"}}`)
		c.send(`{"type":"ping"}`)
		if m := c.read(); m.Type != wsproto.Pong {
			t.Fatalf("got %s %s, want pong (the subscribe after a complete is accepted)", m.Type, m.Payload)
		}
		if subs, _ := small.store.SubscriptionsFor(context.Background(), "item:my"); len(subs) != 1 {
			t.Fatalf("subscription after complete not stored: %+v", subs)
		}
	})
	t.Run("4409 on a duplicate subscription id", func(t *testing.T) {
		c := s.connect(t)
		c.send(`{"id":"dup","type":"subscribe","payload":{"query":"subscription { itemChanged(id: \"i2\") { status } }"}}`)
		c.send(`{"id":"dup","type":"subscribe","payload":{"query":"subscription { itemChanged(id: \"i3\") { status } }"}}`)
		c.expectClose(wsproto.CloseSubscriberExists, "Subscriber for dup already exists")
	})
	t.Run("disconnect deletes the connection and its subscriptions", func(t *testing.T) {
		ctx := context.Background()
		c := s.connect(t)
		c.send(`{"id":"a","type":"subscribe","payload":{"query":"subscription { itemChanged(id: \"gone1\") { status } }"}}`)
		c.send(`{"id":"b","type":"subscribe","payload":{"query":"subscription { itemChanged(id: \"gone2\") { status } }"}}`)
		c.send(`{"type":"ping"}`)
		c.read()
		if err := c.ws.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			a, _ := s.store.SubscriptionsFor(ctx, "item:gone1")
			b, _ := s.store.SubscriptionsFor(ctx, "item:gone2")
			if len(a)+len(b) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("subscriptions left after disconnect: %+v %+v", a, b)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

type sink struct {
	frames chan string
	code   int
	reason string
}

func (k *sink) Send(_ context.Context, b []byte) error { k.frames <- string(b); return nil }
func (k *sink) Close(code int, reason string)          { k.code, k.reason = code, reason }

func TestManagementAPI(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, -1)
	base := "http" + strings.TrimPrefix(strings.TrimSuffix(s.url, "/graphql"), "ws")
	mgmt := apigatewaymanagementapi.NewFromConfig(emulatortest.Config(t), func(o *apigatewaymanagementapi.Options) { o.BaseEndpoint = aws.String(base) })
	var (
		gone     *apitypes.GoneException
		tooLarge *apitypes.PayloadTooLargeException
	)
	id := "Zm9vYmFy/+="
	if _, err := mgmt.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: &id, Data: []byte("x")}); !errors.As(err, &gone) {
		t.Fatalf("post to unknown = %v, want GoneException", err)
	}
	k := &sink{frames: make(chan string, 1)}
	s.front.Register(id, k)
	if _, err := mgmt.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: &id, Data: []byte(`{"type":"pong"}`)}); err != nil {
		t.Fatal(err)
	}
	if got := <-k.frames; got != `{"type":"pong"}` {
		t.Fatalf("sink got %q", got)
	}
	big := make([]byte, localws.MaxMessageBytes+1)
	if _, err := mgmt.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: &id, Data: big}); !errors.As(err, &tooLarge) {
		t.Fatalf("oversize post = %v, want PayloadTooLargeException", err)
	}
	info, err := mgmt.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: &id})
	if err != nil || info.ConnectedAt == nil || info.LastActiveAt == nil {
		t.Fatalf("get = %+v, %v", info, err)
	}
	if _, err := mgmt.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: &id}, realtime.WithCloseCode(4400, "Invalid message received: ü")); err != nil {
		t.Fatal(err)
	}
	if k.code != 4400 || k.reason != "Invalid message received: ü" {
		t.Fatalf("closed with %d %q", k.code, k.reason)
	}
	if _, err := mgmt.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: &id}); !errors.As(err, &gone) {
		t.Fatalf("delete twice = %v, want GoneException", err)
	}
	if s.front.Connections() != 0 {
		t.Fatalf("%d connections left", s.front.Connections())
	}
}

func logOut() io.Writer {
	if os.Getenv("REALTIME_TEST_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}

// TestFanOutCleansUpGoneConnection pushes to a connection that the gateway
// no longer has (no $disconnect reached the handler): the real local
// Management API answers 410 GoneException and the fan-out deletes the
// connection and its subscriptions from the store on the emulator.
func TestFanOutCleansUpGoneConnection(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, time.Minute)
	c := s.connect(t)
	c.send(`{"id":"g1","type":"subscribe","payload":{"query":"subscription { itemChanged(id: \"gone1\") { status } }"}}`)
	c.send(`{"type":"ping"}`)
	if m := c.read(); m.Type != wsproto.Pong {
		t.Fatalf("got %+v", m)
	}
	subs, err := s.store.SubscriptionsFor(ctx, "item:gone1")
	if err != nil || len(subs) != 1 {
		t.Fatalf("stored = %+v, %v", subs, err)
	}
	conn := subs[0].ConnectionID
	s.front.Unregister(conn) // the gateway lost it; the store still has it

	ev := change.Event{ID: "e-gone", Table: "items", Keys: json.RawMessage(`{"id":"gone1"}`), New: json.RawMessage(`{"id":"gone1","status":"PAID"}`)}
	st, err := s.fanout.Publish(ctx, ev)
	if err != nil || st.Matched != 1 || st.Gone != 1 || st.Pushed != 0 {
		t.Fatalf("publish = %+v, %v; want one match, found gone", st, err)
	}
	if subs, err := s.store.SubscriptionsFor(ctx, "item:gone1"); err != nil || len(subs) != 0 {
		t.Fatalf("gone connection's subscriptions still stored: %+v, %v", subs, err)
	}
	if _, err := s.store.GetConnection(ctx, conn); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("gone connection still stored: %v", err)
	}
}
