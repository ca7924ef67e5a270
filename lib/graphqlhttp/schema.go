package graphqlhttp

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"

	graphql "github.com/graph-gophers/graphql-go"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"
	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/errs"
)

// ParseSchema parses sdl and attaches resolver, with the limits graphql-go
// enforces itself applied (parallelism, overlap validation, selections,
// query length, introspection off unless allowed) and a panic handler
// that turns a resolver panic into an INTERNAL_SERVER_ERROR error carrying
// the request id, logged with its stack, instead of a crash or a stack
// trace sent to the client. Depth and cost are the Gate's to check, before
// execution (graphql-go would count introspection against the depth).
// opts are applied after those, so a caller may add graphql-go options
// such as graphql.UseFieldResolvers() or graphql.Tracer(...).
func ParseSchema(sdl string, resolver any, limits Limits, opts ...graphql.SchemaOpt) (*graphql.Schema, error) {
	if err := limits.Validate(); err != nil {
		return nil, fmt.Errorf("graphql limits: %w", err)
	}
	l := limits.withDefaults()
	all := make([]graphql.SchemaOpt, 0, 8+len(opts))
	all = append(all,
		graphql.MaxQueryLength(l.MaxQueryLength),
		graphql.MaxParallelism(l.MaxParallelism),
		graphql.OverlapValidationLimit(l.OverlapValidationLimit),
		graphql.MaxSelections(l.MaxSelections),
		graphql.PanicHandler(panicHandler{}),
		// The panic handler logs, with the request's ids; graphql-go's
		// default logger would print the context to the standard logger.
		graphql.Logger(noPanicLog{}),
	)
	if !l.AllowIntrospection {
		all = append(all, graphql.RestrictIntrospection(func(context.Context) bool { return false }))
	}
	all = append(all, opts...)
	s, err := graphql.ParseSchema(sdl, resolver, all...)
	if err != nil {
		return nil, fmt.Errorf("parse graphql schema: %w", err)
	}
	return s, nil
}

type noPanicLog struct{}

func (noPanicLog) LogPanic(context.Context, any) {}

// errPanic marks the errors the panic handler makes.
var errPanic = errs.New(errs.InternalServerError, "internal error")

type panicHandler struct{}

// MakePanicError runs inside graphql-go's deferred recover, so the stack
// it logs still shows where the panic happened.
func (panicHandler) MakePanicError(ctx context.Context, value any) *gqlerrors.QueryError {
	ri := requestInfoFrom(ctx)
	id := ri.id
	if id == "" {
		// Not served by a Handler (a WebSocket subscription): the
		// correlation id still lets support find the log line.
		if id = correlation.From(ctx); id == "" {
			id = correlation.NewID()
		}
	}
	attrs := []slog.Attr{
		slog.String("requestId", id),
		slog.String("panic", fmt.Sprint(value)),
		slog.String("stack", string(debug.Stack())),
	}
	logCtx := ctx // the default logger adds the correlation id from ctx
	if ri.parent != nil {
		logCtx = ri.parent
		attrs = append(attrs, slog.String("correlationId", correlation.From(ctx)))
	}
	ri.logger().LogAttrs(logCtx, slog.LevelError, "graphql resolver panic", attrs...)
	return &gqlerrors.QueryError{
		Err:     errPanic,
		Message: errPanic.Message,
		Extensions: map[string]any{
			"code":      string(errs.InternalServerError),
			"requestId": id,
		},
	}
}

// requestInfo is what a Handler puts in the context of each request.
type requestInfo struct {
	id  string
	log *slog.Logger
	// parent is the context from before correlation.With, which the
	// Handler's records are given: they carry the correlation id as an
	// attribute of their own, and a correlation-aware log handler would
	// otherwise add it a second time.
	parent context.Context
}

type requestInfoKey struct{}

func requestInfoFrom(ctx context.Context) *requestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	if ri == nil {
		return &requestInfo{}
	}
	return ri
}

// RequestID is the id of the request ctx belongs to: API Gateway's
// requestContext.requestId or one the Handler generated. It is "" outside
// a request served by a Handler.
func RequestID(ctx context.Context) string {
	return requestInfoFrom(ctx).id
}

var defaultLogger = sync.OnceValue(correlation.Logger)

func (ri *requestInfo) logger() *slog.Logger {
	if ri.log != nil {
		return ri.log
	}
	return defaultLogger()
}
