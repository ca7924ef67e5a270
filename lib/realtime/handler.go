package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	apitypes "github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	graphql "github.com/graph-gophers/graphql-go"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/gqldoc"
	"github.com/threefactor/framework/lib/graphqlhttp"
	"github.com/threefactor/framework/lib/identity"
	"github.com/threefactor/framework/lib/origin"
	"github.com/threefactor/framework/lib/realtime/store"
	"github.com/threefactor/framework/lib/realtime/wsproto"
)

// Topics is the app's mapping between subscriptions, changes and topics.
// A subscription is stored under the topic of its root field; a change is
// pushed to the subscriptions stored under each of its topics.
type Topics struct {
	// Subscription is the topic of a subscription root field with its
	// arguments, e.g. "orderUpdated:<id>". An error is sent to the client
	// as the subscription's error message, with its lib/errs code and
	// client-safe message (errs.BadUserInput for an argument it refuses);
	// an error without a code is an internal one, which the client sees as
	// "internal error" with the request id, its detail going to the log.
	Subscription func(field string, args map[string]any) (string, error)
	// Change lists the topics a committed change concerns.
	Change func(e change.Event) []string
	// Snapshot names the subscription root fields that start with the
	// current state: subscribed without after, the first next messages
	// are what the resolver yields when SnapshotFrom(ctx) reports true,
	// with the cursor of the topic's log at that moment, then every later
	// change. Needs Config.Log.
	Snapshot []string
}

// AfterArgument is the root field argument a subscription resumes with:
// a field that declares it (after: String) takes the cursor of the last
// change the client received, and the subscription first delivers, in
// order, every change of its topic after it that the subscriber may see,
// then continues live with no gap and no duplicate. A cursor the log
// cannot resume from gets one error message with code RESYNC_REQUIRED.
const AfterArgument = "after"

// TopicLog is the part of the event log (an eventlog.Log) the Handler
// reads to catch a subscription up.
type TopicLog interface {
	Read(ctx context.Context, topic string, after eventlog.Position, limit int) ([]eventlog.Entry, error)
	Head(ctx context.Context, topic string) (eventlog.Position, error)
}

// Accept is what a ConnectFunc decides for a connection_init.
type Accept struct {
	// Ack is the connection_ack payload (a JSON object), or nil.
	Ack json.RawMessage
	// Identity is the connection's verified caller, or nil: it is kept
	// with the connection and its subscriptions (never sent to the
	// client), every operation of the connection runs with it
	// (identity.From), no push is made after it expires, and the
	// connection is closed then.
	Identity *identity.Identity
}

// ConnectFunc checks a connection_init payload (e.g. a token; see
// Authenticate). An identity.ErrUnauthenticated error closes the
// connection with 4403 Forbidden, any other with 4500.
type ConnectFunc func(ctx context.Context, payload json.RawMessage) (Accept, error)

// ManagementAPI is the part of the API Gateway Management API the handler
// uses; *apigatewaymanagementapi.Client implements it.
type ManagementAPI interface {
	PostToConnection(ctx context.Context, in *apigatewaymanagementapi.PostToConnectionInput, opts ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.PostToConnectionOutput, error)
	DeleteConnection(ctx context.Context, in *apigatewaymanagementapi.DeleteConnectionInput, opts ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.DeleteConnectionOutput, error)
}

