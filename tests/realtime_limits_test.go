package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	apitypes "github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	"github.com/coder/websocket"

	"github.com/threefactor/framework/gateway"
	"github.com/threefactor/framework/lib/benchfig"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/realtime/localws"
	"github.com/threefactor/framework/lib/realtime/store"
	"github.com/threefactor/framework/lib/realtime/wsproto"
)

// pushWatcher is a client that reads all the time and notes when the
// first frame showing each order's payment intent arrived.
type pushWatcher struct {
	ws      *websocket.Conn
	mu      sync.Mutex
	arrived map[string]time.Time
}

func watchPushes(t *testing.T, s *devStack) *pushWatcher {
	t.Helper()
	c := wsConnect(t, s)
	w := &pushWatcher{ws: c.ws, arrived: map[string]time.Time{}}
	go func() {
		for {
			_, data, err := w.ws.Read(context.Background())
			if err != nil {
				return
			}
			now := time.Now()
			var m struct {
				Payload struct {
					Data struct {
						OrderUpdated struct {
							ID            string
							PaymentIntent *struct{ ID string }
						}
					}
				}
			}
			if json.Unmarshal(data, &m) == nil && m.Payload.Data.OrderUpdated.PaymentIntent != nil {
				w.mu.Lock()
				if _, ok := w.arrived[m.Payload.Data.OrderUpdated.ID]; !ok {
					w.arrived[m.Payload.Data.OrderUpdated.ID] = now
				}
				w.mu.Unlock()
			}
		}
	}()
	return w
}

func (w *pushWatcher) subscribe(t *testing.T, orderID string) {
	t.Helper()
	sub := fmt.Sprintf(`{"id":"%s","type":"subscribe","payload":{"query":"subscription($id: ID!) { orderUpdated(id: $id) { id status paymentIntent { id } } }","variables":{"id":"%s"}}}`, orderID, orderID)
	if err := w.ws.Write(context.Background(), websocket.MessageText, []byte(sub)); err != nil {
		t.Fatal(err)
	}
}

// latency pays each order and waits for the push its write produced.
func (w *pushWatcher) latency(t *testing.T, s *devStack, ids []string, amount int) []time.Duration {
	t.Helper()
	var out []time.Duration
	for _, id := range ids {
		start := time.Now()
		if _, err := s.payOrder(context.Background(), id, amount); err != nil {
			t.Fatal(err)
		}
		var at time.Time
		rtWaitFor(t, 3*time.Minute, "the push for "+id, func() bool {
			w.mu.Lock()
			defer w.mu.Unlock()
			at = w.arrived[id]
			return !at.IsZero()
		})
		out = append(out, at.Sub(start))
	}
	return out
}

func ms(ds []time.Duration, p float64) float64 {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[int(p*float64(len(s)-1)+0.5)].Microseconds()) / 1000
}

// dialBuf opens a socket; a positive rcvbuf sets its receive buffer
// (SO_RCVBUF).
func dialBuf(t *testing.T, url string, rcvbuf int) *websocket.Conn {
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
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		Subprotocols: []string{wsproto.Subprotocol},
		HTTPClient:   &http.Client{Transport: &http.Transport{DialContext: d.DialContext}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = ws.CloseNow() })
	return ws
}

