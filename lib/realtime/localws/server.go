package localws

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/coder/websocket"

	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/origin"
	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/realtime/wsproto"
)

// HandlerFunc is a WebSocket API Lambda handler.
type HandlerFunc func(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error)

// Limits API Gateway applies, and the local defaults.
const (
	// MaxMessageBytes is the largest message (and PostToConnection payload).
	MaxMessageBytes = 128 * 1024
	// DefaultIdleTimeout closes a connection with no message from the client.
	DefaultIdleTimeout = 10 * time.Minute
	// DefaultMaxLifetime closes every connection after this long.
	DefaultMaxLifetime = 2 * time.Hour
	// DefaultInitTimeout is how long a connection may go unacknowledged.
	DefaultInitTimeout = 10 * time.Second
	// DefaultSendQueueFrames and DefaultSendQueueBytes bound the frames
	// waiting for one client: a burst of 100 subscriptions' pushes fits,
	// and so do eight messages of the largest size.
	DefaultSendQueueFrames = 256
	DefaultSendQueueBytes  = 8 * MaxMessageBytes
	// DefaultWriteTimeout bounds writing one frame to a client.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultMessageRate and DefaultMessageBurst bound the messages a
	// client sends: graphql-ws clients send a few a second at most, and
	// at start a connection_init and up to 100 subscribes at once.
	DefaultMessageRate  = 10
	DefaultMessageBurst = 120
)

