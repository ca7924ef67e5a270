package realtime

import (
	"context"

	"github.com/threefactor/framework/lib/change"
)

type changeKey struct{}

// WithChange returns ctx carrying the change a subscription is being run
// for. The fan-out sets it before running a stored subscription operation.
func WithChange(ctx context.Context, e change.Event) context.Context {
	return context.WithValue(ctx, changeKey{}, e)
}

// ChangeFrom is the change a subscription resolver is being run for. A
// subscription resolver reads it, emits the value the change produced (or
// nothing, when the change does not concern this subscription or the
// subscriber may not see it) and closes its channel. When there is none
// the subscription is starting (the Handler runs it once before storing
// it): the resolver authorizes the subscriber, returning an error to
// refuse it, and yields nothing.
func ChangeFrom(ctx context.Context) (change.Event, bool) {
	e, ok := ctx.Value(changeKey{}).(change.Event)
	return e, ok
}