// heavyClient opens a socket whose 100 subscriptions watch hot through a
// selection that repeats its 50 lines 50 times (~105 KB a push), and
// returns it with its connection id.
func heavyClient(t *testing.T, s *devStack, st *store.Store, hot string, rcvbuf int) (*websocket.Conn, string) {
	t.Helper()
	ctx := context.Background()
	ws := dialBuf(t, s.wsURL(), rcvbuf)
	send := func(msg string) {
		if err := ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	send(initMessage(s.token))
	if _, b, err := ws.Read(ctx); err != nil || !strings.Contains(string(b), wsproto.ConnectionAck) {
		t.Fatalf("heavy client ack: %s %v", b, err)
	}
	var sel strings.Builder
	for i := range 50 {
		fmt.Fprintf(&sel, "i%d: items { menuItemId quantity } ", i)
	}
	for i := range 100 {
		q, _ := json.Marshal(map[string]any{"id": fmt.Sprint("big", i), "type": "subscribe", "payload": map[string]any{
			"query": "subscription($id: ID!) { orderUpdated(id: $id) { id status " + sel.String() + "} }", "variables": map[string]any{"id": hot}}})
		send(string(q))
	}
	// orderUpdated starts with a snapshot: the client reads the 100, then
	// stops reading.
	for got := 0; got < 100; {
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		_, b, err := ws.Read(rctx)
		cancel()
		if err != nil {
			t.Fatalf("heavy client's snapshots: %d read, %v", got, err)
		}
		if strings.Contains(string(b), `"type":"next"`) {
			got++
		}
	}
	var id string
	rtWaitFor(t, time.Minute, "the heavy client's 100 subscriptions stored", func() bool {
		subs, err := st.SubscriptionsFor(ctx, gateway.OrderTopic(hot))
		if err != nil || len(subs) != 100 {
			return false
		}
		id = subs[0].ConnectionID
		return true
	})
	return ws, id
}

// TestRealtimeSlowConsumer: in the dev stack (cmd/dev), a client that
// stops reading while 100 subscriptions of its own receive ~105 KB pushes
// does not hold up anyone else's: another client's pushes keep arriving,
// and the slow client is closed with 1013 and the reason. The other
// client's push latency is measured in the same run without and with the
// slow client.
func TestRealtimeSlowConsumer(t *testing.T) {
	ctx := context.Background()
	s := startDev(t)
	st := realtimeStore(t)
	normal := watchPushes(t, s)

	const perPhase = 6
	var ids []string
	for range 2 * perPhase {
		o, err := s.placeOrder(ctx, "r-pizza", map[string]any{"menuItemId": "tiramisu", "quantity": 1})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.ID)
		normal.subscribe(t, o.ID)
	}
	// The hot order has 50 lines; the slow client watches it (its
	// status: each step is a push; its lines alone would not change).
	lines := make([]map[string]any, 50)
	for i := range lines {
		lines[i] = map[string]any{"menuItemId": "margherita", "quantity": 1}
	}
	hot, err := s.placeOrder(ctx, "r-pizza", lines...)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range append(append([]string(nil), ids...), hot.ID) {
		rtWaitFor(t, 3*time.Minute, "order "+id+" validated", func() bool { return s.mustOrder(t, id).Status == "VALIDATED" })
	}

	alone := normal.latency(t, s, ids[:perPhase], 550)

	slow, slowID := heavyClient(t, s, st, hot.ID, 4096)
	// From here on the slow client reads nothing until the front door
	// lets it go (its Management API answers 410 for it, after the 429);
	// then it reads what was on the wire, and the close frame.
	mgmt := apigatewaymanagementapi.NewFromConfig(emulatortest.Config(t), func(o *apigatewaymanagementapi.Options) {
		o.BaseEndpoint = aws.String("http://" + s.Addr)
	})
	closed := make(chan error, 1)
	go func() {
		for {
			_, err := mgmt.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(slowID)})
			var gone *apitypes.GoneException
			if errors.As(err, &gone) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		for {
			if _, _, err := slow.Read(rctx); err != nil {
				closed <- err
				return
			}
		}
	}()
	if _, err := s.payOrder(ctx, hot.ID, 50*900); err != nil {
		t.Fatal(err)
	}
	withSlow := normal.latency(t, s, ids[perPhase:], 550)

	select {
	case err := <-closed:
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusTryAgainLater || ce.Reason != localws.ReasonTooSlow {
			t.Fatalf("slow client: %v, want close 1013 %q", err, localws.ReasonTooSlow)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the slow client was never let go")
	}
	rtWaitFor(t, time.Minute, "the slow client's connection and subscriptions deleted", func() bool {
		_, err := st.GetConnection(ctx, slowID)
		subs, qerr := st.SubscriptionsFor(ctx, gateway.OrderTopic(hot.ID))
		return errors.Is(err, store.ErrNotFound) && qerr == nil && len(subs) == 0
	})
	t.Logf("another client's push latency (p50 / max): without a slow client %.0f / %.0f ms; with one %.0f / %.0f ms",
		ms(alone, .5), ms(alone, 1), ms(withSlow, .5), ms(withSlow, 1))
	benchfig.Record("slow_consumer_other_push_p50_ms", ms(withSlow, .5), "ms")
	benchfig.Record("slow_consumer_other_push_max_ms", ms(withSlow, 1), "ms")
	benchfig.Record("slow_consumer_baseline_push_p50_ms", ms(alone, .5), "ms")
	benchfig.Record("slow_consumer_baseline_push_max_ms", ms(alone, 1), "ms")
}

