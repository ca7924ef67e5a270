package localws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/threefactor/framework/lib/realtime/wsproto"
)

// Errors a Sink's Send reports; the Management API answers them as API
// Gateway does.
var (
	// ErrSendQueueFull: the client does not read fast enough and its
	// outbound queue is full. The frame is not sent and the connection is
	// being closed (1013). The Management API answers 429
	// LimitExceededException ("the WebSocket client side buffer is full").
	ErrSendQueueFull = errors.New("client too slow: send queue full")
	// ErrClosed: the connection is closing or closed (410 GoneException).
	ErrClosed = errors.New("connection closed")
)

// Close reasons the front door sends on its own account.
const (
	// ReasonTooSlow goes with 1013 Try Again Later to a client whose
	// outbound queue overflowed.
	ReasonTooSlow = "Client too slow: send queue full"
	// ReasonGoingAway goes with 1001 when a connection reaches its idle
	// timeout or its maximum duration, as API Gateway closes them.
	ReasonGoingAway = "Going away"
)

type closeFrame struct {
	code   int
	reason string
}

// conn is a WebSocket connection as a Sink. Send never touches the
// socket: it queues the frame for the connection's own writer goroutine,
// so a client that stops reading holds up nobody but itself. The queue
// is bounded (frames and bytes); a Send that would overflow it closes the
// connection with 1013 instead of waiting. Each socket write has a
// deadline; a client that accepts no bytes for that long is dropped.
type conn struct {
	ws           *websocket.Conn
	log          *slog.Logger
	writeTimeout time.Duration
	maxFrames    int
	maxBytes     int
	// gone is called once when the connection can deliver no more (a
	// write failed or timed out), so the Management API answers 410.
	gone func()

	ackOnce sync.Once
	acked   chan struct{}

	mu      sync.Mutex
	queue   [][]byte
	queued  int         // bytes in queue
	closing *closeFrame // once set, the writer closes after the frames queued before it
	failed  bool

	wake chan struct{} // capacity 1: "look at the queue"
	stop chan struct{} // closed when the read side is done
	done chan struct{} // closed when the writer has returned
}

func newConn(ws *websocket.Conn, log *slog.Logger, cfg Config, gone func()) *conn {
	return &conn{
		ws: ws, log: log, writeTimeout: cfg.WriteTimeout, maxFrames: cfg.SendQueueFrames, maxBytes: cfg.SendQueueBytes, gone: gone,
		acked: make(chan struct{}), wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
}

func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Send queues one text message; it never blocks on the client.
func (c *conn) Send(_ context.Context, data []byte) error {
	c.mu.Lock()
	switch {
	case c.closing != nil || c.failed:
		c.mu.Unlock()
		return ErrClosed
	case len(c.queue) > 0 && (len(c.queue) >= c.maxFrames || c.queued+len(data) > c.maxBytes):
		// What is queued would reach the client late anyway; the close
		// frame goes out right after the frame being written now.
		c.queue, c.queued = nil, 0
		c.closing = &closeFrame{code: int(websocket.StatusTryAgainLater), reason: ReasonTooSlow}
		c.mu.Unlock()
		c.signal()
		c.log.Warn("client too slow: closing", "code", int(websocket.StatusTryAgainLater))
		return ErrSendQueueFull
	}
	c.queue = append(c.queue, data)
	c.queued += len(data)
	c.mu.Unlock()
	if bytes.Contains(data, []byte(wsproto.ConnectionAck)) {
		var m struct{ Type string }
		if json.Unmarshal(data, &m) == nil && m.Type == wsproto.ConnectionAck {
			c.ackOnce.Do(func() { close(c.acked) })
		}
	}
	c.signal()
	return nil
}

// Close ends the connection with a close code and reason, after the
// frames already queued (a protocol error message, say, precedes its
// close). It does not wait.
func (c *conn) Close(code int, reason string) {
	c.mu.Lock()
	if c.closing == nil {
		c.closing = &closeFrame{code: code, reason: reason}
	}
	c.mu.Unlock()
	c.signal()
}

// writeLoop writes queued frames in order, each under the write deadline,
// then the close frame once one is asked for.
func (c *conn) writeLoop() {
	defer close(c.done)
	for {
		c.mu.Lock()
		for len(c.queue) == 0 && c.closing == nil {
			c.mu.Unlock()
			select {
			case <-c.wake:
			case <-c.stop:
				return
			}
			c.mu.Lock()
		}
		if len(c.queue) == 0 {
			cl := c.closing
			c.mu.Unlock()
			// The closing handshake waits for the peer (5s at most).
			_ = c.ws.Close(websocket.StatusCode(cl.code), cl.reason)
			return
		}
		frame := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.queued -= len(frame)
		c.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), c.writeTimeout)
		err := c.ws.Write(ctx, websocket.MessageText, frame)
		timedOut := ctx.Err() != nil
		cancel()
		if err != nil {
			// A write that misses its deadline closes the socket (no
			// close frame can get past bytes the peer does not read).
			c.mu.Lock()
			c.failed, c.queue, c.queued = true, nil, 0
			c.mu.Unlock()
			if timedOut {
				c.log.Warn("client accepted no data within the write timeout: dropped", "writeTimeout", c.writeTimeout.String())
			} else {
				c.log.Debug("write failed", "err", err)
			}
			_ = c.ws.CloseNow()
			c.gone()
			return
		}
	}
}

// finish stops the writer once the read side is done and releases the
// socket, whatever state the close handshake is in.
func (c *conn) finish() {
	c.mu.Lock()
	c.failed = true // a post that raced the disconnect gets 410, not a lost 200
	c.mu.Unlock()
	close(c.stop)
	_ = c.ws.CloseNow()
	<-c.done
}

// bucket is a token bucket: rate tokens a second, up to burst.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int) *bucket {
	if rate <= 0 {
		return nil
	}
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: time.Now()}
}

// take spends a token; false when none is left. A nil bucket never runs out.
func (b *bucket) take() bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
