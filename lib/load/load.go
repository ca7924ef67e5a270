// Package load drives a deployment (or `make dev`) with the reference
// workflow at a fixed rate of orders and measures what a customer sees:
// each order is placed over HTTP, watched over the WebSocket
// (graphql-transport-ws) by its customer and any extra subscribers, paid
// when it is VALIDATED, and followed until DRIVER_ASSIGNED. `threefactor
// load` is its command line; docs/scale.md says how to run it against a
// real account and what a run costs.
package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/threefactor/framework/lib/realtime/wsproto"
)

// Workflow is the order each run places: one line of a restaurant's menu.
// The operations are the reference app's (placeOrder, payOrder,
// orderUpdated, order).
type Workflow struct {
	Restaurant, MenuItem string
	Quantity             int
}

// ReferenceWorkflow orders one margherita from the seeded pizzeria.
var ReferenceWorkflow = Workflow{Restaurant: "r-pizza", MenuItem: "margherita", Quantity: 1}

// Config says what to run.
type Config struct {
	// GraphQLURL is the HTTP endpoint (…/graphql); WebSocketURL the
	// subscriptions endpoint, by default GraphQLURL with a ws scheme (as
	// `make dev` serves both on one port; on AWS the WebSocket API has its
	// own URL: the stack's WebSocketUrl output).
	GraphQLURL, WebSocketURL string
	// Token is the bearer token of the i-th order's customer.
	Token func(i int) (string, error)
	// Rate is orders started a second, for Duration.
	Rate     float64
	Duration time.Duration
	// Subscribers is how many WebSocket connections watch each order, the
	// customer's included. Default 1.
	Subscribers int
	// Timeout bounds one order, from placeOrder to DRIVER_ASSIGNED.
	// Default 2 minutes.
	Timeout  time.Duration
	Workflow Workflow
	// HTTPClient sends the mutations; default one with a 30 s timeout.
	HTTPClient *http.Client
}

// Validate reports what is missing or out of range.
func (c Config) Validate() error {
	var errs []error
	if c.GraphQLURL == "" {
		errs = append(errs, errors.New("load: no GraphQL URL"))
	}
	if c.Token == nil {
		errs = append(errs, errors.New("load: no token source"))
	}
	if c.Rate <= 0 || c.Duration <= 0 {
		errs = append(errs, fmt.Errorf("load: rate %g and duration %s must be positive", c.Rate, c.Duration))
	}
	if c.Subscribers < 0 || c.Timeout < 0 {
		errs = append(errs, errors.New("load: negative subscribers or timeout"))
	}
	return errors.Join(errs...)
}

// Percentiles of a set of durations, in milliseconds.
type Percentiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50Ms"`
	P99 float64 `json:"p99Ms"`
	Max float64 `json:"maxMs"`
}

func percentiles(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(q float64) float64 {
		return float64(s[int(q*float64(len(s)-1)+0.5)].Microseconds()) / 1000
	}
	return Percentiles{N: len(s), P50: at(0.5), P99: at(0.99), Max: at(1)}
}

// Report is what a run measured.
type Report struct {
	Rate        float64 `json:"rate"`
	Duration    string  `json:"duration"`
	Subscribers int     `json:"subscribers"`
	// Orders were placed; Assigned reached DRIVER_ASSIGNED.
	Orders   int `json:"orders"`
	Assigned int `json:"assigned"`
	// PlaceOrder is the mutation's round trip; Push from sending payOrder
	// to each subscriber's frame showing its payment intent;
	// PlaceToAssigned from sending placeOrder to the customer's
	// DRIVER_ASSIGNED frame.
	PlaceOrder      Percentiles `json:"placeOrder"`
	Push            Percentiles `json:"push"`
	PlaceToAssigned Percentiles `json:"placeToAssigned"`
	// Errors count the failures by code: a GraphQL error's
	// extensions.code, HTTP_<status>, WS_<close code>, a terminal status
	// (REJECTED, PAYMENT_FAILED), or TIMEOUT.
	Errors map[string]int `json:"errors"`
	// DeadLetters is each dead-letter queue's depth after the run and
	// DeadLettersBefore before it (set by the caller, see DLQDepths).
	DeadLetters       map[string]int `json:"deadLetters,omitempty"`
	DeadLettersBefore map[string]int `json:"deadLettersBefore,omitempty"`
}

// NewDeadLetters is how many messages the dead-letter queues gained.
func (r Report) NewDeadLetters() int {
	n := 0
	for q, after := range r.DeadLetters {
		n += max(0, after-r.DeadLettersBefore[q])
	}
	return n
}