// TestRealtimeHostileInput: what a hostile page or client can try against
// the dev stack: a cross-site origin, a forged Management API call, a
// flood of messages.
func TestRealtimeHostileInput(t *testing.T) {
	s := startDev(t, "ALLOWED_ORIGINS=https://app.example.com")
	url := s.wsURL()
	st := realtimeStore(t)
	ctx := context.Background()

	t.Run("cross-site origin refused before the upgrade", func(t *testing.T) {
		for _, c := range []struct {
			origin string
			status int
		}{
			{"https://evil.example", http.StatusForbidden},
			{"null", http.StatusForbidden},
			{"https://app.example.com", http.StatusSwitchingProtocols},
			{"http://localhost:5173", http.StatusSwitchingProtocols},
			{"", http.StatusSwitchingProtocols},
		} {
			h := http.Header{}
			if c.origin != "" {
				h.Set("Origin", c.origin)
			}
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			ws, resp, err := websocket.Dial(dctx, url, &websocket.DialOptions{Subprotocols: []string{wsproto.Subprotocol}, HTTPHeader: h})
			cancel()
			if resp == nil || resp.StatusCode != c.status {
				t.Fatalf("origin %q: %v, %v; want %d", c.origin, resp, err, c.status)
			}
			if ws != nil {
				_ = ws.CloseNow()
			}
		}
	})

	t.Run("forged management API calls refused", func(t *testing.T) {
		mine := placeOne(t, s)
		c := wsConnect(t, s)
		c.send(`{"id":"w","type":"subscribe","payload":{"query":"subscription { orderUpdated(id: \"` + mine + `\") { status } }"}}`)
		var id string
		rtWaitFor(t, time.Minute, "subscription stored", func() bool {
			subs, err := st.SubscriptionsFor(ctx, gateway.OrderTopic(mine))
			if err != nil || len(subs) != 1 {
				return false
			}
			id = subs[0].ConnectionID
			return true
		})
		base := "http://" + s.Addr + "/@connections/" + id
		forged := `{"id":"w","type":"next","payload":{"data":{"orderUpdated":{"status":"REFUNDED"}}}}`
		for _, r := range []struct {
			method, auth string
		}{
			{http.MethodPost, ""},
			{http.MethodPost, "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000"},
			{http.MethodDelete, ""},
			{http.MethodGet, ""},
		} {
			req, _ := http.NewRequest(r.method, base, strings.NewReader(forged))
			if r.auth != "" {
				req.Header.Set("Authorization", r.auth)
				req.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("%s %s (auth %q) = %d, want 403", r.method, base, r.auth, resp.StatusCode)
			}
		}
		// Nothing forged reached the client, and it is still connected:
		// up to the pong to this ping it reads only the order's own
		// pushes (its workflow may still be moving it on).
		c.send(`{"type":"ping"}`)
		for m := c.read(); m.Type != wsproto.Pong; m = c.read() {
			if m.Type != wsproto.Next || strings.Contains(string(m.Payload), "REFUNDED") {
				t.Fatalf("got %s %s, want the order's own pushes, then pong", m.Type, m.Payload)
			}
		}
		// What the fan-out does, signing with the dev credentials, works.
		mgmt := apigatewaymanagementapi.NewFromConfig(emulatortest.Config(t), func(o *apigatewaymanagementapi.Options) {
			o.BaseEndpoint = aws.String("http://" + s.Addr)
		})
		if _, err := mgmt.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(id)}); err != nil {
			t.Fatalf("signed GetConnection: %v", err)
		}
	})

	t.Run("a flood of messages is closed with 1008", func(t *testing.T) {
		c := wsConnect(t, s)
		for range 300 {
			if err := c.ws.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
				break
			}
		}
		// Pongs arrive for the pings within the budget; then the close.
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		pongs := 0
		for {
			_, _, err := c.ws.Read(rctx)
			if err == nil {
				pongs++
				continue
			}
			var ce websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || ce.Reason != "Too many messages: over 10 a second" {
				t.Fatalf("after %d pongs: %v, want close 1008 with the reason", pongs, err)
			}
			break
		}
		if pongs < 100 || pongs > 150 {
			t.Fatalf("%d pings answered, want the burst of 120 (with what the rate refilled)", pongs)
		}
	})
}
