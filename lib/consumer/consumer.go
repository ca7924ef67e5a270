package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/topology"
)

// Handler handles one change with its images decoded into T. A returned
// error fails the message, which SQS delivers again after its visibility
// timeout; an error marked errs.Permanent sends it to the dead-letter
// queue at once. Handlers run at least once per change: they must be
// idempotent (see the idempotency package).
type Handler[T any] func(ctx context.Context, c change.Change[T]) error

// EventHandler handles one change event without decoding its images.
type EventHandler func(ctx context.Context, e change.Event) error

// Middleware wraps an EventHandler: logging, metrics, idempotency. It sees
// every change, whatever type the handler decodes into.
type Middleware func(EventHandler) EventHandler

// DeliveryLog is the part of the event log the consumer records
// deliveries in (an eventlog.Log).
type DeliveryLog interface {
	WriteDeliveries(ctx context.Context, ds ...eventlog.Delivery) error
}

// sqsAPI is the part of *sqs.Client the consumer uses.
type sqsAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Config configures a Consumer. Its zero value works: messages from any
// queue, no dead-letter sending (permanent failures are then retried until
// the queue's redrive policy moves them), one message at a time. A
// deployed function (app.NewConsumer) gets its Config from ConfigFromEnv.
type Config struct {
	// Function names the function in logs, dead-letter attributes and
	// idempotency scopes. Default: $AWS_LAMBDA_FUNCTION_NAME.
	Function string
	// Routes are the routes feeding the function. Each message belongs to
	// the route whose queue its eventSourceARN names, which decides its
	// dead-letter queue and the route it is logged with. With no Routes,
	// every message is handled, with no route and no dead-letter queue.
	// With Routes, a message from any other queue is not handled: it is
	// logged as an error and reported failed, so it stays on its queue
	// (whose redrive policy eventually moves it to that queue's own DLQ)
	// rather than being run by a function it was not routed to or lost.
	Routes []Route
	// SQS sends permanent failures to the dead-letter queues; required
	// when a route has one.
	SQS sqsAPI
	// Logger receives a JSON line per message. It should add the
	// context's correlation id, as correlation.Logger does (the default).
	Logger *slog.Logger
	// Concurrency is how many messages of a batch run at once. Default 1.
	Concurrency int
	// SafetyMargin is kept free before the invocation deadline for
	// reporting and dead-lettering: each handler's context ends this much
	// earlier (at most a quarter of the time left). Default 1s.
	SafetyMargin time.Duration
	// Middleware wraps the handler, the first outermost.
	Middleware []Middleware
	// Deliveries, when set, records every attempt of every message
	// (route, function, attempt, outcome, error, duration, correlation
	// id, causedBy): one write per batch, after the batch ran, best
	// effort. A failed or slow write never fails a message: it is logged
	// and given up after DeliveryLogTimeout.
	Deliveries DeliveryLog
	// DeliveryLogTimeout bounds the wait for the delivery records of a
	// batch. Default 2s (and never past the invocation's deadline).
	DeliveryLogTimeout time.Duration
}

// Route is one route feeding a function, as its consumer sees it.
type Route struct {
	// Name is the route's name in the topology.
	Name string
	// QueueARN is the ARN of the route's queue: the eventSourceARN of the
	// messages that come by this route, on AWS and in the dev runtime.
	QueueARN string
	// DLQURL is the route's dead-letter queue, where a permanent failure
	// goes at once. Empty: permanent failures are retried like any other
	// until the queue's redrive policy moves them.
	DLQURL string
	// MaxReceiveCount is the queue's redrive setting: a message that fails
	// its MaxReceiveCount-th receive is moved to the dead-letter queue by
	// SQS, and that attempt is recorded as dead-lettered. Zero: unknown.
	MaxReceiveCount int
}