// Run places Rate orders a second for Duration and follows each to its
// end (or Timeout), then reports.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	if cfg.Subscribers == 0 {
		cfg.Subscribers = 1
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.WebSocketURL == "" {
		cfg.WebSocketURL = "ws" + strings.TrimPrefix(cfg.GraphQLURL, "http")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Workflow == (Workflow{}) {
		cfg.Workflow = ReferenceWorkflow
	}
	r := &run{cfg: cfg, errs: map[string]int{}}
	total := int(cfg.Rate * cfg.Duration.Seconds())
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < total && ctx.Err() == nil; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.order(ctx, i)
		}()
	}
	wg.Wait()
	return Report{
		Rate: cfg.Rate, Duration: cfg.Duration.String(), Subscribers: cfg.Subscribers,
		Orders: r.orders, Assigned: r.assigned,
		PlaceOrder: percentiles(r.place), Push: percentiles(r.push), PlaceToAssigned: percentiles(r.e2e),
		Errors: r.errs,
	}, ctx.Err()
}

type run struct {
	cfg Config

	mu               sync.Mutex
	orders, assigned int
	place, push, e2e []time.Duration
	errs             map[string]int
}

func (r *run) fail(code string) {
	r.mu.Lock()
	r.errs[code]++
	r.mu.Unlock()
}

// failure is an error with the code the report counts it under.
type failure struct {
	code string
	err  error
}

func (f *failure) Error() string { return f.code + ": " + f.err.Error() }

func codeOf(err error) string {
	var f *failure
	if errors.As(err, &f) {
		return f.code
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "TIMEOUT"
	}
	return "CLIENT"
}

// frame is what a subscriber saw of the order in one push.
type frame struct {
	conn     int
	at       time.Time
	status   string
	total    int
	intent   bool
	errCode  string
	closeErr error
}

const orderFields = `id status totalCents paymentIntent { id }`

// order runs one order from placeOrder to DRIVER_ASSIGNED.
func (r *run) order(ctx context.Context, i int) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	token, err := r.cfg.Token(i)
	if err != nil {
		r.fail("TOKEN")
		return
	}
	frames := make(chan frame, 64)
	conns := make([]*websocket.Conn, r.cfg.Subscribers)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close(websocket.StatusNormalClosure, "")
			}
		}
	}()
	for k := range conns {
		if conns[k], err = r.connect(ctx, token); err != nil {
			r.fail(codeOf(err))
			return
		}
	}

	placed := time.Now()
	var out struct {
		PlaceOrder struct{ ID string }
	}
	err = r.do(ctx, token, `mutation($in: PlaceOrderInput!) { placeOrder(input: $in) { id status } }`,
		map[string]any{"in": map[string]any{"restaurantId": r.cfg.Workflow.Restaurant,
			"items": []any{map[string]any{"menuItemId": r.cfg.Workflow.MenuItem, "quantity": r.cfg.Workflow.Quantity}}}}, &out)
	r.mu.Lock()
	r.orders++
	if err == nil {
		r.place = append(r.place, time.Since(placed))
	}
	r.mu.Unlock()
	if err != nil {
		r.fail(codeOf(err))
		return
	}
	id := out.PlaceOrder.ID
	for k, c := range conns {
		sub := fmt.Sprintf(`{"id":"1","type":"subscribe","payload":{"query":"subscription($id: ID!) { orderUpdated(id: $id) { %s } }","variables":{"id":%q}}}`, orderFields, id)
		if err := c.Write(ctx, websocket.MessageText, []byte(sub)); err != nil {
			r.fail("WS_WRITE")
			return
		}
		go read(ctx, c, k, frames)
	}
	// A push that came before the subscription was stored is read back:
	// the order as it is now.
	var now struct {
		Order *struct {
			Status        string
			TotalCents    int
			PaymentIntent *struct{ ID string }
		}
	}
	if err := r.do(ctx, token, `query($id: ID!) { order(id: $id) { `+orderFields+` } }`, map[string]any{"id": id}, &now); err != nil {
		r.fail(codeOf(err))
		return
	}
	var (
		paid   time.Time
		sawPay = make([]bool, len(conns))
		pay    = func(total int) error {
			paid = time.Now()
			var o struct{ PayOrder struct{ ID string } }
			return r.do(ctx, token, `mutation($in: PayOrderInput!) { payOrder(input: $in) { id } }`,
				map[string]any{"in": map[string]any{"orderId": id, "amountCents": total}}, &o)
		}
	)
	if now.Order != nil && now.Order.Status == "VALIDATED" && now.Order.PaymentIntent == nil {
		if err := pay(now.Order.TotalCents); err != nil {
			r.fail(codeOf(err))
			return
		}
	}
	for {
		select {
		case <-ctx.Done():
			r.fail("TIMEOUT")
			return
		case f := <-frames:
			switch {
			case f.closeErr != nil:
				r.fail(codeOf(f.closeErr))
				return
			case f.errCode != "":
				r.fail(f.errCode)
				return
			}
			if f.intent && !paid.IsZero() && !sawPay[f.conn] {
				sawPay[f.conn] = true
				r.mu.Lock()
				r.push = append(r.push, f.at.Sub(paid))
				r.mu.Unlock()
			}
			if f.conn != 0 {
				continue
			}
			switch f.status {
			case "VALIDATED":
				if paid.IsZero() {
					if err := pay(f.total); err != nil {
						r.fail(codeOf(err))
						return
					}
				}
			case "REJECTED", "PAYMENT_FAILED":
				r.fail(f.status)
				return
			case "DRIVER_ASSIGNED":
				r.mu.Lock()
				r.assigned++
				r.e2e = append(r.e2e, f.at.Sub(placed))
				r.mu.Unlock()
				return
			}
		}
	}
}

