package realtime

import (
	"bytes"
	"context"
	"fmt"
	"time"

	graphql "github.com/graph-gophers/graphql-go"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/graphqlhttp"
	"github.com/threefactor/framework/lib/realtime/store"
	"github.com/threefactor/framework/lib/topology"
)

// Render runs a stored subscription operation for one change, with the
// change in ctx (WithChange) and within timeout, and returns the results
// it yields as GraphQL response objects (errors as clients may see them,
// through gate): none when the change does not concern the subscription
// or the subscriber may not see it. ctx carries the subscriber's identity.
// The fan-out pushes with it; the Handler catches up with it.
func Render(ctx context.Context, schema *graphql.Schema, gate *graphqlhttp.Gate, sub store.Subscription, e change.Event, timeout time.Duration) ([][]byte, error) {
	ctx = WithChange(ctx, e)
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	ch, err := schema.Subscribe(ctx, sub.Query, sub.OperationName, sub.Variables)
	if err != nil {
		return nil, fmt.Errorf("run subscription %s: %w", sub.ID, err)
	}
	var out [][]byte
	for v := range ch {
		resp, ok := v.(*graphql.Response)
		if !ok {
			return out, fmt.Errorf("run subscription %s: unexpected result %T", sub.ID, v)
		}
		out = append(out, gate.Response(ctx, sub.OperationName, resp.Data, resp.Errors))
	}
	return out, nil
}

// RenderChanged is Render, except that a change that leaves unchanged
// everything the subscription selects yields nothing: for an update with
// both images, the operation also runs on the state before (a change
// whose new image is the old one), and equal results are not pushed. (An
// order's payment intent recorded changes nothing a subscriber selecting
// only its status sees.)
func RenderChanged(ctx context.Context, schema *graphql.Schema, gate *graphqlhttp.Gate, sub store.Subscription, e change.Event, timeout time.Duration) ([][]byte, error) {
	out, err := Render(ctx, schema, gate, sub, e, timeout)
	if err != nil || len(out) == 0 || e.Operation != topology.Modify || e.Reduced || len(e.Old) == 0 || len(e.New) == 0 {
		return out, err
	}
	before := e
	before.New, before.Changed = e.Old, nil
	prev, err := Render(ctx, schema, gate, sub, before, timeout)
	if err != nil || !samePayloads(out, prev) {
		return out, nil
	}
	return nil, nil
}

func samePayloads(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