// Config configures a Handler.
type Config struct {
	// Schema runs operations; it needs a resolver. Build it with
	// graphqlhttp.ParseSchema and Limits.
	Schema *graphql.Schema
	// Limits are the ones Schema was built with: the Gate the HTTP
	// transport uses checks every operation with them before it runs or is
	// stored (depth, cost, introspection, variables).
	Limits graphqlhttp.Limits
	// Timeout bounds the execution of a query or mutation sent over the
	// socket, as graphqlhttp.Config.Timeout does over HTTP. Zero selects
	// graphqlhttp.DefaultTimeout, a negative value only the Lambda's
	// deadline.
	Timeout time.Duration
	Topics  Topics
	Store   *store.Store
	// Log is the topic log the fan-out appends to (the app's event log):
	// subscriptions resume from it (after) and catch up after their
	// snapshot. Nil: after is refused with RESYNC_REQUIRED and snapshots
	// come without a cursor.
	Log TopicLog
	// MaxCatchup bounds the changes one catch-up delivers; a subscription
	// that missed more gets RESYNC_REQUIRED (re-querying is cheaper).
	// Default DefaultMaxCatchup.
	MaxCatchup int
	// LogRetention is how long the event log keeps a topic's changes
	// (eventlog's retention; default eventlog.DefaultRetention): a topic
	// stays marked resumable (store.MarkResumable) that long, plus a
	// connection's lifetime, after a subscription to it is stored.
	LogRetention time.Duration
	// SnapshotSettle bounds how long a subscription starting with a
	// snapshot waits for the topic's log to hold the change the snapshot
	// reflects (the fan-out appends a change once it reads it from the
	// stream, a moment after it committed). Default DefaultSnapshotSettle.
	SnapshotSettle time.Duration
	// Management is the Management API client (an
	// *apigatewaymanagementapi.Client whose endpoint is the API's
	// https://{api}.execute-api.{region}.amazonaws.com/{stage}, or the
	// local one).
	Management ManagementAPI
	// OnConnect decides connection_init; nil accepts every connection with
	// no ack payload and no identity.
	OnConnect ConnectFunc
	// Origins are the browser origins $connect accepts (403 otherwise); a
	// handshake without an Origin header (native apps) is accepted. The
	// zero Policy accepts no browser origin.
	Origins origin.Policy
	// Expiry closes a connection when its identity expires, by making
	// Expire run then: on AWS an EventBridge Scheduler one-time schedule
	// (package expiry). Nil: an in-process timer, for a process that
	// lives as long as its connections (the dev runtime).
	Expiry ExpiryScheduler
	// Now is the clock; default time.Now.
	Now func() time.Time
	// MaxSubscriptions bounds the open subscriptions of one connection
	// (the connection item holds them, and an item holds 400 KB); a
	// subscribe over it gets an error message. Default 100.
	MaxSubscriptions int
	// Pushes, when set, records in the event log the changes a catch-up
	// delivers (eventlog.Push with CatchUp), as the fan-out records its
	// pushes: one best-effort write per catch-up, waited on at most
	// DefaultPushLogTimeout.
	Pushes PushLog
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Validate reports missing settings.
func (c Config) Validate() error {
	var errs []error
	if c.Schema == nil {
		errs = append(errs, errors.New("realtime: no schema"))
	}
	if c.Topics.Subscription == nil {
		errs = append(errs, errors.New("realtime: no Topics.Subscription"))
	}
	if c.Store == nil {
		errs = append(errs, errors.New("realtime: no store"))
	}
	if c.Management == nil {
		errs = append(errs, errors.New("realtime: no Management API client"))
	}
	if c.MaxSubscriptions < 0 || c.MaxCatchup < 0 || c.SnapshotSettle < 0 {
		errs = append(errs, errors.New("realtime: negative MaxSubscriptions, MaxCatchup or SnapshotSettle"))
	}
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("realtime: %w", err))
	}
	return errors.Join(errs...)
}

// DefaultMaxSubscriptions is Config.MaxSubscriptions's default.
const DefaultMaxSubscriptions = 100

// DefaultMaxCatchup is Config.MaxCatchup's default.
const DefaultMaxCatchup = 10000

// DefaultSnapshotSettle is Config.SnapshotSettle's default.
const DefaultSnapshotSettle = 3 * time.Second

// Handler is the WebSocket API's Lambda handler for the $connect,
// $disconnect and $default routes.
type Handler struct {
	cfg    Config
	log    *slog.Logger
	gate   *graphqlhttp.Gate
	timers *timers // nil when cfg.Expiry schedules
}

