package gateway

import (
	"context"
	"fmt"

	"github.com/graph-gophers/graphql-go"

	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/topology"
)

// OrderUpdated resolves the orderUpdated subscription for one change: the
// realtime fan-out runs a stored subscription with the change in ctx
// (realtime.WithChange). When it is a change of this order that leaves an
// order, the channel yields that order once; otherwise it closes empty.
// An event reduced for size has no images: the order is then read from
// the table (strongly consistent, so at least as new as the change).
func (r *Resolver) OrderUpdated(ctx context.Context, args struct{ ID graphql.ID }) (<-chan *OrderResolver, error) {
	ch := make(chan *OrderResolver, 1)
	defer close(ch)
	e, ok := realtime.ChangeFrom(ctx)
	if !ok || e.Table != orders.OrdersTable || e.Operation == topology.Remove {
		return ch, nil
	}
	if e.Reduced {
		if id, err := orders.IDOf(e); err != nil || id != string(args.ID) {
			return ch, nil
		}
		o, err := r.store.Order(ctx, string(args.ID))
		if err != nil {
			// Nothing to push: a removed order, or the table unreachable,
			// which the fan-out's own logs will show.
			r.log.WarnContext(ctx, "orderUpdated: read order of a reduced change", "eventId", e.ID, "error", err.Error())
			return ch, nil
		}
		ch <- &OrderResolver{o: o}
		return ch, nil
	}
	c, err := change.Decode[orders.Order](e)
	if err != nil {
		r.log.WarnContext(ctx, "orderUpdated: undecodable change", "eventId", e.ID, "error", err.Error())
		return ch, nil
	}
	if c.NewItem != nil && c.NewItem.ID == string(args.ID) {
		ch <- &OrderResolver{o: *c.NewItem}
	}
	return ch, nil
}

// SubscriptionTopic is the topic of a subscription to field with args,
// e.g. "orderUpdated:ord_123".
func SubscriptionTopic(field string, args map[string]any) (string, error) {
	switch field {
	case "orderUpdated":
		id, err := stringArg(args, "id")
		if err != nil {
			return "", fmt.Errorf("orderUpdated: %w", err)
		}
		return OrderTopic(id), nil
	}
	return "", fmt.Errorf("no subscription field %q", field)
}

// ChangeTopics are the topics a change concerns: for an order, its
// orderUpdated topic. The id comes from the keys, which every event keeps
// (even a reduced one).
func ChangeTopics(e change.Event) []string {
	if e.Table != orders.OrdersTable {
		return nil
	}
	id, err := orders.IDOf(e)
	if err != nil {
		return nil
	}
	return []string{OrderTopic(id)}
}

// OrderTopic is the topic of orderUpdated(id).
func OrderTopic(id string) string { return "orderUpdated:" + id }

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
