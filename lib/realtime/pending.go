package realtime

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	apitypes "github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"

	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/realtime/store"
)

// A push that fails after its retries (throttled, a server fault, no
// answer in time; not a gone connection) is not lost: it is kept with
// its subscription (store.AddPending) and delivered later, in order and
// before any newer push to that subscription: by the fan-out with the
// subscription's next push, and by the Handler when the client is next
// heard from (its next message, such as a keep-alive ping). A
// subscription whose connection keeps failing holds at most MaxPending
// pushes: then its connection is closed, and the client, reconnecting,
// resumes with after.

// MaxPending is how many undelivered pushes a subscription holds before
// its connection is closed.
const MaxPending = 100

// PendingLease is how long one deliverer holds a subscription's kept
// pushes; a deliverer that dies releases them when it ends.
const PendingLease = 30 * time.Second

// Errors a post function returns: ErrGone for a connection that is gone,
// ErrUndeliverable (wrapped) for a push no retry can deliver (a client
// fault: it is dropped, not kept).
var (
	ErrGone          = errors.New("connection gone")
	ErrUndeliverable = errors.New("undeliverable")
)

// PendingStore is the part of the store delivering kept pushes uses.
type PendingStore interface {
	TakePending(ctx context.Context, sub store.Subscription, lease time.Duration) ([]store.Pending, error)
	DonePending(ctx context.Context, sub store.Subscription, delivered int) error
}

// Redelivery is what became of one kept push DeliverPending took off the
// list: delivered (Err nil), or dropped as undeliverable (Err says why).
type Redelivery struct {
	store.Pending
	Err error
}

// DeliverPending posts a subscription's kept pushes, oldest first,
// stopping at the first that fails (it stays kept, with those after it;
// one that is undeliverable is dropped).
// post posts one frame to the subscription's connection. It returns the
// pushes taken off the list, delivered or dropped, and post's error when
// one failed. Kept pushes another deliverer holds are left to it.
func DeliverPending(ctx context.Context, st PendingStore, sub store.Subscription, post func(ctx context.Context, frame []byte) error) ([]Redelivery, error) {
	ps, err := st.TakePending(ctx, sub, PendingLease)
	if err != nil || len(ps) == 0 {
		return nil, err
	}
	var (
		done []Redelivery
		perr error
	)
	for _, p := range ps {
		perr = post(ctx, p.Frame)
		if errors.Is(perr, ErrUndeliverable) {
			// Dropped: keeping it would hold up every later push.
			done, perr = append(done, Redelivery{Pending: p, Err: perr}), nil
			continue
		}
		if perr != nil {
			break
		}
		done = append(done, Redelivery{Pending: p})
	}
	if errors.Is(perr, ErrGone) {
		return done, perr // the connection goes with its pushes
	}
	if err := st.DonePending(context.WithoutCancel(ctx), sub, len(done)); err != nil {
		return done, errors.Join(perr, err)
	}
	return done, perr
}

// deliverKept delivers the pushes kept for a connection's subscriptions
// now that the client was heard from (a keep-alive message).
func (h *Handler) deliverKept(ctx context.Context, log *slog.Logger, id string) error {
	conn, err := h.cfg.Store.GetConnection(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && len(conn.PendingSubscriptions) == 0) {
		return nil
	}
	if err != nil {
		return err
	}
	if who, ok, err := SessionIdentity(conn.Session); err != nil || (ok && who.Expired(h.cfg.Now())) {
		return err // the expiry closes it
	}
	post := func(ctx context.Context, frame []byte) error {
		_, err := h.cfg.Management.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: &id, Data: frame})
		var gone *apitypes.GoneException
		if errors.As(err, &gone) {
			return ErrGone
		}
		return err
	}
	var records []eventlog.Push
	defer func() {
		if err := WritePushes(ctx, h.cfg.Pushes, DefaultPushLogTimeout, records); err != nil {
			log.WarnContext(ctx, "kept pushes: push records not written", "pushes", len(records), "err", err)
		}
	}()
	for _, sid := range conn.PendingSubscriptions {
		topic, open := conn.Subscriptions[sid]
		if !open {
			continue
		}
		sub, err := h.cfg.Store.GetSubscription(ctx, topic, id, sid)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		start := h.cfg.Now()
		done, err := DeliverPending(ctx, h.cfg.Store, sub, post)
		records = append(records, RedeliveredPushes(sub, done, "", start, h.cfg.Now().Sub(start))...)
		n := len(done)
		switch {
		case errors.Is(err, ErrGone):
			log.InfoContext(ctx, "connection gone")
			return h.cfg.Store.DeleteConnection(ctx, id)
		case err != nil:
			log.WarnContext(ctx, "kept pushes still undelivered", "subscriptionId", sid, "delivered", n, "err", err)
			return nil
		case n > 0:
			log.InfoContext(ctx, "kept pushes delivered", "subscriptionId", sid, "delivered", n)
		}
	}
	return nil
}
