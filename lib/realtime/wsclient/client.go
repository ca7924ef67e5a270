// Package wsclient is a GraphQL client over WebSocket, speaking
// graphql-transport-ws: the protocol of the framework's WebSocket, locally
// and on API Gateway, and of graphql-ws, Apollo and urql in JavaScript.
// It serves Go programs: the threefactor subscribe command, tests, a
// service that watches changes.
//
//	c, err := wsclient.Dial(ctx, wsclient.Config{
//		URL:              "ws://127.0.0.1:8080/graphql",
//		ConnectionParams: wsclient.Bearer(token),
//	})
//	sub, err := c.Subscribe(ctx, wsclient.Request{Query: `subscription ($id: ID!) { orderUpdated(id: $id) { status } }`, Variables: map[string]any{"id": id}})
//	for {
//		r, err := sub.Next(ctx) // io.EOF once the server completes it
//		...
//	}
//
// One Client is one connection; it does not reconnect (a connection
// refused or closed is a *CloseError). Dial again to reconnect:
// ConnectionParams is called for each connection, so a fresh token goes
// with each.
package wsclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/threefactor/framework/lib/realtime/wsproto"
)

// Config says where and how to connect.
type Config struct {
	// URL is the WebSocket endpoint, ws:// or wss://. Required.
	URL string
	// ConnectionParams gives connection_init's payload, called once per
	// connection: the framework's WebSocket wants the token there
	// ({"Authorization": "Bearer <token>"}, see Bearer). Nil sends none.
	ConnectionParams func(context.Context) (map[string]any, error)
	// Header is sent with the upgrade request (Origin, say).
	Header http.Header
	// AckTimeout bounds the wait for connection_ack. Default 30s.
	AckTimeout time.Duration
	// KeepAlive, when positive, sends a ping this often: idle
	// connections are closed by API Gateway after 10 minutes.
	KeepAlive time.Duration
	// ReadLimit is the largest message accepted. Default 1 MiB.
	ReadLimit int64
}

// Bearer is connection params carrying token the way the framework's
// WebSocket reads it.
func Bearer(token string) func(context.Context) (map[string]any, error) {
	return func(context.Context) (map[string]any, error) {
		return map[string]any{"Authorization": "Bearer " + token}, nil
	}
}

// Request is one operation.
type Request struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName,omitempty"`
	Variables     map[string]any `json:"variables,omitempty"`
}

// Result is one execution result a subscription received: a "next"
// message's payload.
type Result struct {
	Data       json.RawMessage `json:"data,omitempty"`
	Errors     []wsproto.Err   `json:"errors,omitempty"`
	Extensions json.RawMessage `json:"extensions,omitempty"`
	// Raw is the payload as it arrived.
	Raw json.RawMessage `json:"-"`
}

// CloseError is the connection's end: the close code and reason the
// server gave (4403 Forbidden: the token was refused or expired), or
// 1006 when the connection dropped without one.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return "connection closed: " + strconv.Itoa(e.Code)
	}
	return fmt.Sprintf("connection closed: %d %s", e.Code, e.Reason)
}

// GraphQLErrors is the server's "error" message for a subscription: the
// operation was refused (validation, authorization) and will send
// nothing more.
type GraphQLErrors []wsproto.Err

func (e GraphQLErrors) Error() string {
	msgs := make([]string, len(e))
	for i, x := range e {
		msgs[i] = x.Message
		if c, ok := x.Extensions["code"].(string); ok {
			msgs[i] += " (" + c + ")"
		}
	}
	return strings.Join(msgs, "; ")
}

// Client is one graphql-transport-ws connection. Its methods are safe for
// concurrent use.
type Client struct {
	cfg  Config
	ws   *websocket.Conn
	wmu  sync.Mutex
	done chan struct{} // closed when the connection ended; err says why

	mu     sync.Mutex
	err    error
	subs   map[string]*Subscription
	nextID int
	pongs  []chan struct{}
}

