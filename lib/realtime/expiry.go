package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"

	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/graphqlhttp"
	"github.com/threefactor/framework/lib/realtime/store"
	"github.com/threefactor/framework/lib/realtime/wsproto"
)

// A connection lives no longer than its identity: no push is made after
// the token's exp (the fan-out checks each one), and at exp the connection
// is ended. Locally the front door closes the socket with 4403 Forbidden;
// API Gateway cannot send a close code chosen by the backend, so each
// open subscription first gets an error message saying why
// (UNAUTHENTICATED), then the connection is deleted.

// ExpiryScheduler makes Handler.Expire run for a connection at a time.
// On AWS it is an EventBridge Scheduler one-time schedule that invokes
// the realtime function with an ExpiryEvent (package expiry).
type ExpiryScheduler interface {
	ScheduleExpiry(ctx context.Context, connectionID string, at time.Time) error
}

// ExpiryAction marks the payload an expiry schedule invokes the realtime
// function with.
const ExpiryAction = "threefactor.realtime.expire"

// ExpiryEvent is that payload: {"action": ExpiryAction, "connectionId": ...}.
type ExpiryEvent struct {
	Action       string `json:"action"`
	ConnectionID string `json:"connectionId"`
}

// ExpiredMessage is what an ended subscription's error message says.
const ExpiredMessage = "the token has expired"

// Invoke is the realtime Lambda's entry point: it serves a WebSocket API
// event (Handle) or an ExpiryEvent (Expire).
func (h *Handler) Invoke(ctx context.Context, payload json.RawMessage) (any, error) {
	var probe struct {
		Action         string          `json:"action"`
		ConnectionID   string          `json:"connectionId"`
		RequestContext json.RawMessage `json:"requestContext"`
	}
	if err := json.Unmarshal(payload, &probe); err != nil {
		return nil, fmt.Errorf("realtime: the event is not a JSON object: %w", err)
	}
	if len(probe.RequestContext) == 0 && probe.Action == ExpiryAction {
		if probe.ConnectionID == "" {
			return nil, errors.New("realtime: expiry event without a connection id")
		}
		return nil, h.Expire(ctx, probe.ConnectionID)
	}
	var req events.APIGatewayWebsocketProxyRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		return nil, fmt.Errorf("realtime: not a WebSocket API event: %w", err)
	}
	return h.Handle(ctx, req)
}

// Expire ends a connection whose identity has expired: an error message
// (UNAUTHENTICATED) for each open subscription, then the connection is
// forgotten and closed (4403 locally). A connection that is gone is left
// alone; one whose identity has not expired yet (a timer that fired
// early) is scheduled again.
func (h *Handler) Expire(ctx context.Context, connectionID string) error {
	log := h.log.With("connectionId", connectionID)
	conn, err := h.cfg.Store.GetConnection(ctx, connectionID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	id, ok, err := SessionIdentity(conn.Session)
	if err != nil {
		return err
	}
	if !ok || id.Expires.IsZero() {
		return nil
	}
	if !id.Expired(h.cfg.Now()) {
		return h.scheduleExpiry(ctx, log, connectionID, id.Expires)
	}
	ctx = WithIdentity(ctx, id, true)
	log.InfoContext(ctx, "identity expired: closing the connection", "subscriptions", len(conn.Subscriptions))
	msg := h.gate.Errors(ctx, "", []*gqlerrors.QueryError{graphqlhttp.NewError(errs.Unauthenticated, ExpiredMessage)})
	for sub := range conn.Subscriptions {
		if err := h.send(ctx, log, connectionID, wsproto.ErrorMessage(sub, msg)); err != nil {
			log.WarnContext(ctx, "expiry: error message not delivered", "subscriptionId", sub, "err", err)
		}
	}
	return h.close(ctx, log, connectionID, wsproto.CloseForbidden, wsproto.ReasonForbidden)
}

// scheduleExpiry arranges for Expire at exp (at once when exp has passed).
// A schedule that cannot be made is logged: the fan-out stops pushing at
// exp anyway, and the connection ends at API Gateway's two-hour limit.
func (h *Handler) scheduleExpiry(ctx context.Context, log *slog.Logger, connectionID string, exp time.Time) error {
	if !exp.After(h.cfg.Now()) {
		return h.Expire(ctx, connectionID)
	}
	if h.timers != nil {
		h.timers.set(connectionID, exp)
		return nil
	}
	if err := h.cfg.Expiry.ScheduleExpiry(ctx, connectionID, exp); err != nil {
		log.ErrorContext(ctx, "expiry not scheduled: the connection stays open past its token's expiry (without pushes)", "err", err)
	}
	return nil
}

// timers are in-process expiry timers, one per connection.
type timers struct {
	h  *Handler
	mu sync.Mutex
	m  map[string]*time.Timer
}

func newTimers(h *Handler) *timers { return &timers{h: h, m: map[string]*time.Timer{}} }

func (t *timers) set(id string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old := t.m[id]; old != nil {
		old.Stop()
	}
	t.m[id] = time.AfterFunc(time.Until(at), func() {
		t.mu.Lock()
		delete(t.m, id)
		t.mu.Unlock()
		if err := t.h.Expire(context.Background(), id); err != nil {
			t.h.log.Error("expiry failed", "connectionId", id, "err", err)
		}
	})
}

// cancel drops a connection's timer (nil-safe: a Handler with an
// ExpiryScheduler has no timers).
func (t *timers) cancel(id string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	if tm := t.m[id]; tm != nil {
		tm.Stop()
		delete(t.m, id)
	}
	t.mu.Unlock()
}