// NewHandler returns a Handler.
func NewHandler(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxSubscriptions == 0 {
		cfg.MaxSubscriptions = DefaultMaxSubscriptions
	}
	if cfg.MaxCatchup == 0 {
		cfg.MaxCatchup = DefaultMaxCatchup
	}
	if cfg.LogRetention == 0 {
		cfg.LogRetention = eventlog.DefaultRetention
	}
	if cfg.SnapshotSettle == 0 {
		cfg.SnapshotSettle = DefaultSnapshotSettle
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = graphqlhttp.DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	gate, err := graphqlhttp.NewGate(cfg.Schema, cfg.Limits, cfg.Logger)
	if err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, log: cfg.Logger, gate: gate}
	if cfg.Expiry == nil {
		h.timers = newTimers(h)
	}
	return h, nil
}

// Route keys of the WebSocket API.
const (
	RouteConnect    = "$connect"
	RouteDisconnect = "$disconnect"
	RouteDefault    = "$default"
)

// Handle serves one WebSocket API event. Its signature is the Lambda
// handler's.
func (h *Handler) Handle(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	id := req.RequestContext.ConnectionID
	// Each message is its own request: writes a mutation makes carry its
	// correlation id into the change events, as over HTTP.
	cid := req.RequestContext.RequestID
	if !correlation.Valid(cid) {
		cid = correlation.NewID()
	}
	ctx = correlation.With(ctx, cid)
	log := h.log.With("connectionId", id, "route", req.RequestContext.RouteKey)
	switch req.RequestContext.RouteKey {
	case RouteConnect:
		return h.connect(ctx, log, req)
	case RouteDisconnect:
		h.timers.cancel(id)
		if err := h.cfg.Store.DeleteConnection(ctx, id); err != nil {
			log.ErrorContext(ctx, "disconnect", "err", err)
			return events.APIGatewayProxyResponse{StatusCode: http.StatusInternalServerError}, err
		}
		return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
	default:
		if err := h.message(ctx, log, id, []byte(req.Body)); err != nil {
			log.ErrorContext(ctx, "message", "err", err)
			return events.APIGatewayProxyResponse{StatusCode: http.StatusInternalServerError}, err
		}
		return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
	}
}

