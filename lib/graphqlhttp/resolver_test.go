package graphqlhttp_test

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"strconv"
	"sync/atomic"

	graphql "github.com/graph-gophers/graphql-go"
	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/graphqlhttp"
)

//go:embed testdata/schema.graphql
var testSDL string

// secret is what the leak resolver's error says; no response may hold it.
const secret = "dial tcp 10.0.0.7:5432: password authentication failed for user app"

type callerKey struct{}

type resolver struct {
	mutations atomic.Int64
	lists     atomic.Int64
}

func (r *resolver) Hello(args struct{ Name string }) string { return "hello " + args.Name }

func (r *resolver) Node(args struct{ Depth int32 }) *node {
	if args.Depth <= 0 {
		return nil
	}
	return &node{id: 1, left: args.Depth - 1}
}

func (r *resolver) Fail(args struct{ Code string }) (*string, error) {
	return nil, errs.New(errs.Code(args.Code), "order o1 cannot be paid yet")
}

func (r *resolver) Leak() (*string, error) {
	return nil, errors.New(secret)
}

func (r *resolver) Boom() *string { panic("nil map in " + secret) }

func (r *resolver) Ids(ctx context.Context) *ids {
	return &ids{correlationID: correlation.From(ctx), requestID: graphqlhttp.RequestID(ctx)}
}

func (r *resolver) Caller(ctx context.Context) *string {
	s, _ := ctx.Value(callerKey{}).(string)
	return &s
}

func (r *resolver) Wait(ctx context.Context) (*string, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (r *resolver) Nodes(args struct{ N int32 }) []*node {
	r.lists.Add(1)
	out := make([]*node, max(0, min(args.N, 100)))
	for i := range out {
		out[i] = &node{id: int32(i)}
	}
	return out
}

type echoInput struct {
	ID   graphql.ID
	N    *int32
	F    *float64
	On   *bool
	Tags *[]string
	Kind *string
}

func (r *resolver) Echo(args struct{ Input echoInput }) string {
	b, _ := json.Marshal(args.Input)
	return string(b)
}

func (r *resolver) EchoId(args struct{ ID graphql.ID }) graphql.ID { return args.ID }

func (r *resolver) Lost() *node { return nil }

func (r *resolver) SetGreeting(args struct{ Text string }) string {
	r.mutations.Add(1)
	return args.Text
}

func (r *resolver) Greetings(ctx context.Context) <-chan string {
	ch := make(chan string)
	close(ch)
	return ch
}

type node struct {
	id   int32
	left int32
}

func (n *node) ID() graphql.ID { return graphql.ID(strconv.Itoa(int(n.id))) }

func (n *node) Child() *node {
	if n.left <= 0 {
		return nil
	}
	return &node{id: n.id + 1, left: n.left - 1}
}

type ids struct{ correlationID, requestID string }

func (i *ids) CorrelationId() string { return i.correlationID }
func (i *ids) RequestId() string     { return i.requestID }
