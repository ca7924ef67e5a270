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
	"sync"
	"time"

	graphql "github.com/graph-gophers/graphql-go"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"
	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/gqldoc"
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
	gate   *Gate
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
	gate, err := NewGate(schema, cfg.Limits, h.log)
	if err != nil {
		return nil, err
	}
	h.gate = gate
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
	opKind  gqldoc.Kind
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
				h.writeError(w, &out, http.StatusInternalServerError, errs.InternalServerError, internalMessage)
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
			h.writeError(w, out, http.StatusNotAcceptable, errs.NotAcceptable, "the Accept header allows neither "+MediaTypeGraphQLResponse+" nor "+MediaTypeJSON)
			return
		}
		if !isJSONContentType(r.Header.Get("Content-Type")) {
			h.writeError(w, out, http.StatusUnsupportedMediaType, errs.UnsupportedMediaType, "send the request as "+MediaTypeJSON)
			return
		}
		limit := h.cfg.MaxBodyBytes
		if r.ContentLength > limit {
			h.writeError(w, out, http.StatusRequestEntityTooLarge, errs.PayloadTooLarge, bodyTooLarge(limit))
			return
		}
		if _, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1)); err != nil {
			h.writeError(w, out, http.StatusBadRequest, errs.BadRequest, "could not read the request body")
			return
		}
		if int64(buf.Len()) > limit {
			h.writeError(w, out, http.StatusRequestEntityTooLarge, errs.PayloadTooLarge, bodyTooLarge(limit))
			return
		}
		if err := json.Unmarshal(buf.Bytes(), &p); err != nil {
			h.writeError(w, out, http.StatusBadRequest, errs.BadRequest, "the body is not a JSON GraphQL request: "+jsonProblem(err))
			return
		}
		if !isObjectOrNull(p.Extensions) {
			h.writeError(w, out, http.StatusBadRequest, errs.BadRequest, "extensions must be an object")
			return
		}
	case http.MethodGet:
		qs, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			h.writeError(w, out, http.StatusBadRequest, errs.BadRequest, "malformed query string")
			return
		}
		if m == mediaNone {
			h.writeError(w, out, http.StatusNotAcceptable, errs.NotAcceptable, "the Accept header allows neither "+MediaTypeGraphQLResponse+" nor "+MediaTypeJSON)
			return
		}
		if !h.cfg.AllowGET {
			w.Header()["Allow"] = h.allow
			h.writeError(w, out, http.StatusMethodNotAllowed, errs.MethodNotAllowed, "send GraphQL requests with POST")
			return
		}
		p.Query = qs.Get("query")
		p.OperationName = qs.Get("operationName")
		if v := qs.Get("variables"); v != "" {
			if err := json.Unmarshal([]byte(v), &p.Variables); err != nil {
				h.writeError(w, out, http.StatusBadRequest, errs.BadRequest, "variables must be a JSON object")
				return
			}
		}
		if e := qs.Get("extensions"); e != "" && (!json.Valid([]byte(e)) || !isObjectOrNull([]byte(e))) {
			h.writeError(w, out, http.StatusBadRequest, errs.BadRequest, "extensions must be a JSON object")
			return
		}
	default:
		w.Header()["Allow"] = h.allow
		h.writeError(w, out, http.StatusMethodNotAllowed, errs.MethodNotAllowed, "method "+r.Method+" is not allowed")
		return
	}
	out.opName = p.OperationName

	if p.Query == "" {
		h.writeError(w, out, http.StatusBadRequest, errs.BadRequest, "the request has no query")
		return
	}
	op, refused := h.gate.Read(p.Query, p.OperationName)
	if refused != nil {
		// Nothing runs, over GET or POST: the document does not parse or
		// does not select one operation.
		h.writeResult(ctx, w, out, nil, []*gqlerrors.QueryError{refused})
		return
	}
	defer h.gate.Release(op)
	out.opKind = op.Kind
	if out.opName == "" {
		out.opName = op.Name
	}
	if r.Method == http.MethodGet && op.Kind != gqldoc.Query {
		w.Header()["Allow"] = hdrAllowPost
		h.writeError(w, out, http.StatusMethodNotAllowed, errs.MethodNotAllowed, "a "+op.Kind.String()+" must be sent with POST")
		return
	}
	if op.Kind == gqldoc.Subscription {
		h.writeRefused(w, out, errs.OperationNotSupported, "subscriptions are served over WebSocket (graphql-transport-ws), not HTTP")
		return
	}
	vars, refusals := h.gate.Check(op, p.Variables)
	if refusals != nil {
		h.writeResult(ctx, w, out, nil, refusals)
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
	resp := h.schema.Exec(ctx, p.Query, p.OperationName, vars)

	h.writeResult(ctx, w, out, resp.Data, resp.Errors)
}

// writeResult sends what graphql-go answered, or the Gate's refusal. Data
// is nil when nothing executed (the document did not parse, validate or
// pass the limits, or named no operation) and when the context ended
// during execution: then its one error says so.
func (h *Handler) writeResult(ctx context.Context, w http.ResponseWriter, out *outcome, data json.RawMessage, errors []*gqlerrors.QueryError) {
	executed := data != nil
	out.errors = len(errors)
	buf := bufPool.Get().(*bytes.Buffer)
	defer putBuf(buf)
	buf.Reset()
	h.gate.writeResponse(ctx, buf, out.opName, data, errors)
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
