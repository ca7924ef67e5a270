package gateway

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/graph-gophers/graphql-go"

	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/topology"
)

// OrderUpdated resolves orderUpdated(id), whose authorization is decided
// when it starts and again for every push.
//
// At the start (no change in ctx: the realtime handler runs it once when a
// client subscribes) it reads the order: one the caller may not see is
// NOT_FOUND, exactly as one that does not exist (the same read, the same
// error), and the subscription is not stored.
//
// For each change (the fan-out runs the stored operation with the change
// in ctx, realtime.WithChange, as the subscriber's identity): when it is
// a change of this order that leaves an order the subscriber may see, the
// channel yields that order once, cut to the subscriber's view;
// otherwise it closes empty, and nothing is pushed. An event reduced for
// size has no images: the order is then read from the table (strongly
// consistent, so at least as new as the change).
//
// It starts with a snapshot (the app declares it in Topics.Snapshot):
// asked for one (realtime.SnapshotFrom), it yields the order as it is
// now, read strongly consistent. after is the framework's (resume); the
// resolver does not read it.
func (r *Resolver) OrderUpdated(ctx context.Context, args struct {
	ID    graphql.ID
	After *string
}) (<-chan *OrderResolver, error) {
	id := string(args.ID)
	e, ok := realtime.ChangeFrom(ctx)
	if !ok {
		who, err := caller(ctx)
		if err != nil {
			return nil, err
		}
		o, v, err := r.visibleOrder(ctx, who, id)
		switch {
		case err != nil:
			return nil, err
		case v == hidden:
			return nil, orderNotFound(id)
		case realtime.SnapshotFrom(ctx):
			ch := make(chan *OrderResolver, 1)
			ch <- present(o, v)
			close(ch)
			return ch, nil
		}
		return closed(), nil
	}
	ch := make(chan *OrderResolver, 1)
	defer close(ch)
	who, err := caller(ctx)
	if err != nil {
		return ch, nil
	}
	o, found := r.changedOrder(ctx, e, "orderUpdated")
	if !found || o.ID != id {
		return ch, nil
	}
	if v := viewOf(who, o); v != hidden {
		ch <- present(o, v)
	}
	return ch, nil
}

// RestaurantOrderUpdated resolves restaurantOrderUpdated(restaurantId):
// every order of the restaurant each time it changes, for the
// restaurant's staff only, without payment details. At the start anyone
// else gets FORBIDDEN and nothing is stored; for each change the
// subscriber is checked again, so a stored subscription whose session no
// longer qualifies gets no push. It has no snapshot: the restaurant's
// orders are listed from an index, which may lag a write, and a snapshot
// that missed an order would be a silent gap; staff list the orders
// (restaurantOrders), then keep the subscription's last cursor and resume
// with after.
func (r *Resolver) RestaurantOrderUpdated(ctx context.Context, args struct {
	RestaurantID graphql.ID
	After        *string
}) (<-chan *OrderResolver, error) {
	rid := string(args.RestaurantID)
	e, ok := realtime.ChangeFrom(ctx)
	if !ok {
		who, err := caller(ctx)
		if err != nil {
			return nil, err
		}
		if err := mayWatchRestaurant(who, rid, "watch"); err != nil {
			return nil, err
		}
		return closed(), nil
	}
	ch := make(chan *OrderResolver, 1)
	defer close(ch)
	who, err := caller(ctx)
	if err != nil || mayWatchRestaurant(who, rid, "watch") != nil {
		return ch, nil
	}
	o, found := r.changedOrder(ctx, e, "restaurantOrderUpdated")
	if !found || o.RestaurantID != rid {
		return ch, nil
	}
	if v := viewOf(who, o); v != hidden {
		ch <- present(o, v)
	}
	return ch, nil
}