// offeredProtocols lists the subprotocols a WebSocket upgrade offers.
func offeredProtocols(req events.APIGatewayWebsocketProxyRequest) []string {
	var vals []string
	for k, vs := range req.MultiValueHeaders {
		if strings.EqualFold(k, "Sec-WebSocket-Protocol") {
			vals = append(vals, vs...)
		}
	}
	if len(vals) == 0 {
		for k, v := range req.Headers {
			if strings.EqualFold(k, "Sec-WebSocket-Protocol") {
				vals = append(vals, v)
			}
		}
	}
	var out []string
	for _, v := range vals {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// requestOrigins lists the Origin header values of a $connect event.
func requestOrigins(req events.APIGatewayWebsocketProxyRequest) []string {
	for k, vs := range req.MultiValueHeaders {
		if strings.EqualFold(k, "Origin") {
			return vs
		}
	}
	for k, v := range req.Headers {
		if strings.EqualFold(k, "Origin") {
			return []string{v}
		}
	}
	return nil
}

func (h *Handler) connect(ctx context.Context, log *slog.Logger, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	if o := requestOrigins(req); !h.cfg.Origins.AllowsHeader(o) {
		// A page on another site would act with the user's session
		// (cross-site WebSocket hijacking): refuse the handshake.
		log.InfoContext(ctx, "connect refused: origin not allowed", "origin", o)
		return events.APIGatewayProxyResponse{StatusCode: http.StatusForbidden, Body: "Forbidden: origin not allowed"}, nil
	}
	ok := false
	for _, p := range offeredProtocols(req) {
		ok = ok || p == wsproto.Subprotocol
	}
	if !ok {
		// Refusing the upgrade is all a $connect route can do: API
		// Gateway answers the handshake with this status.
		log.InfoContext(ctx, "connect refused: subprotocol not offered", "offered", offeredProtocols(req))
		return events.APIGatewayProxyResponse{StatusCode: http.StatusBadRequest, Body: "Subprotocol not acceptable: offer " + wsproto.Subprotocol}, nil
	}
	if _, err := h.cfg.Store.PutConnection(ctx, req.RequestContext.ConnectionID); err != nil {
		log.ErrorContext(ctx, "connect", "err", err)
		return events.APIGatewayProxyResponse{StatusCode: http.StatusInternalServerError}, err
	}
	return events.APIGatewayProxyResponse{
		StatusCode: http.StatusOK,
		Headers:    map[string]string{"Sec-WebSocket-Protocol": wsproto.Subprotocol},
	}, nil
}

func (h *Handler) message(ctx context.Context, log *slog.Logger, id string, body []byte) error {
	m, err := wsproto.Decode(body)
	if err != nil {
		return h.close(ctx, log, id, wsproto.CloseBadRequest, reason(err))
	}
	switch m.Type {
	case wsproto.ConnectionInit:
		return h.connectionInit(ctx, log, id, m)
	case wsproto.Ping:
		if err := h.send(ctx, log, id, wsproto.Encode(wsproto.Message{Type: wsproto.Pong})); err != nil {
			return err
		}
		return h.deliverKept(ctx, log, id)
	case wsproto.Pong:
		return h.deliverKept(ctx, log, id)
	case wsproto.Subscribe:
		return h.subscribe(ctx, log.With("subscriptionId", m.ID), id, m)
	case wsproto.Complete:
		if _, err := h.cfg.Store.RemoveSubscription(ctx, id, m.ID); err != nil {
			return err
		}
		return nil
	}
	return nil
}

// reason is an error's text without the wrapping prefix, cut to what a
// close frame holds (123 bytes).
func reason(err error) string {
	r := strings.TrimPrefix(err.Error(), wsproto.ErrInvalid.Error()+": ")
	if len(r) > 123 {
		r = r[:120] + "..."
	}
	return r
}

func (h *Handler) connectionInit(ctx context.Context, log *slog.Logger, id string, m wsproto.Message) error {
	switch err := h.cfg.Store.MarkInit(ctx, id); {
	case errors.Is(err, store.ErrInitTwice):
		return h.close(ctx, log, id, wsproto.CloseTooManyInitRequests, wsproto.ReasonTooManyInitRequests)
	case errors.Is(err, store.ErrNotFound):
		log.InfoContext(ctx, "connection_init on a gone connection")
		return nil
	case err != nil:
		return err
	}
	acc := Accept{}
	if h.cfg.OnConnect != nil {
		var err error
		if acc, err = h.cfg.OnConnect(ctx, m.Payload); err != nil {
			// Nothing is kept of a refused connection: close deletes it.
			if !errors.Is(err, identity.ErrUnauthenticated) {
				log.ErrorContext(ctx, "connection_init could not be decided", "err", err)
				return h.close(ctx, log, id, wsproto.CloseInternalError, "Internal server error")
			}
			log.InfoContext(ctx, "connection refused", "err", err)
			return h.close(ctx, log, id, wsproto.CloseForbidden, wsproto.ReasonForbidden)
		}
	}
	session, err := Session(acc.Identity)
	if err != nil {
		return err
	}
	if acc.Identity != nil {
		ctx = WithIdentity(ctx, *acc.Identity, true)
	}
	if err := h.cfg.Store.Ack(ctx, id, session); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}
	if err := h.send(ctx, log, id, wsproto.Encode(wsproto.Message{Type: wsproto.ConnectionAck, Payload: acc.Ack})); err != nil {
		return err
	}
	if acc.Identity != nil && !acc.Identity.Expires.IsZero() {
		return h.scheduleExpiry(ctx, log, id, acc.Identity.Expires)
	}
	return nil
}

func (h *Handler) subscribe(ctx context.Context, log *slog.Logger, id string, m wsproto.Message) error {
	conn, err := h.cfg.Store.GetConnection(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return err
	case !conn.Acked:
		return h.close(ctx, log, id, wsproto.CloseUnauthorized, wsproto.ReasonUnauthorized)
	}
	who, hasID, err := SessionIdentity(conn.Session)
	if err != nil {
		return err
	}
	if hasID && who.Expired(h.cfg.Now()) {
		// The expiry timer has not closed it yet: nothing more runs.
		return h.Expire(ctx, id)
	}
	ctx = WithIdentity(ctx, who, hasID)
	if _, dup := conn.Subscriptions[m.ID]; dup {
		return h.close(ctx, log, id, wsproto.CloseSubscriberExists, wsproto.ReasonSubscriberExists(m.ID))
	}
	p, err := m.SubscribePayload()
	if err != nil {
		return h.close(ctx, log, id, wsproto.CloseBadRequest, reason(err))
	}
	op, refused := h.gate.Read(p.Query, p.OperationName)
	if refused != nil {
		return h.sendErrors(ctx, log, id, m.ID, p.OperationName, refused)
	}
	defer h.gate.Release(op)
	vars, refusals := h.gate.Check(op, p.Variables)
	if refusals != nil {
		return h.sendErrors(ctx, log, id, m.ID, p.OperationName, refusals...)
	}
	if op.Kind != gqldoc.Subscription {
		return h.execute(ctx, log, id, m.ID, p, vars)
	}
	if qerrs := h.cfg.Schema.ValidateWithVariables(p.Query, vars); len(qerrs) > 0 {
		return h.sendErrors(ctx, log, id, m.ID, p.OperationName, qerrs...)
	}
	if len(conn.Subscriptions) >= h.cfg.MaxSubscriptions {
		return h.sendErrors(ctx, log, id, m.ID, p.OperationName, graphqlhttp.NewError(errs.TooManySubscriptions,
			fmt.Sprintf("this connection already has %d subscriptions, the most it may have", len(conn.Subscriptions))))
	}
	fields, err := op.RootFields(vars)
	if err != nil {
		return h.sendErrors(ctx, log, id, m.ID, p.OperationName, graphqlhttp.NewError(errs.GraphQLValidationFailed, err.Error()))
	}
	if len(fields) != 1 {
		return h.sendErrors(ctx, log, id, m.ID, p.OperationName, graphqlhttp.NewError(errs.GraphQLValidationFailed,
			fmt.Sprintf("a subscription must select exactly one root field, not %d", len(fields))))
	}
	topic, err := h.cfg.Topics.Subscription(fields[0].Name, fields[0].Args)
	if err != nil {
		// The app's error: its code and safe message, or an internal one.
		return h.sendErrors(ctx, log, id, m.ID, p.OperationName,
			&gqlerrors.QueryError{Message: err.Error(), ResolverError: err, Path: []any{fields[0].Name}})
	}
	after, resume, err := afterArgument(fields[0].Args)
	if err != nil {
		return h.sendErrors(ctx, log, id, m.ID, p.OperationName, graphqlhttp.NewError(errs.BadUserInput, err.Error()))
	}
	snapshot := !resume && slices.Contains(h.cfg.Topics.Snapshot, fields[0].Name)
	var markedFor time.Duration
	if h.cfg.Log != nil {
		// Before the head is read and the subscription stored: from now
		// on the fan-out appends the topic's changes to its log. A
		// cursor of the topic is valid no longer than the log keeps it,
		// and no cursor is issued later than a connection's lifetime
		// after this.
		since, err := h.cfg.Store.MarkResumable(ctx, topic, h.cfg.LogRetention+store.DefaultTTL+time.Hour)
		if err != nil {
			return err
		}
		markedFor = h.cfg.Now().Sub(since)
	}
	// Where the catch-up starts: after the client's cursor, or after the
	// head of the topic's log read before the snapshot is (a change
	// committed after the head was read is then in the log after it,
	// whether or not the snapshot reflects it).
	var from eventlog.Position
	switch {
	case resume && h.cfg.Log == nil:
		return h.resync(ctx, log, id, m.ID, p.OperationName, nil, errors.New("no event log to resume from"))
	case resume:
		if from, err = DecodeCursor(topic, after); err != nil {
			return h.resync(ctx, log, id, m.ID, p.OperationName, nil, err)
		}
	case snapshot && h.cfg.Log != nil:
		if from, err = h.cfg.Log.Head(ctx, topic); err != nil {
			return fmt.Errorf("subscription %s: head of %s: %w", m.ID, topic, err)
		}
	}
	snap, qerrs := h.start(ctx, log, p, vars, fields[0], snapshot)
	if len(qerrs) > 0 {
		return h.sendErrors(ctx, log, id, m.ID, p.OperationName, qerrs...)
	}
	expires := conn.ExpiresAt
	if hasID && !who.Expires.IsZero() && who.Expires.Before(expires) {
		// Gone from the store's reads (and DynamoDB's TTL) at the token's expiry.
		expires = who.Expires
	}
	sub := store.Subscription{
		Topic: topic, ConnectionID: id, ID: m.ID,
		Query: p.Query, OperationName: p.OperationName, Variables: vars,
		Session: conn.Session, ExpiresAt: expires,
		// Stored catching up: the fan-out leaves it to the catch-up
		// below until it goes live.
		Catchup: from > 0,
	}
	err = h.cfg.Store.AddSubscription(ctx, sub)
	switch {
	case errors.Is(err, store.ErrDuplicate):
		return h.close(ctx, log, id, wsproto.CloseSubscriberExists, wsproto.ReasonSubscriberExists(m.ID))
	case errors.Is(err, store.ErrNotAcked):
		return h.close(ctx, log, id, wsproto.CloseUnauthorized, wsproto.ReasonUnauthorized)
	case errors.Is(err, store.ErrNotFound):
		return nil
	case errors.Is(err, store.ErrCompleted):
		log.InfoContext(ctx, "subscription completed before it was stored")
		return nil
	case err != nil:
		return err
	}
	log.InfoContext(ctx, "subscribed", "topic", topic, "resume", resume, "snapshot", snapshot)
	if from == 0 {
		// No log: the snapshot goes without a cursor.
		for _, payload := range snap {
			if err := h.send(ctx, log, id, wsproto.NextMessage(m.ID, payload)); err != nil {
				return err
			}
		}
		return nil
	}
	return h.catchUp(ctx, log, sub, from, snap, markedFor)
}

// afterArgument is the after argument of a root field: the cursor and
// true when it is given (not null).
func afterArgument(args map[string]any) (string, bool, error) {
	v, ok := args[AfterArgument]
	if !ok || v == nil {
		return "", false, nil
	}
	switch c := v.(type) {
	case string:
		return c, true, nil
	case *string:
		if c == nil {
			return "", false, nil
		}
		return *c, true, nil
	}
	return "", false, fmt.Errorf("argument %q must be a string (a cursor)", AfterArgument)
}

// start runs a subscription operation once before it is stored, as the
// subscriber (ctx carries the connection's identity) and with no change
// in ctx (realtime.ChangeFrom reports false): the resolver decides there
// whether the caller may have the subscription. The errors it returns
// refuse the subscription (they reach the client as its error message,
// with their codes); none lets it be stored. With snapshot, ctx asks for
// the current state (SnapshotFrom) and the values the resolver yields are
// returned, to be sent first; otherwise they are not sent: pushes come
// from changes.
func (h *Handler) start(ctx context.Context, log *slog.Logger, p wsproto.SubscribePayload, vars map[string]any, root gqldoc.Field, snapshot bool) ([][]byte, []*gqlerrors.QueryError) {
	if snapshot {
		ctx = WithSnapshot(ctx)
	}
	if h.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.cfg.Timeout)
		defer cancel()
	}
	ch, err := h.cfg.Schema.Subscribe(ctx, p.Query, p.OperationName, vars)
	if err != nil {
		return nil, []*gqlerrors.QueryError{{Message: err.Error(), ResolverError: err}}
	}
	key := root.Name
	if root.Alias != "" {
		key = root.Alias
	}
	var (
		qerrs []*gqlerrors.QueryError
		snap  [][]byte
	)
	for v := range ch {
		resp, ok := v.(*graphql.Response)
		if !ok {
			continue
		}
		if len(resp.Errors) == 0 && snapshot {
			snap = append(snap, h.gate.Response(ctx, p.OperationName, resp.Data, nil))
			continue
		}
		if len(resp.Errors) == 0 {
			log.WarnContext(ctx, "a subscription resolver yielded a value at its start; it is not sent", "field", root.Name)
			continue
		}
		for _, e := range resp.Errors {
			if len(e.Path) == 0 {
				e.Path = []any{key}
			}
			qerrs = append(qerrs, e)
		}
	}
	if len(qerrs) > 0 {
		return nil, qerrs
	}
	return snap, nil
}