// Dial connects, sends connection_init and waits for connection_ack.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if !strings.HasPrefix(cfg.URL, "ws://") && !strings.HasPrefix(cfg.URL, "wss://") {
		return nil, fmt.Errorf("wsclient: URL %q: want ws:// or wss://", cfg.URL)
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 30 * time.Second
	}
	if cfg.ReadLimit <= 0 {
		cfg.ReadLimit = 1 << 20
	}
	var params map[string]any
	if cfg.ConnectionParams != nil {
		p, err := cfg.ConnectionParams(ctx)
		if err != nil {
			return nil, fmt.Errorf("wsclient: connection params: %w", err)
		}
		params = p
	}
	ws, resp, err := websocket.Dial(ctx, cfg.URL, &websocket.DialOptions{Subprotocols: []string{wsproto.Subprotocol}, HTTPHeader: cfg.Header})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("wsclient: connect to %s: %s: %w", cfg.URL, resp.Status, err)
		}
		return nil, fmt.Errorf("wsclient: connect to %s: %w", cfg.URL, err)
	}
	if ws.Subprotocol() != wsproto.Subprotocol {
		_ = ws.Close(websocket.StatusProtocolError, "")
		return nil, fmt.Errorf("wsclient: %s does not speak %s", cfg.URL, wsproto.Subprotocol)
	}
	ws.SetReadLimit(cfg.ReadLimit)
	c := &Client{cfg: cfg, ws: ws, done: make(chan struct{}), subs: map[string]*Subscription{}}
	init := map[string]any{"type": wsproto.ConnectionInit}
	if params != nil {
		init["payload"] = params
	}
	if err := c.write(ctx, init); err != nil {
		_ = ws.CloseNow()
		return nil, err
	}
	actx, cancel := context.WithTimeout(ctx, cfg.AckTimeout)
	defer cancel()
	for {
		m, err := c.read(actx)
		if err != nil {
			_ = ws.CloseNow()
			if actx.Err() != nil && ctx.Err() == nil {
				return nil, fmt.Errorf("wsclient: no connection_ack within %s", cfg.AckTimeout)
			}
			return nil, err
		}
		if m.Type == wsproto.Ping {
			_ = c.write(ctx, map[string]any{"type": wsproto.Pong})
			continue
		}
		if m.Type != wsproto.ConnectionAck {
			_ = ws.Close(websocket.StatusProtocolError, "")
			return nil, fmt.Errorf("wsclient: got %q, want connection_ack", m.Type)
		}
		break
	}
	go c.readLoop()
	if cfg.KeepAlive > 0 {
		go c.keepAlive()
	}
	return c, nil
}

// read is the next message, or the connection's end.
func (c *Client) read(ctx context.Context) (wsproto.Message, error) {
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return wsproto.Message{}, closeError(err)
	}
	var m wsproto.Message
	if err := json.Unmarshal(b, &m); err != nil {
		return wsproto.Message{}, fmt.Errorf("wsclient: server sent %q: %w", b, err)
	}
	return m, nil
}

func closeError(err error) error {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return &CloseError{Code: int(ce.Code), Reason: ce.Reason}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &CloseError{Code: int(websocket.StatusAbnormalClosure), Reason: err.Error()}
}

func (c *Client) write(ctx context.Context, m any) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("wsclient: send: %w", closeError(err))
	}
	return nil
}

func (c *Client) readLoop() {
	var end error
	defer func() {
		c.mu.Lock()
		c.err = end
		for _, s := range c.subs {
			s.finish(end)
		}
		c.subs = map[string]*Subscription{}
		c.mu.Unlock()
		close(c.done)
	}()
	for {
		m, err := c.read(context.Background())
		if err != nil {
			end = err
			return
		}
		switch m.Type {
		case wsproto.Ping:
			go func() { _ = c.write(context.Background(), map[string]any{"type": wsproto.Pong}) }()
		case wsproto.Pong:
			c.mu.Lock()
			for _, p := range c.pongs {
				close(p)
			}
			c.pongs = nil
			c.mu.Unlock()
		case wsproto.Next, wsproto.Error, wsproto.Complete:
			c.mu.Lock()
			s := c.subs[m.ID]
			if m.Type != wsproto.Next {
				delete(c.subs, m.ID)
			}
			c.mu.Unlock()
			if s != nil {
				s.deliver(m)
			}
		}
	}
}