// ConfigFromEnv is the configuration a function's Lambda (or the dev
// runtime's wiring) reads from its environment: for each route of t that
// feeds function, the route's queue ARN (topology.RouteQueueARNEnv) and
// dead-letter queue URL (topology.RouteDLQURLEnv), which the local
// provisioning and the CDK stack set. The error names every missing
// variable. The caller sets SQS (the routes have dead-letter queues) and,
// if it likes, Logger, Concurrency and Middleware.
func ConfigFromEnv(t topology.Topology, function string, getenv func(string) string) (Config, error) {
	if _, ok := t.Function(function); !ok {
		return Config{}, fmt.Errorf("consumer: function %q is not in the topology", function)
	}
	routes := t.RoutesOf(function)
	if len(routes) == 0 {
		return Config{}, fmt.Errorf("consumer: no route feeds function %q", function)
	}
	cfg := Config{Function: function, Routes: make([]Route, 0, len(routes))}
	var missing []string
	for _, r := range routes {
		arnEnv, dlqEnv := topology.RouteQueueARNEnv(r.Name), topology.RouteDLQURLEnv(r.Name)
		rt := Route{Name: r.Name, QueueARN: getenv(arnEnv), DLQURL: getenv(dlqEnv), MaxReceiveCount: r.MaxReceiveCount}
		if rt.QueueARN == "" {
			missing = append(missing, arnEnv)
		}
		if rt.DLQURL == "" {
			missing = append(missing, dlqEnv)
		}
		cfg.Routes = append(cfg.Routes, rt)
	}
	if len(missing) > 0 {
		return Config{}, fmt.Errorf("consumer: function %s: environment variables not set: %s", function, strings.Join(missing, ", "))
	}
	return cfg, nil
}

// Validate reports inconsistent settings.
func (c Config) Validate() error {
	var errs []error
	arns := map[string]string{}
	for i, r := range c.Routes {
		switch {
		case r.Name == "":
			errs = append(errs, fmt.Errorf("consumer: route %d has no name", i))
		case r.QueueARN == "":
			errs = append(errs, fmt.Errorf("consumer: route %s has no queue ARN", r.Name))
		case arns[r.QueueARN] != "":
			errs = append(errs, fmt.Errorf("consumer: routes %s and %s name the same queue %s", arns[r.QueueARN], r.Name, r.QueueARN))
		default:
			arns[r.QueueARN] = r.Name
		}
		if r.DLQURL != "" && c.SQS == nil {
			errs = append(errs, fmt.Errorf("consumer: route %s has a dead-letter queue but there is no SQS client", r.Name))
		}
	}
	if c.Concurrency < 0 || c.SafetyMargin < 0 || c.DeliveryLogTimeout < 0 {
		errs = append(errs, errors.New("consumer: negative concurrency, safety margin or delivery log timeout"))
	}
	return errors.Join(errs...)
}

// Consumer runs a function over SQS batches of change events.
type Consumer struct {
	cfg    Config
	handle EventHandler
	// routes are cfg.Routes with their loggers; anyRoute stands for them
	// all when there are none.
	routes   []route
	anyRoute route
	// log carries the function.
	log *slog.Logger
}

// route is a Route with its logger, which carries the function and route.
type route struct {
	Route
	log *slog.Logger
}

// routeOf finds the route of a message by its queue ARN; nil when none of
// the routes has that queue.
func (c *Consumer) routeOf(queueARN string) *route {
	if len(c.routes) == 0 {
		return &c.anyRoute
	}
	for i := range c.routes {
		if c.routes[i].QueueARN == queueARN {
			return &c.routes[i]
		}
	}
	return nil
}

// New makes a Consumer for a handler of changes decoded into T. A change
// whose images do not decode into T fails permanently. A reduced change
// (too large to publish whole) has neither image: the handler reads the
// item by its keys.
func New[T any](h Handler[T], cfg Config) (*Consumer, error) {
	if h == nil {
		return nil, errors.New("consumer: nil handler")
	}
	return NewEvent(Typed(h), cfg)
}

// Typed is h as an EventHandler: each change's images are decoded into T,
// and a change whose images do not decode fails permanently.
func Typed[T any](h Handler[T]) EventHandler {
	return func(ctx context.Context, e change.Event) error {
		c, err := change.Decode[T](e)
		if err != nil {
			return errs.Permanent(fmt.Errorf("decode images: %w", err))
		}
		return h(ctx, c)
	}
}

// NewEvent makes a Consumer for a handler of raw change events.
func NewEvent(h EventHandler, cfg Config) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New("consumer: nil handler")
	}
	if cfg.Function == "" {
		cfg.Function = os.Getenv("AWS_LAMBDA_FUNCTION_NAME")
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 1
	}
	if cfg.SafetyMargin == 0 {
		cfg.SafetyMargin = time.Second
	}
	if cfg.DeliveryLogTimeout == 0 {
		cfg.DeliveryLogTimeout = DefaultDeliveryLogTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = correlation.Logger()
	}
	for i := len(cfg.Middleware) - 1; i >= 0; i-- {
		h = cfg.Middleware[i](h)
	}
	c := &Consumer{cfg: cfg, handle: h, log: log.With("function", cfg.Function)}
	c.anyRoute = route{log: c.log.With("route", "")}
	for _, r := range cfg.Routes {
		c.routes = append(c.routes, route{Route: r, log: c.log.With("route", r.Name)})
	}
	return c, nil
}