// execute runs a query or mutation once, within the timeout: next (the
// result, its errors as clients may see them) and complete, or an error
// message when it did not run (it did not validate, or timed out).
func (h *Handler) execute(ctx context.Context, log *slog.Logger, conn, id string, p wsproto.SubscribePayload, vars map[string]any) error {
	execCtx := ctx
	if h.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		execCtx, cancel = context.WithTimeout(ctx, h.cfg.Timeout)
		defer cancel()
	}
	resp := h.cfg.Schema.Exec(execCtx, p.Query, p.OperationName, vars)
	if resp.Data == nil {
		return h.sendErrors(ctx, log, conn, id, p.OperationName, resp.Errors...)
	}
	payload := h.gate.Response(ctx, p.OperationName, resp.Data, resp.Errors)
	if err := h.send(ctx, log, conn, wsproto.NextMessage(id, payload)); err != nil {
		return err
	}
	return h.send(ctx, log, conn, wsproto.CompleteMessage(id))
}

// sendErrors sends an error message: the operation ends.
func (h *Handler) sendErrors(ctx context.Context, log *slog.Logger, conn, id, opName string, qerrs ...*gqlerrors.QueryError) error {
	return h.send(ctx, log, conn, wsproto.ErrorMessage(id, h.gate.Errors(ctx, opName, qerrs)))
}

