package graphqlhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	graphql "github.com/graph-gophers/graphql-go"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"

	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/gqldoc"
)

// MaxIntrospectionLists is how many list fields may nest within an
// introspection field: graphql-js's introspection query nests three
// (types, fields, args), and each further level multiplies the answer by
// the size of the schema.
const MaxIntrospectionLists = 3

// Gate is what both GraphQL transports put in front of graphql-go: the
// Handler here over HTTP, and lib/realtime over WebSocket. It reads a
// request's document once (package gqldoc), refuses what must not run
// with a coded error (too long, not GraphQL, no such operation,
// introspection when it is off, too deep, too costly, variables that do
// not coerce), and turns what graphql-go answers into errors a client may
// see: each with extensions.code, and an internal error's detail replaced
// by a safe message and the request id, the detail going to the log.
//
// A Gate is safe for concurrent use.
type Gate struct {
	schema *graphql.Schema
	info   *gqldoc.Schema
	limits Limits
	log    *slog.Logger
	docs   sync.Pool
}

// NewGate makes a Gate for schema, which should have been built by
// ParseSchema with limits. log receives internal errors; nil selects
// correlation.Logger().
func NewGate(schema *graphql.Schema, limits Limits, log *slog.Logger) (*Gate, error) {
	if schema == nil {
		return nil, errors.New("graphqlhttp: nil schema")
	}
	if err := limits.Validate(); err != nil {
		return nil, fmt.Errorf("graphql limits: %w", err)
	}
	if log == nil {
		log = defaultLogger()
	}
	g := &Gate{schema: schema, info: gqldoc.NewSchema(schema.AST()), limits: limits.withDefaults(), log: log}
	g.docs.New = func() any { return new(gqldoc.Document) }
	return g, nil
}

// Schema is the schema the Gate guards.
func (g *Gate) Schema() *graphql.Schema { return g.schema }

// errRefused marks the errors a Gate makes when it refuses a request.
var errRefused = errors.New("refused before execution")

func refusal(code errs.Code, message string, locs []gqldoc.Location) *gqlerrors.QueryError {
	e := &gqlerrors.QueryError{Err: errRefused, Message: message, Extensions: map[string]any{"code": string(code)}}
	for _, l := range locs {
		e.Locations = append(e.Locations, gqlerrors.Location{Line: l.Line, Column: l.Column})
	}
	return e
}

// NewError is an error the Gate passes on to clients as it is: a
// transport's own refusal, such as realtime's TOO_MANY_SUBSCRIPTIONS.
func NewError(code errs.Code, message string) *gqlerrors.QueryError {
	return refusal(code, message, nil)
}

// Read parses query and selects the operation operationName names (or its
// only one). A query longer than Limits.MaxQueryLength is QUERY_TOO_LARGE,
// a syntax error GRAPHQL_PARSE_FAILED, no such operation
// GRAPHQL_VALIDATION_FAILED. Give the operation back with Release once the
// request is done with it (its strings point into memory Read reuses).
func (g *Gate) Read(query, operationName string) (gqldoc.Operation, *gqlerrors.QueryError) {
	if limit := g.limits.MaxQueryLength; limit > 0 && len(query) > limit {
		return gqldoc.Operation{}, refusal(errs.QueryTooLarge,
			"the query is "+strconv.Itoa(len(query))+" bytes long, more than the "+strconv.Itoa(limit)+" allowed", nil)
	}
	d := g.docs.Get().(*gqldoc.Document)
	if err := d.Parse(query); err != nil {
		g.docs.Put(d)
		return gqldoc.Operation{}, docRefusal(err)
	}
	op, err := d.Operation(operationName)
	if err != nil {
		g.docs.Put(d)
		return gqldoc.Operation{}, docRefusal(err)
	}
	return op, nil
}

// Release gives back the memory of an operation Read returned.
func (g *Gate) Release(op gqldoc.Operation) {
	if d := op.Document(); d != nil {
		g.docs.Put(d)
	}
}

func docRefusal(err error) *gqlerrors.QueryError {
	var e *gqldoc.Error
	if !errors.As(err, &e) {
		return refusal(errs.GraphQLValidationFailed, err.Error(), nil)
	}
	code := errs.GraphQLValidationFailed
	switch e.Kind {
	case gqldoc.Syntax:
		code = errs.GraphQLParseFailed
	case gqldoc.BadVariables:
		code = errs.BadUserInput
	}
	return refusal(code, e.Message, e.Locations)
}

