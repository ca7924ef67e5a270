package graphqlhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	graphql "github.com/graph-gophers/graphql-go"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"
	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/errs"
)

// Media types of responses.
const (
	MediaTypeGraphQLResponse = "application/graphql-response+json"
	MediaTypeJSON            = "application/json"
)

// Header values shared by every response; net/http never modifies them.
var (
	hdrGraphQLResponse = []string{MediaTypeGraphQLResponse + "; charset=utf-8"}
	hdrJSON            = []string{MediaTypeJSON + "; charset=utf-8"}
	hdrHTML            = []string{"text/html; charset=utf-8"}
	hdrVaryAccept      = []string{"Accept"}
	hdrNoSniff         = []string{"nosniff"}
	hdrNoStore         = []string{"no-store"}
	hdrAllowPost       = []string{http.MethodPost}
	hdrAllowGetPost    = []string{http.MethodGet + ", " + http.MethodPost}
)

// Handler serves GraphQL over HTTP. Make one with New; it is safe for
// concurrent use.
type Handler struct {
	schema *graphql.Schema
	cfg    Config
	log    *slog.Logger
	allow  []string
}

// New makes a Handler for schema, which should have been built by
// ParseSchema with cfg.Limits. It reports an invalid cfg.
func New(schema *graphql.Schema, cfg Config) (*Handler, error) {
	if schema == nil {
		return nil, errors.New("graphqlhttp: nil schema")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("graphqlhttp config: %w", err)
	}
	cfg = cfg.withDefaults()
	h := &Handler{schema: schema, cfg: cfg, log: cfg.Logger, allow: hdrAllowPost}
	if h.log == nil {
		h.log = defaultLogger()
	}
	if cfg.AllowGET {
		h.allow = hdrAllowGetPost
	}
	return h, nil
}

// outcome is what the request record logs.
type outcome struct {
	status  int
	media   media
	opName  string
	opKind  opKind
	errors  int
	written bool
}

// ServeHTTP serves one GraphQL request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	parent := r.Context()
	ri := &requestInfo{id: gatewayRequestID(parent), log: h.log, parent: parent}
	if ri.id == "" {
		ri.id = correlation.NewID()
	}
	cid := r.Header.Get(correlation.Header)
	if !correlation.Valid(cid) {
		cid = ri.id
	}
	ctx := correlation.With(context.WithValue(parent, requestInfoKey{}, ri), cid)

	hdr := w.Header()
	hdr["X-Request-Id"] = []string{ri.id}
	hdr["X-Correlation-Id"] = []string{cid}
	hdr["Vary"] = hdrVaryAccept

	var out outcome
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.LogAttrs(parent, slog.LevelError, "graphql handler panic",
				slog.String("requestId", ri.id), slog.String("correlationId", cid),
				slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))
			if !out.written {
				h.writeError(w, &out, http.StatusInternalServerError, errs.Internal, "internal error")
			} else {
				out.status = http.StatusInternalServerError
			}
		}
		lvl := slog.LevelInfo
		if out.status >= 500 {
			lvl = slog.LevelError
		}
		h.log.LogAttrs(parent, lvl, "graphql request",
			slog.String("requestId", ri.id),
			slog.String("correlationId", cid),
			slog.String("method", r.Method),
			slog.String("operationName", out.opName),
			slog.String("operationType", out.opKind.String()),
			slog.Int("status", out.status),
			slog.Int("errors", out.errors),
			slog.Float64("durationMs", float64(time.Since(start).Microseconds())/1000),
		)
	}()
	h.serve(ctx, w, r, &out)
}