// Config configures a Server. Zero values mean the defaults.
type Config struct {
	// Handler receives the $connect, $disconnect and $default events.
	Handler HandlerFunc
	// Credentials are what Management API callers must sign their
	// requests with (AWS Signature Version 4, service execute-api), as
	// API Gateway accepts only IAM-signed calls. Required.
	Credentials aws.CredentialsProvider
	// Region is the one callers sign for; a call scoped to another is
	// refused. Default us-east-1.
	Region string
	// Origins are the browser origins that may open a socket; a handshake
	// from any other is refused with 403 before $connect. A handshake
	// without an Origin header (native apps) is always allowed. The zero
	// Policy allows no browser origin.
	Origins origin.Policy
	// InitTimeout closes a connection with 4408 when no connection_ack was
	// sent to it in time. Negative: never.
	InitTimeout time.Duration
	// IdleTimeout closes a connection that sent no message for this long,
	// and MaxLifetime any connection this long after it opened, as API
	// Gateway does (its quotas: "Idle Connection Timeout 10 minutes",
	// "Connection duration for WebSocket API 2 hours",
	// https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-execution-service-websocket-limits-table.html).
	// Both close with 1001 Going away and raise $disconnect. Only a
	// message from the client (a graphql-transport-ws ping included) is
	// activity; WebSocket ping frames and pushes to the client are not.
	// AWS does not define activity; users of API Gateway report that its
	// own messages to a client may keep a connection open too
	// (hotsock.io/docs/connections/keep-alive). Counting the client's
	// messages only is the stricter reading: a client that stays
	// connected here keeps its connection on AWS. Defaults
	// DefaultIdleTimeout and DefaultMaxLifetime; negative: never.
	IdleTimeout time.Duration
	MaxLifetime time.Duration
	// SendQueueFrames and SendQueueBytes bound the frames queued for one
	// client. A post that would exceed them answers 429
	// LimitExceededException and closes the connection with 1013.
	SendQueueFrames int
	SendQueueBytes  int
	// WriteTimeout bounds the write of one frame to the socket; a client
	// that accepts no data for that long is dropped.
	WriteTimeout time.Duration
	// MessageRate is how many messages a second (WebSocket pings
	// included) a client may send on average, MessageBurst how many at
	// once; over it the connection is closed with 1008. Negative
	// MessageRate: no limit.
	MessageRate  float64
	MessageBurst int
	// ManagementRate is how many Management API calls a second (POST,
	// GET and DELETE together) the server takes on average, as API
	// Gateway's account throttle does; a call over it answers 429
	// LimitExceededException and does nothing. ManagementBurst is how
	// many it takes at once; default a tenth of a second's worth. Zero
	// ManagementRate: no limit.
	ManagementRate  float64
	ManagementBurst int
	// Stage is the requestContext.stage of events; default "local".
	Stage string
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Validate reports missing or invalid settings.
func (c Config) Validate() error {
	var errs []error
	if c.Handler == nil {
		errs = append(errs, errors.New("localws: no handler"))
	}
	if c.Credentials == nil {
		errs = append(errs, errors.New("localws: no credentials for the Management API"))
	}
	if c.SendQueueFrames < 0 || c.SendQueueBytes < 0 || c.WriteTimeout < 0 || c.MessageBurst < 0 {
		errs = append(errs, errors.New("localws: negative send queue, write timeout or message burst"))
	}
	if c.ManagementRate < 0 || c.ManagementBurst < 0 {
		errs = append(errs, errors.New("localws: negative Management API rate or burst"))
	}
	return errors.Join(errs...)
}

// Sink is where the Management API delivers a connection's frames. A
// WebSocket connection is one; tests and benchmarks register others.
type Sink interface {
	// Send delivers one text message without waiting on the client:
	// ErrSendQueueFull when the client cannot keep up (answered 429),
	// any other error when the connection is gone (410).
	Send(ctx context.Context, data []byte) error
	// Close ends the connection with a close code and reason.
	Close(code int, reason string)
}

type entry struct {
	sink        Sink
	connectedAt time.Time
	lastActive  time.Time
	sourceIP    string
	userAgent   string
}

// Server is the local WebSocket API: the front door (ServeHTTP) and the
// Management API (Management).
type Server struct {
	cfg Config
	log *slog.Logger
	// signer recomputes Management API signatures; it caches the derived
	// signing key (per day, region and service).
	signer *v4.Signer

	// mgmtLimit is the Management API's throttle; nil: none.
	mgmtLimit *bucket

	mu    sync.Mutex
	conns map[string]*entry
	wg    sync.WaitGroup
}

// New returns a Server.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.InitTimeout, DefaultInitTimeout)
	def(&cfg.IdleTimeout, DefaultIdleTimeout)
	def(&cfg.MaxLifetime, DefaultMaxLifetime)
	def(&cfg.WriteTimeout, DefaultWriteTimeout)
	if cfg.SendQueueFrames == 0 {
		cfg.SendQueueFrames = DefaultSendQueueFrames
	}
	if cfg.SendQueueBytes == 0 {
		cfg.SendQueueBytes = DefaultSendQueueBytes
	}
	if cfg.MessageRate == 0 {
		cfg.MessageRate = DefaultMessageRate
	}
	if cfg.MessageBurst == 0 {
		cfg.MessageBurst = DefaultMessageBurst
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Stage == "" {
		cfg.Stage = "local"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ManagementRate > 0 && cfg.ManagementBurst == 0 {
		cfg.ManagementBurst = max(1, int(cfg.ManagementRate/10))
	}
	return &Server{cfg: cfg, log: cfg.Logger, signer: v4.NewSigner(), conns: map[string]*entry{},
		mgmtLimit: newBucket(cfg.ManagementRate, cfg.ManagementBurst)}, nil
}

// NewConnectionID returns an id shaped like API Gateway's.
func NewConnectionID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return base64.URLEncoding.EncodeToString(b)
}

// Register makes a sink reachable through the Management API under id.
func (s *Server) Register(id string, sink Sink) {
	now := time.Now()
	s.mu.Lock()
	s.conns[id] = &entry{sink: sink, connectedAt: now, lastActive: now}
	s.mu.Unlock()
}

// Unregister forgets a connection: the Management API answers 410 for it.
func (s *Server) Unregister(id string) {
	s.mu.Lock()
	delete(s.conns, id)
	s.mu.Unlock()
}

// Connections is the number of open connections.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *Server) lookup(id string) (*entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.conns[id]
	return e, ok
}