// DefaultDeliveryLogTimeout is Config.DeliveryLogTimeout's default.
const DefaultDeliveryLogTimeout = 2 * time.Second

// Outcomes of a message, as logged and recorded in the event log.
const (
	// OutcomeOK: handled; the message is deleted.
	OutcomeOK = string(eventlog.OK)
	// OutcomeRetry: failed; SQS delivers it again.
	OutcomeRetry = string(eventlog.Retry)
	// OutcomePermanent: failed permanently but could not go to the
	// dead-letter queue at once (the route has none, or sending failed):
	// retried until the redrive policy moves it.
	OutcomePermanent = string(eventlog.Permanent)
	// OutcomeDeadLettered: sent to the dead-letter queue by the consumer,
	// or failed on the receive after which SQS's redrive moves it there.
	OutcomeDeadLettered = string(eventlog.DeadLettered)
	// OutcomePanic: the handler panicked; retried.
	OutcomePanic = string(eventlog.Panic)
)

// Message describes the message being handled; handlers and middleware
// find it in their context with MessageFrom.
type Message struct {
	Function  string
	Route     string
	MessageID string
	EventID   string
	// Attempt is SQS's ApproximateReceiveCount: 1 on first delivery.
	Attempt int
}

// msgContext is a handler's context: the message's own context, carrying
// the message (one allocation per message rather than a value context on
// top of another).
type msgContext struct {
	context.Context
	Message
	causedBy string
	base     *slog.Logger
	once     sync.Once
	log      *slog.Logger
}

type messageKey struct{}

func (m *msgContext) Value(key any) any {
	if _, ok := key.(messageKey); ok {
		return m
	}
	return m.Context.Value(key)
}

// logger is built on first use: most handlers never log.
func (m *msgContext) logger() *slog.Logger {
	m.once.Do(func() {
		m.log = m.base.With("eventId", m.EventID, "messageId", m.MessageID, "attempt", m.Attempt)
	})
	return m.log
}

// MessageFrom is the message a handler's context belongs to.
func MessageFrom(ctx context.Context) (Message, bool) {
	m, ok := ctx.Value(messageKey{}).(*msgContext)
	if !ok {
		return Message{}, false
	}
	return m.Message, true
}

// Logger is the consumer's logger with the message's fields (function,
// route, eventId, messageId, attempt), for a handler's context; it adds
// the correlation id when the consumer's logger does (the default one
// does). Outside a consumer it is slog.Default.
func Logger(ctx context.Context) *slog.Logger {
	if m, ok := ctx.Value(messageKey{}).(*msgContext); ok {
		return m.logger()
	}
	return slog.Default()
}

// Handle runs the handler over each message of a batch independently and
// reports the messages to deliver again. Lambda mains and the dev runtime
// call it.
func (c *Consumer) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	// Every handler of the batch shares one deadline: the invocation's,
	// less the safety margin.
	hctx, cancel := c.handlerContext(ctx)
	defer cancel()
	var resp events.SQSEventResponse
	failed := make([]bool, len(ev.Records))
	var records []eventlog.Delivery
	if c.cfg.Deliveries != nil {
		records = make([]eventlog.Delivery, len(ev.Records))
	}
	var rec func(i int) *eventlog.Delivery
	if records != nil {
		rec = func(i int) *eventlog.Delivery { return &records[i] }
	} else {
		rec = func(int) *eventlog.Delivery { return nil }
	}
	if c.cfg.Concurrency <= 1 || len(ev.Records) <= 1 {
		for i := range ev.Records {
			failed[i] = !c.process(ctx, hctx, &ev.Records[i], rec(i))
		}
	} else {
		var wg sync.WaitGroup
		sem := make(chan struct{}, c.cfg.Concurrency)
		for i := range ev.Records {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				failed[i] = !c.process(ctx, hctx, &ev.Records[i], rec(i))
			}()
		}
		wg.Wait()
	}
	for i, f := range failed {
		if f {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: ev.Records[i].MessageId})
		}
	}
	if records != nil {
		c.recordDeliveries(ctx, records)
	}
	return resp, nil
}