// params is a GraphQL-over-HTTP request.
type params struct {
	Query         string          `json:"query"`
	OperationName string          `json:"operationName"`
	Variables     map[string]any  `json:"variables"`
	Extensions    json.RawMessage `json:"extensions"`
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledBuffer = 64 << 10

func putBuf(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBuffer {
		b.Reset()
		bufPool.Put(b)
	}
}

func (h *Handler) serve(ctx context.Context, w http.ResponseWriter, r *http.Request, out *outcome) {
	m, _ := negotiate(r.Header["Accept"])
	out.media = m
	var p params
	buf := bufPool.Get().(*bytes.Buffer)
	defer putBuf(buf)

	switch r.Method {
	case http.MethodPost:
		if m == mediaNone {
			h.writeError(w, out, http.StatusNotAcceptable, CodeNotAcceptable, "the Accept header allows neither "+MediaTypeGraphQLResponse+" nor "+MediaTypeJSON)
			return
		}
		if !isJSONContentType(r.Header.Get("Content-Type")) {
			h.writeError(w, out, http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "send the request as "+MediaTypeJSON)
			return
		}
		limit := h.cfg.MaxBodyBytes
		if r.ContentLength > limit {
			h.writeError(w, out, http.StatusRequestEntityTooLarge, CodePayloadTooLarge, bodyTooLarge(limit))
			return
		}
		if _, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1)); err != nil {
			h.writeError(w, out, http.StatusBadRequest, CodeBadRequest, "could not read the request body")
			return
		}
		if int64(buf.Len()) > limit {
			h.writeError(w, out, http.StatusRequestEntityTooLarge, CodePayloadTooLarge, bodyTooLarge(limit))
			return
		}
		if err := json.Unmarshal(buf.Bytes(), &p); err != nil {
			h.writeError(w, out, http.StatusBadRequest, CodeBadRequest, "the body is not a JSON GraphQL request: "+jsonProblem(err))
			return
		}
		if !isObjectOrNull(p.Extensions) {
			h.writeError(w, out, http.StatusBadRequest, CodeBadRequest, "extensions must be an object")
			return
		}
	case http.MethodGet:
		qs, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			h.writeError(w, out, http.StatusBadRequest, CodeBadRequest, "malformed query string")
			return
		}
		if m == mediaNone {
			h.writeError(w, out, http.StatusNotAcceptable, CodeNotAcceptable, "the Accept header allows neither "+MediaTypeGraphQLResponse+" nor "+MediaTypeJSON)
			return
		}
		if !h.cfg.AllowGET {
			w.Header()["Allow"] = h.allow
			h.writeError(w, out, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "send GraphQL requests with POST")
			return
		}
		p.Query = qs.Get("query")
		p.OperationName = qs.Get("operationName")
		if v := qs.Get("variables"); v != "" {
			if err := json.Unmarshal([]byte(v), &p.Variables); err != nil {
				h.writeError(w, out, http.StatusBadRequest, CodeBadRequest, "variables must be a JSON object")
				return
			}
		}
		if e := qs.Get("extensions"); e != "" && (!json.Valid([]byte(e)) || !isObjectOrNull([]byte(e))) {
			h.writeError(w, out, http.StatusBadRequest, CodeBadRequest, "extensions must be a JSON object")
			return
		}
	default:
		w.Header()["Allow"] = h.allow
		h.writeError(w, out, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method "+r.Method+" is not allowed")
		return
	}
	out.opName = p.OperationName

	if p.Query == "" {
		h.writeError(w, out, http.StatusBadRequest, CodeBadRequest, "the request has no query")
		return
	}
	if limit := h.cfg.Limits.MaxQueryLength; limit > 0 && len(p.Query) > limit {
		h.writeRefused(w, out, CodeQueryTooLarge, "the query is "+strconv.Itoa(len(p.Query))+" bytes long, more than the "+strconv.Itoa(limit)+" allowed")
		return
	}
	doc := scanDocument(p.Query, p.OperationName)
	out.opKind = doc.kind
	if out.opName == "" {
		out.opName = doc.name
	}
	if r.Method == http.MethodGet && doc.kind == opUnknown {
		// GET must never run a mutation, so a document whose operation
		// the scanner cannot tell is not run: graphql-go's validation
		// explains what is wrong with it, or it is refused.
		if errs := h.schema.ValidateWithVariables(p.Query, p.Variables); len(errs) > 0 {
			h.writeResult(ctx, w, out, nil, errs)
			return
		}
		h.writeRefused(w, out, CodeValidationFailed, "cannot tell which operation to run over GET: name exactly one with operationName, or use POST")
		return
	}
	if r.Method == http.MethodGet && (doc.kind == opMutation || doc.kind == opSubscription) {
		w.Header()["Allow"] = hdrAllowPost
		h.writeError(w, out, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "a "+doc.kind.String()+" must be sent with POST")
		return
	}
	if doc.kind == opSubscription {
		h.writeRefused(w, out, CodeOperationNotSupported, "subscriptions are served over WebSocket (graphql-transport-ws), not HTTP")
		return
	}
	if doc.introspection && !h.cfg.Limits.AllowIntrospection {
		h.writeRefused(w, out, CodeIntrospectionDisabled, "introspection is disabled")
		return
	}

	if h.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.cfg.Timeout)
		defer cancel()
	}
	if h.cfg.Context != nil {
		ctx = h.cfg.Context(ctx, r)
	}
	resp := h.schema.Exec(ctx, p.Query, p.OperationName, p.Variables)

	h.writeResult(ctx, w, out, resp.Data, resp.Errors)
}

