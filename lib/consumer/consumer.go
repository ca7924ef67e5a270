package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"runtime/debug"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/errs"
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

// sqsAPI is the part of *sqs.Client the consumer uses.
type sqsAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Config configures a Consumer. Its zero value works: no dead-letter
// sending (permanent failures are then retried until the queue's redrive
// policy moves them), one message at a time.
type Config struct {
	// Function names the function in logs, dead-letter attributes and
	// idempotency scopes. Default: $AWS_LAMBDA_FUNCTION_NAME.
	Function string
	// Route names the route feeding the function, for logs.
	Route string
	// DLQURL is the dead-letter queue for permanent failures; SQS sends
	// to it. Both or neither.
	DLQURL string
	SQS    sqsAPI
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
}

// ConfigFromEnv is the configuration of function's consumer from its
// environment (os.Getenv in a Lambda main, the provisioned names in the
// dev runtime): the route feeding it (topology.EnvRouteName) and its
// dead-letter queue (topology.EnvDLQURL). The caller sets SQS when there
// is a dead-letter queue, and Logger.
func ConfigFromEnv(t topology.Topology, function string, getenv func(string) string) (Config, error) {
	if _, ok := t.Function(function); !ok {
		return Config{}, fmt.Errorf("consumer: no function %q in the topology", function)
	}
	return Config{Function: function, Route: getenv(topology.EnvRouteName), DLQURL: getenv(topology.EnvDLQURL)}, nil
}

// Validate reports inconsistent settings.
func (c Config) Validate() error {
	var errs []error
	if c.DLQURL != "" && c.SQS == nil {
		errs = append(errs, errors.New("consumer: DLQURL without an SQS client"))
	}
	if c.Concurrency < 0 || c.SafetyMargin < 0 {
		errs = append(errs, errors.New("consumer: negative concurrency or safety margin"))
	}
	return errors.Join(errs...)
}

// Consumer runs a function over SQS batches of change events.
type Consumer struct {
	cfg    Config
	handle EventHandler
	// log carries the function and route.
	log *slog.Logger
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
	log := cfg.Logger
	if log == nil {
		log = correlation.Logger()
	}
	for i := len(cfg.Middleware) - 1; i >= 0; i-- {
		h = cfg.Middleware[i](h)
	}
	return &Consumer{cfg: cfg, handle: h, log: log.With("function", cfg.Function, "route", cfg.Route)}, nil
}

// Outcomes of a message, as logged.
const (
	OutcomeOK           = "ok"
	OutcomeRetry        = "retry"
	OutcomeDeadLettered = "dead-lettered"
	OutcomePanic        = "panic"
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

// msgState is what a handler's context carries.
type msgState struct {
	Message
	base *slog.Logger
	once sync.Once
	log  *slog.Logger
}

// logger is built on first use: most handlers never log.
func (m *msgState) logger() *slog.Logger {
	m.once.Do(func() {
		m.log = m.base.With("eventId", m.EventID, "messageId", m.MessageID, "attempt", m.Attempt)
	})
	return m.log
}

type messageKey struct{}

// MessageFrom is the message a handler's context belongs to.
func MessageFrom(ctx context.Context) (Message, bool) {
	m, ok := ctx.Value(messageKey{}).(*msgState)
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
	if m, ok := ctx.Value(messageKey{}).(*msgState); ok {
		return m.logger()
	}
	return slog.Default()
}

// Handle runs the handler over each message of a batch independently and
// reports the messages to deliver again. Lambda mains and the dev runtime
// call it.
func (c *Consumer) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	failed := make([]bool, len(ev.Records))
	if c.cfg.Concurrency <= 1 || len(ev.Records) <= 1 {
		for i := range ev.Records {
			failed[i] = !c.process(ctx, &ev.Records[i])
		}
	} else {
		var wg sync.WaitGroup
		sem := make(chan struct{}, c.cfg.Concurrency)
		for i := range ev.Records {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				failed[i] = !c.process(ctx, &ev.Records[i])
			}()
		}
		wg.Wait()
	}
	var resp events.SQSEventResponse
	for i, f := range failed {
		if f {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: ev.Records[i].MessageId})
		}
	}
	return resp, nil
}