// Check applies the limits to op and coerces variables to the types op
// declares: introspection when AllowIntrospection is off is
// INTROSPECTION_DISABLED; nesting deeper than MaxDepth (introspection
// aside) or lists nested deeper than MaxIntrospectionLists within
// introspection is QUERY_TOO_DEEP; a cost over MaxCost is
// QUERY_TOO_COMPLEX (extensions.cost and maxCost say by how much); a
// variable that does not coerce is BAD_USER_INPUT; an unknown fragment, a
// fragment cycle or a literal graphql-go could not decode is
// GRAPHQL_VALIDATION_FAILED. It returns the variables to execute with.
func (g *Gate) Check(op gqldoc.Operation, variables map[string]any) (map[string]any, []*gqlerrors.QueryError) {
	fig, err := g.info.Measure(op)
	if err != nil {
		return nil, []*gqlerrors.QueryError{docRefusal(err)}
	}
	l := g.limits
	switch {
	case fig.Introspection && !l.AllowIntrospection:
		return nil, one(refusal(errs.IntrospectionDisabled, "introspection is disabled", nil))
	case l.MaxDepth > 0 && fig.Depth > l.MaxDepth:
		return nil, one(refusal(errs.QueryTooDeep,
			"fields nest "+strconv.Itoa(fig.Depth)+" deep, more than the "+strconv.Itoa(l.MaxDepth)+" allowed", nil))
	case fig.IntrospectionLists > MaxIntrospectionLists:
		return nil, one(refusal(errs.QueryTooDeep,
			"introspection nests "+strconv.Itoa(fig.IntrospectionLists)+" lists, more than the "+strconv.Itoa(MaxIntrospectionLists)+" allowed", nil))
	case l.MaxCost > 0 && fig.Cost > l.MaxCost:
		e := refusal(errs.QueryTooComplex,
			"the query's estimated cost is "+strconv.Itoa(fig.Cost)+", more than the "+strconv.Itoa(l.MaxCost)+" allowed", nil)
		e.Extensions["cost"], e.Extensions["maxCost"] = fig.Cost, l.MaxCost
		return nil, one(e)
	}
	vars, err := g.info.CoerceVariables(op, variables)
	if err != nil {
		var list gqldoc.Errors
		if !errors.As(err, &list) {
			return nil, one(docRefusal(err))
		}
		out := make([]*gqlerrors.QueryError, len(list))
		for i, e := range list {
			out[i] = docRefusal(e)
		}
		return nil, out
	}
	return vars, nil
}

func one(e *gqlerrors.QueryError) []*gqlerrors.QueryError { return []*gqlerrors.QueryError{e} }

// Response is the GraphQL response (a JSON object) for what graphql-go
// answered: data nil when it did not execute. Errors are as clients may
// see them.
func (g *Gate) Response(ctx context.Context, operationName string, data json.RawMessage, qerrs []*gqlerrors.QueryError) []byte {
	var buf bytes.Buffer
	g.writeResponse(ctx, &buf, operationName, data, qerrs)
	return buf.Bytes()
}

// Errors is errors as a JSON array of errors clients may see: the payload
// of a graphql-transport-ws error message.
func (g *Gate) Errors(ctx context.Context, operationName string, qerrs []*gqlerrors.QueryError) []byte {
	var buf bytes.Buffer
	g.writeErrors(ctx, &buf, operationName, qerrs, false)
	return buf.Bytes()
}

func (g *Gate) writeResponse(ctx context.Context, buf *bytes.Buffer, opName string, data json.RawMessage, qerrs []*gqlerrors.QueryError) {
	executed := data != nil
	buf.WriteByte('{')
	if len(qerrs) > 0 {
		buf.WriteString(`"errors":`)
		g.writeErrors(ctx, buf, opName, qerrs, executed)
		if executed {
			buf.WriteByte(',')
		}
	}
	if executed {
		buf.WriteString(`"data":`)
		buf.Write(data)
	}
	buf.WriteByte('}')
}

func (g *Gate) writeErrors(ctx context.Context, buf *bytes.Buffer, opName string, qerrs []*gqlerrors.QueryError, executed bool) {
	buf.WriteByte('[')
	for i, e := range qerrs {
		if i > 0 {
			buf.WriteByte(',')
		}
		g.appendError(ctx, buf, opName, e, executed)
	}
	buf.WriteByte(']')
}

// errorEntry is one error as clients see it.
type errorEntry struct {
	Message    string               `json:"message"`
	Locations  []gqlerrors.Location `json:"locations,omitempty"`
	Path       []any                `json:"path,omitempty"`
	Extensions map[string]any       `json:"extensions,omitempty"`
}