// writeResult sends what graphql-go answered. It leaves data nil when it
// did not execute (the document did not parse or validate, or named no
// operation) and when the context ended during execution: then its one
// error says so.
func (h *Handler) writeResult(ctx context.Context, w http.ResponseWriter, out *outcome, data json.RawMessage, errors []*gqlerrors.QueryError) {
	executed := data != nil
	out.errors = len(errors)
	buf := bufPool.Get().(*bytes.Buffer)
	defer putBuf(buf)
	buf.Reset()
	buf.WriteByte('{')
	if len(errors) > 0 {
		buf.WriteString(`"errors":[`)
		for i, e := range errors {
			if i > 0 {
				buf.WriteByte(',')
			}
			h.appendError(ctx, buf, e, executed, out)
		}
		buf.WriteByte(']')
		if executed {
			buf.WriteByte(',')
		}
	}
	if executed {
		buf.WriteString(`"data":`)
		buf.Write(data)
	}
	buf.WriteByte('}')
	status := http.StatusOK
	if !executed && out.media == mediaGraphQLResponse {
		status = http.StatusBadRequest
		if timedOut(errors) {
			status = http.StatusGatewayTimeout
		}
	}
	h.write(w, out, status, buf.Bytes())
}

// timedOut reports graphql-go's answer to a context that ended while it
// executed: no data, and the context's error alone.
func timedOut(errs []*gqlerrors.QueryError) bool {
	return len(errs) == 1 && errs[0].ResolverError == nil &&
		(errors.Is(errs[0], context.DeadlineExceeded) || errors.Is(errs[0], context.Canceled))
}

func bodyTooLarge(limit int64) string {
	return "the body is longer than the " + strconv.FormatInt(limit, 10) + " bytes allowed"
}

// jsonProblem describes a JSON error without echoing the body.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return te.Field + " has the wrong type"
		}
		return "not a JSON object"
	}
	return "malformed JSON"
}

func isObjectOrNull(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || raw[0] == '{' || string(raw) == "null"
}