// changedOrder is the order a change leaves: its new image, or for an
// event reduced for size the order read from the table. False when the
// change is not of an order, removes one, or cannot be read.
func (r *Resolver) changedOrder(ctx context.Context, e change.Event, field string) (orders.Order, bool) {
	if e.Table != orders.OrdersTable || e.Operation == topology.Remove {
		return orders.Order{}, false
	}
	if e.Reduced {
		id, err := orders.IDOf(e)
		if err != nil {
			return orders.Order{}, false
		}
		o, err := r.store.Order(ctx, id)
		if err != nil {
			// Nothing to push: a removed order, or the table unreachable,
			// which the fan-out's own logs will show.
			r.log.WarnContext(ctx, field+": read order of a reduced change", "eventId", e.ID, "error", err.Error())
			return orders.Order{}, false
		}
		return o, true
	}
	c, err := change.Decode[orders.Order](e)
	if err != nil {
		r.log.WarnContext(ctx, field+": undecodable change", "eventId", e.ID, "error", err.Error())
		return orders.Order{}, false
	}
	if c.NewItem == nil {
		return orders.Order{}, false
	}
	return *c.NewItem, true
}

// closed is the channel of a subscription that starts: it yields nothing
// at the start.
func closed() <-chan *OrderResolver {
	ch := make(chan *OrderResolver)
	close(ch)
	return ch
}

// SubscriptionTopic is the topic of a subscription to field with args,
// e.g. "orderUpdated:ord_123" or "restaurantOrders:r-pizza".
func SubscriptionTopic(field string, args map[string]any) (string, error) {
	switch field {
	case "orderUpdated":
		id, err := stringArg(args, "id")
		if err != nil {
			return "", fmt.Errorf("orderUpdated: %w", err)
		}
		return OrderTopic(id), nil
	case "restaurantOrderUpdated":
		rid, err := stringArg(args, "restaurantId")
		if err != nil {
			return "", fmt.Errorf("restaurantOrderUpdated: %w", err)
		}
		return RestaurantTopic(rid), nil
	}
	return "", fmt.Errorf("no subscription field %q", field)
}

// ChangeTopics are the topics a change concerns: for an order, its
// orderUpdated topic, from the keys, which every event keeps (even a
// reduced one), and its restaurant's topic, from the image (new, or old
// for a removal). A reduced event has no image, so it reaches orderUpdated
// only; the fan-out reads the table's stream, whose records always have
// their images.
func ChangeTopics(e change.Event) []string {
	if e.Table != orders.OrdersTable {
		return nil
	}
	id, err := orders.IDOf(e)
	if err != nil {
		return nil
	}
	topics := []string{OrderTopic(id)}
	img := e.New
	if len(img) == 0 {
		img = e.Old
	}
	var o struct {
		RestaurantID string `json:"restaurantId"`
	}
	if len(img) > 0 && json.Unmarshal(img, &o) == nil && o.RestaurantID != "" {
		topics = append(topics, RestaurantTopic(o.RestaurantID))
	}
	return topics
}

// OrderTopic is the topic of orderUpdated(id).
func OrderTopic(id string) string { return "orderUpdated:" + id }

// RestaurantTopic is the topic of restaurantOrderUpdated(restaurantId).
func RestaurantTopic(restaurantID string) string { return "restaurantOrders:" + restaurantID }

func stringArg(args map[string]any, name string) (string, error) {
	v, ok := args[name]
	if !ok || v == nil {
		return "", errs.Newf(errs.BadUserInput, "argument %q missing", name)
	}
	var s string
	switch t := v.(type) {
	case string:
		s = t
	case graphql.ID:
		s = string(t)
	case fmt.Stringer:
		s = t.String()
	default:
		return "", errs.Newf(errs.BadUserInput, "argument %q must be a string", name)
	}
	if s == "" || len(s) > maxIDLen {
		return "", errs.Newf(errs.BadUserInput, "argument %q must be 1 to %d characters", name, maxIDLen)
	}
	return s, nil
}