// send posts a frame to a connection; a gone connection is cleaned up.
func (h *Handler) send(ctx context.Context, log *slog.Logger, id string, frame []byte) error {
	_, err := h.cfg.Management.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: &id, Data: frame})
	var gone *apitypes.GoneException
	if errors.As(err, &gone) {
		log.InfoContext(ctx, "connection gone")
		return h.cfg.Store.DeleteConnection(ctx, id)
	}
	if err != nil {
		return fmt.Errorf("post to %s: %w: %w", id, errPost, err)
	}
	return nil
}

// errPost marks a failed post to the client.
var errPost = errors.New("post failed")

// close ends a connection for a protocol violation: it forgets the
// connection and asks the Management API to close it with code and reason
// (honoured by the local front door; API Gateway closes without them).
func (h *Handler) close(ctx context.Context, log *slog.Logger, id string, code int, why string) error {
	log.InfoContext(ctx, "closing connection", "code", code, "reason", why)
	if err := h.cfg.Store.DeleteConnection(ctx, id); err != nil {
		return err
	}
	_, err := h.cfg.Management.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: &id}, WithCloseCode(code, why))
	var gone *apitypes.GoneException
	if err != nil && !errors.As(err, &gone) {
		return fmt.Errorf("close %s: %w", id, err)
	}
	return nil
}