func (c *Client) keepAlive() {
	t := time.NewTicker(c.cfg.KeepAlive)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			_ = c.write(context.Background(), map[string]any{"type": wsproto.Ping})
		}
	}
}

// Ping sends a ping and waits for the server's pong. The dev runtime
// handles one connection's messages in order, so there a pong after a
// subscribe means the subscription is in place; API Gateway gives no such
// order.
func (c *Client) Ping(ctx context.Context) error {
	p := make(chan struct{})
	c.mu.Lock()
	c.pongs = append(c.pongs, p)
	c.mu.Unlock()
	if err := c.write(ctx, map[string]any{"type": wsproto.Ping}); err != nil {
		return err
	}
	select {
	case <-p:
		return nil
	case <-c.done:
		return c.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Subscribe starts r. The server answers nothing until a result: errors
// in the operation come as the first Next's error.
func (c *Client) Subscribe(ctx context.Context, r Request) (*Subscription, error) {
	c.mu.Lock()
	if c.err != nil || isClosed(c.done) {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	c.nextID++
	s := &Subscription{c: c, id: strconv.Itoa(c.nextID), in: make(chan wsproto.Message, 64), end: make(chan struct{})}
	c.subs[s.id] = s
	c.mu.Unlock()
	if err := c.write(ctx, map[string]any{"id": s.id, "type": wsproto.Subscribe, "payload": r}); err != nil {
		c.mu.Lock()
		delete(c.subs, s.id)
		c.mu.Unlock()
		return nil, err
	}
	return s, nil
}

// Err is why the connection ended, nil while it is open.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Close closes the connection normally (1000).
func (c *Client) Close() error {
	err := c.ws.Close(websocket.StatusNormalClosure, "")
	<-c.done
	return err
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Subscription is one running operation.
type Subscription struct {
	c   *Client
	id  string
	in  chan wsproto.Message
	end chan struct{}

	once sync.Once
	err  error // after end: io.EOF, GraphQLErrors or the connection's end
}

// ID is the subscription's id on its connection.
func (s *Subscription) ID() string { return s.id }

func (s *Subscription) deliver(m wsproto.Message) {
	switch m.Type {
	case wsproto.Next:
		select {
		case s.in <- m:
		case <-s.end:
		}
	case wsproto.Error:
		var errs GraphQLErrors
		if json.Unmarshal(m.Payload, &errs) != nil || len(errs) == 0 {
			errs = GraphQLErrors{{Message: string(m.Payload)}}
		}
		s.finish(errs)
	case wsproto.Complete:
		s.finish(io.EOF)
	}
}

func (s *Subscription) finish(err error) {
	s.once.Do(func() {
		if err == nil {
			err = io.EOF
		}
		s.err = err
		close(s.end)
	})
}

// Next is the next result. After the last one it returns io.EOF when the
// server completed the subscription, GraphQLErrors when it refused it,
// and the connection's end (a *CloseError) when that came first.
func (s *Subscription) Next(ctx context.Context) (Result, error) {
	select {
	case m := <-s.in:
		return result(m)
	default:
	}
	select {
	case m := <-s.in:
		return result(m)
	case <-s.end:
		// Results that arrived before the end come first.
		select {
		case m := <-s.in:
			return result(m)
		default:
		}
		return Result{}, s.err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

func result(m wsproto.Message) (Result, error) {
	r := Result{Raw: m.Payload}
	if err := json.Unmarshal(m.Payload, &r); err != nil {
		return Result{}, fmt.Errorf("wsclient: next payload %s: %w", m.Payload, err)
	}
	r.Raw = m.Payload
	return r, nil
}

// Stop ends the subscription (a complete message); Next then returns
// io.EOF.
func (s *Subscription) Stop(ctx context.Context) error {
	s.c.mu.Lock()
	_, live := s.c.subs[s.id]
	delete(s.c.subs, s.id)
	s.c.mu.Unlock()
	s.finish(io.EOF)
	if !live {
		return nil
	}
	return s.c.write(ctx, map[string]any{"id": s.id, "type": wsproto.Complete})
}