func (s *Server) touch(id string) {
	s.mu.Lock()
	if e, ok := s.conns[id]; ok {
		e.lastActive = time.Now()
	}
	s.mu.Unlock()
}

// Close closes every open connection with 1001 Going Away and waits for
// their $disconnect events.
func (s *Server) Close() {
	s.mu.Lock()
	sinks := make([]Sink, 0, len(s.conns))
	for _, e := range s.conns {
		sinks = append(sinks, e.sink)
	}
	s.mu.Unlock()
	for _, sk := range sinks {
		sk.Close(int(websocket.StatusGoingAway), "server shutting down")
	}
	s.wg.Wait()
}

func (s *Server) event(r *http.Request, id, route, eventType string, connectedAt time.Time, body []byte) events.APIGatewayWebsocketProxyRequest {
	now := time.Now()
	req := events.APIGatewayWebsocketProxyRequest{
		Body: string(body),
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			Stage:            s.cfg.Stage,
			RequestID:        correlation.NewID(),
			APIID:            "local",
			ConnectedAt:      connectedAt.UnixMilli(),
			ConnectionID:     id,
			DomainName:       r.Host,
			EventType:        eventType,
			MessageDirection: "IN",
			RequestTime:      now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			RequestTimeEpoch: now.UnixMilli(),
			RouteKey:         route,
		},
	}
	req.RequestContext.Identity.SourceIP = sourceIP(r)
	req.RequestContext.Identity.UserAgent = r.UserAgent()
	if route == realtime.RouteConnect {
		req.Headers = map[string]string{}
		req.MultiValueHeaders = map[string][]string{}
		for k, v := range r.Header {
			req.Headers[k] = strings.Join(v, ",")
			req.MultiValueHeaders[k] = v
		}
		req.QueryStringParameters = map[string]string{}
		req.MultiValueQueryStringParameters = map[string][]string{}
		for k, v := range r.URL.Query() {
			req.QueryStringParameters[k] = v[len(v)-1]
			req.MultiValueQueryStringParameters[k] = v
		}
	}
	return req
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ServeHTTP is the front door: it refuses a browser origin that is not
// allowed (403), upgrades a request to a WebSocket after the $connect
// handler accepted it, then raises $default for each message and
// $disconnect when the socket closes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := context.WithoutCancel(r.Context())
	id := NewConnectionID()
	connectedAt := time.Now()
	log := s.log.With("connectionId", id)

	if !s.cfg.Origins.AllowsHeader(r.Header.Values("Origin")) {
		// Cross-site WebSocket hijacking: a page elsewhere would act with
		// the user's session. Nothing reaches $connect.
		log.InfoContext(ctx, "connect refused: origin not allowed", "origin", r.Header.Get("Origin"))
		http.Error(w, "Forbidden: origin not allowed", http.StatusForbidden)
		return
	}
	resp, err := s.cfg.Handler(ctx, s.event(r, id, realtime.RouteConnect, "CONNECT", connectedAt, nil))
	if err != nil || resp.StatusCode < 200 || resp.StatusCode > 299 {
		status := resp.StatusCode
		if err != nil || status == 0 {
			status = http.StatusInternalServerError
		}
		log.InfoContext(ctx, "connect refused", "status", status, "err", err)
		http.Error(w, resp.Body, status)
		return
	}
	var protocols []string
	for k, v := range resp.Headers {
		if strings.EqualFold(k, "Sec-WebSocket-Protocol") {
			protocols = append(protocols, v)
		}
	}
	limit := newBucket(s.cfg.MessageRate, s.cfg.MessageBurst)
	var (
		c         *conn
		overLimit atomic.Bool
	)
	// spend takes one message from the client's budget; the first time it
	// is exhausted the connection is closed with 1008.
	spend := func() bool {
		if overLimit.Load() {
			return false
		}
		if limit.take() {
			return true
		}
		if overLimit.CompareAndSwap(false, true) {
			log.WarnContext(ctx, "client over its message rate: closing", "rate", s.cfg.MessageRate, "burst", s.cfg.MessageBurst)
			c.Close(int(websocket.StatusPolicyViolation), s.rateReason())
		}
		return false
	}
	// The connection is known before the handshake completes, as on API
	// Gateway: a client that has its 101 can be posted to at once (what
	// is posted waits in its send queue for the writer).
	c = newConn(nil, log, s.cfg, func() { s.Unregister(id) })
	s.mu.Lock()
	s.conns[id] = &entry{sink: c, connectedAt: connectedAt, lastActive: connectedAt, sourceIP: sourceIP(r), userAgent: r.UserAgent()}
	s.mu.Unlock()
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: protocols,
		// The origin was checked above, against the configured policy.
		InsecureSkipVerify: true,
		// A WebSocket ping costs the server a write, like a message: it
		// spends from the same budget (and is not answered over it).
		OnPingReceived: func(context.Context, []byte) bool { return spend() },
	})
	if err != nil {
		log.InfoContext(ctx, "upgrade failed", "err", err)
		s.disconnect(ctx, r, id, connectedAt, log)
		return
	}
	ws.SetReadLimit(MaxMessageBytes)
	c.ws = ws // before the writer starts: it alone uses the socket's write side
	go c.writeLoop()
	s.wg.Add(1)
	defer s.wg.Done()
	defer func() {
		s.disconnect(ctx, r, id, connectedAt, log)
		// The socket is ours since the upgrade: release it whatever ended
		// the connection (the read limit's 1009 leaves it open).
		c.finish()
	}()

	if s.cfg.InitTimeout > 0 {
		t := time.AfterFunc(s.cfg.InitTimeout, func() {
			select {
			case <-c.acked:
			default:
				log.InfoContext(ctx, "connection_init timeout")
				c.Close(wsproto.CloseInitTimeout, wsproto.ReasonInitTimeout)
			}
		})
		defer t.Stop()
	}
	// A read deadline would drop the socket without a close frame; timers
	// close it properly, as API Gateway does, after what is queued.
	if s.cfg.MaxLifetime > 0 {
		life := time.AfterFunc(s.cfg.MaxLifetime, func() {
			log.InfoContext(ctx, "maximum connection duration reached: closing", "maxLifetime", s.cfg.MaxLifetime.String())
			c.Close(int(websocket.StatusGoingAway), ReasonGoingAway)
		})
		defer life.Stop()
	}
	var idle *time.Timer
	if s.cfg.IdleTimeout > 0 {
		idle = time.AfterFunc(s.cfg.IdleTimeout, func() {
			log.InfoContext(ctx, "idle: no message from the client: closing", "idleTimeout", s.cfg.IdleTimeout.String())
			c.Close(int(websocket.StatusGoingAway), ReasonGoingAway)
		})
		defer idle.Stop()
	}

	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return
		}
		if !spend() {
			continue // over the rate, closing: dropped
		}
		if idle != nil {
			idle.Reset(s.cfg.IdleTimeout)
		}
		s.touch(id)
		if _, err := s.cfg.Handler(ctx, s.event(r, id, realtime.RouteDefault, "MESSAGE", connectedAt, data)); err != nil {
			// API Gateway drops a failed integration's error, too; the
			// handler has logged it.
			log.DebugContext(ctx, "$default failed", "err", err)
		}
	}
}

// rateReason is the 1008 close reason for a client over its message rate.
func (s *Server) rateReason() string {
	return fmt.Sprintf("Too many messages: over %g a second", s.cfg.MessageRate)
}

func (s *Server) disconnect(ctx context.Context, r *http.Request, id string, connectedAt time.Time, log *slog.Logger) {
	s.Unregister(id)
	if _, err := s.cfg.Handler(ctx, s.event(r, id, realtime.RouteDisconnect, "DISCONNECT", connectedAt, nil)); err != nil {
		log.ErrorContext(ctx, "$disconnect failed", "err", err)
	}
}
