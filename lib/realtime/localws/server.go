package localws

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"

	"github.com/threefactor/framework/lib/correlation"
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
)

// Config configures a Server. The zero durations mean the defaults.
type Config struct {
	// Handler receives the $connect, $disconnect and $default events.
	Handler HandlerFunc
	// InitTimeout closes a connection with 4408 when no connection_ack was
	// sent to it in time. Negative: never.
	InitTimeout time.Duration
	IdleTimeout time.Duration
	MaxLifetime time.Duration
	// Stage is the requestContext.stage of events; default "local".
	Stage string
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Sink is where the Management API delivers a connection's frames. A
// WebSocket connection is one; tests and benchmarks register others.
type Sink interface {
	// Send delivers one text message.
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

	mu    sync.Mutex
	conns map[string]*entry
	wg    sync.WaitGroup
}

// New returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Handler == nil {
		return nil, errors.New("localws: no handler")
	}
	if cfg.InitTimeout == 0 {
		cfg.InitTimeout = DefaultInitTimeout
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxLifetime == 0 {
		cfg.MaxLifetime = DefaultMaxLifetime
	}
	if cfg.Stage == "" {
		cfg.Stage = "local"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Server{cfg: cfg, log: cfg.Logger, conns: map[string]*entry{}}, nil
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

// ServeHTTP is the front door: it upgrades a request to a WebSocket after
// the $connect handler accepted it, then raises $default for each message
// and $disconnect when the socket closes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := context.WithoutCancel(r.Context())
	id := NewConnectionID()
	connectedAt := time.Now()
	log := s.log.With("connectionId", id)

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
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: protocols,
		// API Gateway does not check Origin; neither does its stand-in.
		InsecureSkipVerify: true,
	})
	if err != nil {
		log.InfoContext(ctx, "upgrade failed", "err", err)
		s.disconnect(ctx, r, id, connectedAt, log)
		return
	}
	ws.SetReadLimit(MaxMessageBytes)
	c := &conn{ws: ws, acked: make(chan struct{})}
	s.mu.Lock()
	s.conns[id] = &entry{sink: c, connectedAt: connectedAt, lastActive: connectedAt, sourceIP: sourceIP(r), userAgent: r.UserAgent()}
	s.mu.Unlock()
	s.wg.Add(1)
	defer s.wg.Done()
	defer s.disconnect(ctx, r, id, connectedAt, log)

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
	life := time.AfterFunc(s.cfg.MaxLifetime, func() { c.Close(int(websocket.StatusGoingAway), "Going away") })
	defer life.Stop()
	// A read deadline would drop the socket without a close frame; a timer
	// closes it properly, as API Gateway does.
	idle := time.AfterFunc(s.cfg.IdleTimeout, func() { c.Close(int(websocket.StatusGoingAway), "Going away") })
	defer idle.Stop()

	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return
		}
		idle.Reset(s.cfg.IdleTimeout)
		s.touch(id)
		if _, err := s.cfg.Handler(ctx, s.event(r, id, realtime.RouteDefault, "MESSAGE", connectedAt, data)); err != nil {
			// API Gateway drops a failed integration's error, too; the
			// handler has logged it.
			log.DebugContext(ctx, "$default failed", "err", err)
		}
	}
}

func (s *Server) disconnect(ctx context.Context, r *http.Request, id string, connectedAt time.Time, log *slog.Logger) {
	s.Unregister(id)
	if _, err := s.cfg.Handler(ctx, s.event(r, id, realtime.RouteDisconnect, "DISCONNECT", connectedAt, nil)); err != nil {
		log.ErrorContext(ctx, "$disconnect failed", "err", err)
	}
}

// conn is a WebSocket connection as a Sink.
type conn struct {
	ws        *websocket.Conn
	ackOnce   sync.Once
	acked     chan struct{}
	closeOnce sync.Once
}

func (c *conn) Send(ctx context.Context, data []byte) error {
	if bytes.Contains(data, []byte(wsproto.ConnectionAck)) {
		var m struct{ Type string }
		if json.Unmarshal(data, &m) == nil && m.Type == wsproto.ConnectionAck {
			c.ackOnce.Do(func() { close(c.acked) })
		}
	}
	return c.ws.Write(ctx, websocket.MessageText, data)
}

func (c *conn) Close(code int, reason string) {
	c.closeOnce.Do(func() {
		// The closing handshake waits for the peer; callers must not.
		go func() { _ = c.ws.Close(websocket.StatusCode(code), reason) }()
	})
}

// Management is the Management API: POST /@connections/{id} sends the body
// as a message, GET describes the connection, DELETE closes it (with the
// code and reason of the realtime.HeaderCloseCode and HeaderCloseReason
// headers when present, else 1000). An unknown id answers 410 with a
// GoneException, a payload over 128 KiB 413 with PayloadTooLargeException.
func (s *Server) Management() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw := r.URL.EscapedPath()
		i := strings.Index(raw, "/@connections/")
		if i < 0 {
			awsError(w, http.StatusNotFound, "NotFoundException", "no such route")
			return
		}
		id, err := url.PathUnescape(raw[i+len("/@connections/"):])
		if err != nil || id == "" {
			awsError(w, http.StatusBadRequest, "BadRequestException", "bad connection id")
			return
		}
		e, ok := s.lookup(id)
		if !ok {
			awsError(w, http.StatusGone, "GoneException", "")
			return
		}
		switch r.Method {
		case http.MethodPost:
			body, err := readLimited(r, MaxMessageBytes)
			if err != nil {
				awsError(w, http.StatusRequestEntityTooLarge, "PayloadTooLargeException", err.Error())
				return
			}
			if err := e.sink.Send(r.Context(), body); err != nil {
				s.Unregister(id)
				awsError(w, http.StatusGone, "GoneException", "")
				return
			}
			w.WriteHeader(http.StatusOK)
		case http.MethodGet:
			s.mu.Lock()
			info := map[string]any{
				"connectedAt":  e.connectedAt.UTC().Format(time.RFC3339Nano),
				"lastActiveAt": e.lastActive.UTC().Format(time.RFC3339Nano),
				"identity":     map[string]string{"sourceIp": e.sourceIP, "userAgent": e.userAgent},
			}
			s.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(info)
		case http.MethodDelete:
			code, reason := int(websocket.StatusNormalClosure), ""
			if v := r.Header.Get(realtime.HeaderCloseCode); v != "" {
				c, err := strconv.Atoi(v)
				if err != nil || c < 1000 || c > 4999 {
					awsError(w, http.StatusBadRequest, "BadRequestException", "bad close code")
					return
				}
				code = c
			}
			if v := r.Header.Get(realtime.HeaderCloseReason); v != "" {
				if reason, err = url.QueryUnescape(v); err != nil {
					reason = v
				}
			}
			s.Unregister(id)
			e.sink.Close(code, reason)
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Allow", "GET, POST, DELETE")
			awsError(w, http.StatusMethodNotAllowed, "BadRequestException", "method not allowed")
		}
	})
}

func readLimited(r *http.Request, limit int) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(http.MaxBytesReader(nil, r.Body, int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("payload over %d bytes (read %d)", limit, n)
	}
	return buf.Bytes(), nil
}

// awsError answers in the REST-JSON error shape the AWS SDK decodes.
func awsError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	var m any
	if msg != "" {
		m = msg
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"message": m})
}