// recordDeliveries writes a batch's delivery records, waiting at most
// DeliveryLogTimeout (and never past the invocation's deadline): the
// records are the log's, the messages' outcomes do not depend on them.
func (c *Consumer) recordDeliveries(ctx context.Context, records []eventlog.Delivery) {
	ds := records[:0]
	for _, d := range records {
		if d.EventID != "" { // a message that is no change event has none
			ds = append(ds, d)
		}
	}
	if len(ds) == 0 {
		return
	}
	wait := c.cfg.DeliveryLogTimeout
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl))
	}
	if wait <= 0 {
		c.log.WarnContext(ctx, "delivery records not written: no time left", "records", len(ds))
		return
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wait)
	defer cancel()
	if err := c.cfg.Deliveries.WriteDeliveries(wctx, ds...); err != nil {
		c.log.WarnContext(ctx, "delivery records not written", "records", len(ds), "eventId", ds[0].EventID, "error", err.Error())
	}
}

// process handles one message and reports whether it is done with (handled
// or dead-lettered) and may be deleted. ctx is the invocation's context,
// hctx the handlers'. rec, when not nil, receives the delivery record.
func (c *Consumer) process(ctx, hctx context.Context, msg *events.SQSMessage, rec *eventlog.Delivery) bool {
	start := time.Now()
	attempt, _ := strconv.Atoi(msg.Attributes["ApproximateReceiveCount"])
	rt := c.routeOf(msg.EventSourceARN)
	m := &msgContext{Message: Message{Function: c.cfg.Function, MessageID: msg.MessageId, Attempt: attempt}}
	if rt != nil {
		m.Route, m.base = rt.Name, rt.log
	} else {
		m.base = c.log
	}
	ev, err := change.FromEventBridge(msg.Body)
	if err != nil {
		m.Context = ctx
		return c.finish(ctx, m, rt, msg, start, errs.Permanent(err), false, rec)
	}
	m.EventID, m.causedBy = ev.ID, ev.CausedBy
	if ev.CorrelationID != "" {
		hctx = correlation.With(hctx, ev.CorrelationID)
	}
	if ev.CausedBy != "" {
		// The handler's writes record who started the chain.
		hctx = correlation.WithSubject(hctx, ev.CausedBy)
	}
	m.Context = hctx
	if rt == nil {
		return c.finish(ctx, m, rt, msg, start, nil, false, rec)
	}
	err, panicked := c.run(m, ev)
	return c.finish(ctx, m, rt, msg, start, err, panicked, rec)
}

// handlerContext ends before the invocation deadline by the safety margin,
// so that a slow handler still leaves time to report its failure.
func (c *Consumer) handlerContext(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	margin := max(0, min(c.cfg.SafetyMargin, time.Until(dl)/4))
	return context.WithDeadline(ctx, dl.Add(-margin))
}

// panicError is a recovered handler panic.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v", p.value) }

func (c *Consumer) run(ctx context.Context, ev change.Event) (err error, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			err, panicked = &panicError{value: r, stack: debug.Stack()}, true
		}
	}()
	return c.handle(ctx, ev), false
}