// requestIDOf is the id that ties a client's error to the log: the
// request id over HTTP, the message's correlation id over WebSocket.
func requestIDOf(ctx context.Context) string {
	if id := requestInfoFrom(ctx).id; id != "" {
		return id
	}
	return correlation.From(ctx)
}

const internalMessage = "internal error"

// appendError writes e as clients may see it.
func (g *Gate) appendError(ctx context.Context, buf *bytes.Buffer, opName string, e *gqlerrors.QueryError, executed bool) {
	entry := errorEntry{Message: e.Message, Locations: e.Locations, Path: e.Path}
	var code errs.Code
	switch {
	case e.Err == errRefused, e.Err == errPanic:
		// Made here or by the panic handler: code (and request id) set.
		entry.Extensions = e.Extensions
	case e.ResolverError != nil:
		err := e.ResolverError
		var own *errs.Error
		if !errors.As(err, &own) && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
			code, entry.Message = errs.Timeout, "the request timed out"
			break
		}
		code, entry.Message = errs.CodeOf(err), errs.MessageOf(err)
		if code == errs.InternalServerError {
			g.logInternal(ctx, opName, e, err.Error())
			break
		}
		if len(e.Extensions) > 0 {
			// The error chose these itself (an Extensions method).
			entry.Extensions = make(map[string]any, len(e.Extensions)+1)
			for k, v := range e.Extensions {
				entry.Extensions[k] = v
			}
		}
	case errors.Is(e, gqlerrors.ErrSyntax):
		code = errs.GraphQLParseFailed
	case e.Rule == "MaxDepthExceeded":
		code = errs.QueryTooDeep
	case e.Rule == "OverlapValidationLimitExceeded", errors.Is(e, graphql.ErrTooManySelections):
		code = errs.QueryTooComplex
	case errors.Is(e, context.DeadlineExceeded), errors.Is(e, context.Canceled):
		code, entry.Message = errs.Timeout, "the request timed out"
	case strings.HasPrefix(e.Message, "query length "): // graphql-go's own MaxQueryLength check
		code = errs.QueryTooLarge
	case e.Rule == "VariablesOfCorrectType":
		code = errs.BadUserInput
	case !executed:
		code = errs.GraphQLValidationFailed
	case len(e.Path) == 0:
		// graphql-go could not read an argument into its Go type (a custom
		// scalar refused it): the client's input. Its message names Go
		// types, so the client gets a plain one.
		g.log.LogAttrs(g.logContext(ctx), slog.LevelInfo, "graphql argument refused",
			slog.String("requestId", requestIDOf(ctx)), slog.String("correlationId", correlation.From(ctx)),
			slog.String("operationName", opName), slog.String("error", e.Message))
		code, entry.Message = errs.BadUserInput, "an argument's value is not valid for its type"
	default:
		// graphql-go's own execution errors at a field (a null in a
		// non-null field, an enum value the schema does not have): a
		// server bug, for the logs.
		g.logInternal(ctx, opName, e, e.Message)
		code, entry.Message = errs.InternalServerError, internalMessage
	}
	if code != "" {
		if entry.Extensions == nil {
			entry.Extensions = make(map[string]any, 2)
		}
		entry.Extensions["code"] = string(code)
		if code == errs.InternalServerError {
			entry.Extensions["requestId"] = requestIDOf(ctx)
		}
	}
	b, err := json.Marshal(entry)
	if err != nil {
		// Extensions an error chose may not marshal; the code always does.
		b, _ = json.Marshal(errorEntry{Message: entry.Message, Locations: entry.Locations, Path: entry.Path,
			Extensions: map[string]any{"code": string(code)}})
	}
	buf.Write(b)
}

func (g *Gate) logInternal(ctx context.Context, opName string, e *gqlerrors.QueryError, detail string) {
	g.log.LogAttrs(g.logContext(ctx), slog.LevelError, "graphql resolver error",
		slog.String("requestId", requestIDOf(ctx)),
		slog.String("correlationId", correlation.From(ctx)),
		slog.String("operationName", opName),
		slog.String("path", formatPath(e.Path)),
		slog.String("error", detail),
	)
}

// logContext is the context records are logged with: over HTTP the one
// from before correlation.With (the record carries the id itself).
func (g *Gate) logContext(ctx context.Context) context.Context {
	if ri := requestInfoFrom(ctx); ri.parent != nil {
		return ri.parent
	}
	return context.Background()
}

// formatPath writes a response path the way clients show it: hero.friends.0.name.
func formatPath(path []any) string {
	var b strings.Builder
	for i, p := range path {
		if i > 0 {
			b.WriteByte('.')
		}
		fmt.Fprint(&b, p)
	}
	return b.String()
}