// process handles one message and reports whether it is done with (handled
// or dead-lettered) and may be deleted.
func (c *Consumer) process(ctx context.Context, msg *events.SQSMessage) bool {
	start := time.Now()
	attempt, _ := strconv.Atoi(msg.Attributes["ApproximateReceiveCount"])
	st := &msgState{Message: Message{Function: c.cfg.Function, Route: c.cfg.Route, MessageID: msg.MessageId, Attempt: attempt}, base: c.log}

	// The body is only read: decode it in place rather than copy it.
	ev, err := change.FromEventBridge(unsafe.Slice(unsafe.StringData(msg.Body), len(msg.Body)))
	if err != nil {
		return c.finish(ctx, msg, &st.Message, start, errs.Permanent(err), false)
	}
	st.EventID = ev.ID
	if ev.CorrelationID != "" {
		ctx = correlation.With(ctx, ev.CorrelationID)
	}
	if ev.CausedBy != "" {
		// The handler's writes record who started the chain.
		ctx = correlation.WithSubject(ctx, ev.CausedBy)
	}
	hctx, cancel := c.handlerContext(ctx)
	defer cancel()
	hctx = context.WithValue(hctx, messageKey{}, st)

	err, panicked := c.run(hctx, ev)
	return c.finish(ctx, msg, &st.Message, start, err, panicked)
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

// finish logs the outcome and says whether the message is done with.
func (c *Consumer) finish(ctx context.Context, msg *events.SQSMessage, info *Message, start time.Time, err error, panicked bool) bool {
	logf := func(level slog.Level, text, outcome string, extra ...slog.Attr) {
		if !c.log.Enabled(ctx, level) {
			return
		}
		attrs := append([]slog.Attr{
			slog.String("eventId", info.EventID),
			slog.String("messageId", info.MessageID),
			slog.Int("attempt", info.Attempt),
			slog.String("outcome", outcome),
			slog.Float64("durationMs", float64(time.Since(start).Microseconds())/1000),
		}, extra...)
		if err != nil {
			attrs = append(attrs, slog.String("error", err.Error()))
		}
		c.log.LogAttrs(ctx, level, text, attrs...)
	}
	switch {
	case err == nil:
		logf(slog.LevelInfo, "message handled", OutcomeOK)
		return true
	case panicked:
		var p *panicError
		errors.As(err, &p)
		logf(slog.LevelError, "handler panicked", OutcomePanic, slog.String("stack", string(p.stack)))
		return false
	case !errs.IsPermanent(err):
		logf(slog.LevelWarn, "handler failed; message will be retried", OutcomeRetry)
		return false
	case c.cfg.DLQURL == "":
		logf(slog.LevelError, "permanent failure but no dead-letter queue configured; message will be retried", OutcomeRetry)
		return false
	}
	if derr := c.deadLetter(ctx, msg, info, err); derr != nil {
		// The message must not be lost: leave it on its queue.
		logf(slog.LevelError, "permanent failure; sending to the dead-letter queue failed, message will be retried",
			OutcomeRetry, slog.String("dlqError", derr.Error()))
		return false
	}
	logf(slog.LevelError, "permanent failure; message sent to the dead-letter queue",
		OutcomeDeadLettered, slog.String("code", string(errs.CodeOf(err))))
	return true
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

func (c *Consumer) deadLetter(ctx context.Context, msg *events.SQSMessage, info *Message, cause error) error {
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
	add(AttrEventID, "String", info.EventID)
	add(AttrFunction, "String", info.Function)
	add(AttrRoute, "String", info.Route)
	add(AttrSourceMessageID, "String", msg.MessageId)
	if info.Attempt > 0 {
		add(AttrReceiveCount, "Number", strconv.Itoa(info.Attempt))
	}
	// The handler's time is up but the invocation's is not: use the
	// invocation context, which keeps the safety margin for this call.
	_, err := c.cfg.SQS.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(c.cfg.DLQURL), MessageBody: aws.String(msg.Body), MessageAttributes: attrs,
	})
	if err != nil {
		return fmt.Errorf("send to %s: %w", c.cfg.DLQURL, err)
	}
	return nil
}