// write sends a JSON body in the negotiated media type.
func (h *Handler) write(w http.ResponseWriter, out *outcome, status int, body []byte) {
	hdr := w.Header()
	if out.media == mediaGraphQLResponse {
		hdr["Content-Type"] = hdrGraphQLResponse
	} else {
		hdr["Content-Type"] = hdrJSON
	}
	hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	hdr["X-Content-Type-Options"] = hdrNoSniff
	out.status = status
	out.written = true
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeError answers a request that was refused before GraphQL got to it.
func (h *Handler) writeError(w http.ResponseWriter, out *outcome, status int, code errs.Code, message string) {
	out.errors = 1
	body, _ := json.Marshal(errorBody{Errors: []errorEntry{{Message: message, Extensions: map[string]any{"code": code}}}})
	h.write(w, out, status, body)
}

// writeRefused answers a well-formed request whose document is refused
// before execution: a GraphQL error, like a validation failure.
func (h *Handler) writeRefused(w http.ResponseWriter, out *outcome, code errs.Code, message string) {
	status := http.StatusOK
	if out.media == mediaGraphQLResponse {
		status = http.StatusBadRequest
	}
	h.writeError(w, out, status, code, message)
}

type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

// errorEntry is one error as clients see it.
type errorEntry struct {
	Message    string               `json:"message"`
	Locations  []gqlerrors.Location `json:"locations,omitempty"`
	Path       []any                `json:"path,omitempty"`
	Extensions map[string]any       `json:"extensions,omitempty"`
}

// appendError writes e as clients may see it: with a code, and with a
// resolver's internal detail replaced by its client-safe message.
func (h *Handler) appendError(ctx context.Context, buf *bytes.Buffer, e *gqlerrors.QueryError, executed bool, out *outcome) {
	entry := errorEntry{Message: e.Message, Locations: e.Locations, Path: e.Path}
	var code errs.Code
	switch {
	case e.ResolverError != nil:
		err := e.ResolverError
		var own *errs.Error
		if !errors.As(err, &own) && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
			code, entry.Message = CodeTimeout, "the request timed out"
			break
		}
		code, entry.Message = errs.CodeOf(err), errs.MessageOf(err)
		if len(e.Extensions) > 0 {
			// The error chose these itself (an Extensions method).
			entry.Extensions = make(map[string]any, len(e.Extensions)+1)
			for k, v := range e.Extensions {
				entry.Extensions[k] = v
			}
		}
		if code == errs.Internal {
			h.logResolverError(ctx, e, out)
		}
	case e.Err == errPanic:
		entry.Extensions = e.Extensions // the panic handler's code and request id
	case errors.Is(e, gqlerrors.ErrSyntax):
		code = CodeParseFailed
	case e.Rule == "MaxDepthExceeded":
		code = CodeQueryTooDeep
	case e.Rule == "OverlapValidationLimitExceeded", errors.Is(e, graphql.ErrTooManySelections):
		code = CodeQueryTooComplex
	case errors.Is(e, context.DeadlineExceeded), errors.Is(e, context.Canceled):
		code, entry.Message = CodeTimeout, "the request timed out"
	case strings.HasPrefix(e.Message, "query length "): // graphql-go's own MaxQueryLength check
		code = CodeQueryTooLarge
	case !executed:
		code = CodeValidationFailed
	default:
		// graphql-go's own execution errors (a null in a non-null field,
		// an argument that would not unpack): its messages name schema
		// elements, not internal detail.
		code = errs.Internal
	}
	if code != "" {
		if entry.Extensions == nil {
			entry.Extensions = make(map[string]any, 1)
		}
		entry.Extensions["code"] = string(code)
	}
	b, err := json.Marshal(entry)
	if err != nil {
		// Extensions an error chose may not marshal; the code always does.
		b, _ = json.Marshal(errorEntry{Message: entry.Message, Locations: entry.Locations, Path: entry.Path,
			Extensions: map[string]any{"code": string(code)}})
	}
	buf.Write(b)
}

func (h *Handler) logResolverError(ctx context.Context, e *gqlerrors.QueryError, out *outcome) {
	ri := requestInfoFrom(ctx)
	h.log.LogAttrs(ri.logContext(), slog.LevelError, "graphql resolver error",
		slog.String("requestId", ri.id),
		slog.String("correlationId", correlation.From(ctx)),
		slog.String("operationName", out.opName),
		slog.String("path", formatPath(e.Path)),
		slog.String("error", e.ResolverError.Error()),
	)
}

func (ri *requestInfo) logContext() context.Context {
	if ri.parent != nil {
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