// finish logs the outcome and says whether the message is done with. m
// carries the correlation id for the log line; the dead-letter queue is
// sent to with the invocation's context ctx, whose deadline keeps the
// safety margin for it. rt is nil for a message of no known route. rec,
// when not nil, receives the delivery record.
func (c *Consumer) finish(ctx context.Context, m *msgContext, rt *route, msg *events.SQSMessage, start time.Time, err error, panicked bool, rec *eventlog.Delivery) bool {
	var (
		level   slog.Level
		text    string
		outcome string
		extra   slog.Attr
		done    bool
	)
	switch {
	case rt == nil:
		level, text, outcome = slog.LevelError, "message from a queue that feeds none of the function's routes; left on its queue", OutcomeRetry
		err = fmt.Errorf("queue %q feeds none of the routes of function %s (%s)", msg.EventSourceARN, c.cfg.Function, c.routeNames())
		extra = slog.String("queueArn", msg.EventSourceARN)
	case err == nil:
		level, text, outcome, done = slog.LevelInfo, "message handled", OutcomeOK, true
	case panicked:
		var p *panicError
		errors.As(err, &p)
		level, text, outcome = slog.LevelError, "handler panicked", OutcomePanic
		extra = slog.String("stack", string(p.stack))
	case !errs.IsPermanent(err):
		level, text, outcome = slog.LevelWarn, "handler failed; message will be retried", OutcomeRetry
	case rt.DLQURL == "":
		level, text, outcome = slog.LevelError, "permanent failure but the route has no dead-letter queue; message will be retried", OutcomePermanent
	default:
		if derr := c.deadLetter(ctx, m, rt, msg, err); derr != nil {
			// The message must not be lost: leave it on its queue.
			level, text, outcome = slog.LevelError, "permanent failure; sending to the dead-letter queue failed, message will be retried", OutcomePermanent
			extra = slog.String("dlqError", derr.Error())
		} else {
			level, text, outcome, done = slog.LevelError, "permanent failure; message sent to the dead-letter queue", OutcomeDeadLettered, true
			extra = slog.String("code", string(errs.CodeOf(err)))
		}
	}
	if !done && rt != nil && rt.MaxReceiveCount > 0 && m.Attempt >= rt.MaxReceiveCount {
		// The queue's redrive policy moves it after this receive.
		outcome = OutcomeDeadLettered
		text += "; this was its last receive: the queue's redrive policy moves it to the dead-letter queue"
	}
	now := time.Now()
	if rec != nil {
		*rec = eventlog.Delivery{
			EventID: m.EventID, Route: m.Route, Function: m.Function, Attempt: max(1, m.Attempt),
			Outcome: eventlog.Outcome(outcome), DurationMs: float64(now.Sub(start).Microseconds()) / 1000,
			At: start, MessageID: m.MessageID, CorrelationID: correlation.From(m), CausedBy: m.causedBy,
		}
		if err != nil {
			rec.Error, rec.Code = err.Error(), errs.CodeOf(err)
		}
	}
	// The record goes straight to the handler: Logger.LogAttrs would also
	// capture the caller's program counter, which no one reads here.
	h := m.base.Handler()
	if !h.Enabled(m, level) {
		return done
	}
	r := slog.NewRecord(now, level, text, 0)
	r.AddAttrs(
		slog.String("eventId", m.EventID),
		slog.String("messageId", m.MessageID),
		slog.Int("attempt", m.Attempt),
		slog.String("outcome", outcome),
		slog.Float64("durationMs", float64(now.Sub(start).Microseconds())/1000),
	)
	if err != nil {
		r.AddAttrs(slog.String("error", err.Error()))
	}
	if extra.Key != "" {
		r.AddAttrs(extra)
	}
	_ = h.Handle(m, r)
	return done
}

// routeNames lists the consumer's route names, for an error.
func (c *Consumer) routeNames() string {
	names := make([]string, len(c.routes))
	for i, r := range c.routes {
		names[i] = r.Name
	}
	return strings.Join(names, ", ")
}

// Dead-letter message attributes.
const (
	AttrReason          = "reason"
	AttrCode            = "code"
	AttrEventID         = "eventId"
	AttrFunction        = "function"
	AttrRoute           = "route"
	AttrSourceMessageID = "sourceMessageId"
	AttrReceiveCount    = "receiveCount"
)

// maxReason keeps the reason attribute readable and the message well
// within the SQS size limit.
const maxReason = 4096

func (c *Consumer) deadLetter(ctx context.Context, m *msgContext, rt *route, msg *events.SQSMessage, cause error) error {
	reason := cause.Error()
	if len(reason) > maxReason {
		reason = reason[:maxReason]
	}
	attrs := map[string]sqstypes.MessageAttributeValue{}
	add := func(name, dataType, v string) {
		if v != "" { // SQS rejects empty attribute values
			attrs[name] = sqstypes.MessageAttributeValue{DataType: aws.String(dataType), StringValue: aws.String(v)}
		}
	}
	add(AttrReason, "String", reason)
	add(AttrCode, "String", string(errs.CodeOf(cause)))
	add(AttrEventID, "String", m.EventID)
	add(AttrFunction, "String", m.Function)
	add(AttrRoute, "String", rt.Name)
	add(AttrSourceMessageID, "String", msg.MessageId)
	if m.Attempt > 0 {
		add(AttrReceiveCount, "Number", strconv.Itoa(m.Attempt))
	}
	// The handler's time is up but the invocation's is not: use the
	// invocation context, which keeps the safety margin for this call.
	_, err := c.cfg.SQS.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(rt.DLQURL), MessageBody: aws.String(msg.Body), MessageAttributes: attrs,
	})
	if err != nil {
		return fmt.Errorf("send to %s: %w", rt.DLQURL, err)
	}
	return nil
}
