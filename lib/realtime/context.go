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

type snapshotKey struct{}

// WithSnapshot returns ctx in which a subscription resolver is asked for
// the current state: the Handler sets it when a subscription that starts
// with a snapshot (Topics.Snapshot) starts.
func WithSnapshot(ctx context.Context) context.Context {
	return context.WithValue(ctx, snapshotKey{}, true)
}

// SnapshotFrom reports whether the subscription is starting and asks for
// the current state. The resolver authorizes the subscriber as at any
// start (an error refuses the subscription) and then yields the current
// state, as the subscriber may see it, as what a push would carry: one
// value, or several for a topic over many items (each becomes a next
// message), or none when there is nothing yet.
func SnapshotFrom(ctx context.Context) bool {
	v, _ := ctx.Value(snapshotKey{}).(bool)
	return v
}