// connect opens a graphql-transport-ws connection authenticated with
// token and waits for its connection_ack.
func (r *run) connect(ctx context.Context, token string) (*websocket.Conn, error) {
	c, resp, err := websocket.Dial(ctx, r.cfg.WebSocketURL, &websocket.DialOptions{Subprotocols: []string{wsproto.Subprotocol}})
	if err != nil {
		code := "WS_DIAL"
		if resp != nil {
			code = fmt.Sprintf("WS_HTTP_%d", resp.StatusCode)
		}
		return nil, &failure{code, err}
	}
	c.SetReadLimit(1 << 20)
	init, _ := json.Marshal(map[string]any{"type": wsproto.ConnectionInit, "payload": map[string]string{"Authorization": "Bearer " + token}})
	if err := c.Write(ctx, websocket.MessageText, init); err != nil {
		c.CloseNow()
		return nil, &failure{"WS_WRITE", err}
	}
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			c.CloseNow()
			return nil, &failure{closeCode(err), err}
		}
		var m wsproto.Message
		if json.Unmarshal(data, &m) == nil && m.Type == wsproto.ConnectionAck {
			return c, nil
		}
	}
}

func closeCode(err error) string {
	if s := websocket.CloseStatus(err); s != -1 {
		return fmt.Sprintf("WS_%d", s)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "TIMEOUT"
	}
	return "WS_READ"
}

// read turns a connection's messages into frames until it closes or ctx
// ends; it answers pings.
func read(ctx context.Context, c *websocket.Conn, k int, out chan<- frame) {
	send := func(f frame) {
		select {
		case out <- f:
		case <-ctx.Done():
		}
	}
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			if ctx.Err() == nil {
				send(frame{conn: k, closeErr: &failure{closeCode(err), err}})
			}
			return
		}
		at := time.Now()
		var m wsproto.Message
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		switch m.Type {
		case wsproto.Ping:
			_ = c.Write(ctx, websocket.MessageText, []byte(`{"type":"pong"}`))
		case wsproto.Error:
			var errs []wsproto.Err
			_ = json.Unmarshal(m.Payload, &errs)
			code := "SUBSCRIPTION_ERROR"
			if len(errs) > 0 {
				if c, ok := errs[0].Extensions["code"].(string); ok {
					code = c
				}
			}
			send(frame{conn: k, errCode: code})
		case wsproto.Next:
			var p struct {
				Data struct {
					OrderUpdated struct {
						Status        string
						TotalCents    int
						PaymentIntent *struct{ ID string }
					}
				}
				Errors []wsproto.Err
			}
			if json.Unmarshal(m.Payload, &p) != nil {
				continue
			}
			o := p.Data.OrderUpdated
			send(frame{conn: k, at: at, status: o.Status, total: o.TotalCents, intent: o.PaymentIntent != nil})
		}
	}
}

// do sends one operation over HTTP and decodes its data.
func (r *run) do(ctx context.Context, token, doc string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": doc, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.cfg.GraphQLURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := r.cfg.HTTPClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &failure{"HTTP_ERROR", err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var res struct {
		Data   json.RawMessage
		Errors []wsproto.Err
	}
	if err := json.Unmarshal(b, &res); err != nil || (resp.StatusCode != http.StatusOK && len(res.Errors) == 0) {
		return &failure{fmt.Sprintf("HTTP_%d", resp.StatusCode), fmt.Errorf("%.200s", b)}
	}
	if len(res.Errors) > 0 {
		code, _ := res.Errors[0].Extensions["code"].(string)
		if code == "" {
			code = "GRAPHQL_ERROR"
		}
		return &failure{code, errors.New(res.Errors[0].Message)}
	}
	return json.Unmarshal(res.Data, out)
}
