package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	apitypes "github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	"github.com/aws/smithy-go"
	graphql "github.com/graph-gophers/graphql-go"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/graphqlhttp"
	"github.com/threefactor/framework/lib/identity"
	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/realtime/store"
	"github.com/threefactor/framework/lib/realtime/wsproto"
	"github.com/threefactor/framework/lib/topology"
)

// MaxMessageBytes is API Gateway's WebSocket message (PostToConnection
// payload) limit.
const MaxMessageBytes = 128 * 1024

// Defaults.
const (
	DefaultConcurrency    = 64
	DefaultRetries        = 3
	DefaultBackoff        = 50 * time.Millisecond
	DefaultResolveTimeout = 10 * time.Second
	DefaultPostTimeout    = 3 * time.Second
)

type postAPI interface {
	PostToConnection(ctx context.Context, in *apigatewaymanagementapi.PostToConnectionInput, opts ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.PostToConnectionOutput, error)
}

// subscriptionStore is the part of the store the fan-out uses.
type subscriptionStore interface {
	SubscriptionsFor(ctx context.Context, topic string) ([]store.Subscription, error)
	DeleteConnection(ctx context.Context, connectionID string) error
	DeleteSubscription(ctx context.Context, sub store.Subscription) error
}

// Config configures a Fanout. Zero values mean the defaults.
type Config struct {
	Schema *graphql.Schema
	// Topics lists the topics a change concerns.
	Topics func(e change.Event) []string
	// Decode turns a stream record into a change event (for example
	// change.FromDynamoDB with the record's logical table name).
	Decode     func(rec events.DynamoDBEventRecord) (change.Event, error)
	Store      subscriptionStore
	Management postAPI
	// Concurrency bounds the pushes in flight for one record (records are
	// pushed one after another, so it bounds them all).
	Concurrency int
	// PostTimeout bounds each PostToConnection call: a connection whose
	// call does not answer in time is given up for this change (not
	// retried), so it holds up the change's other pushes, and the next
	// change, no longer than that.
	PostTimeout time.Duration
	// Retries is how many times a failed push is retried.
	Retries int
	// Backoff is the first retry delay; it doubles, with jitter.
	Backoff time.Duration
	// ResolveTimeout bounds one run of a stored operation.
	ResolveTimeout time.Duration
	// MaxMessageBytes is the largest frame posted; default MaxMessageBytes.
	MaxMessageBytes int
	Logger          *slog.Logger
	// Now is the clock pushes are checked against identities' expiry
	// with; default time.Now.
	Now func() time.Time
	// Pushes, when set, records every push's outcome in the event log:
	// one write per change, best effort, waited on at most
	// PushLogTimeout (default 2s).
	Pushes         PushLog
	PushLogTimeout time.Duration
}

// Validate reports missing settings.
func (c Config) Validate() error {
	var errs []error
	if c.Schema == nil {
		errs = append(errs, errors.New("fanout: no schema"))
	}
	if c.Topics == nil {
		errs = append(errs, errors.New("fanout: no Topics"))
	}
	if c.Store == nil {
		errs = append(errs, errors.New("fanout: no store"))
	}
	if c.Management == nil {
		errs = append(errs, errors.New("fanout: no Management API client"))
	}
	if c.Concurrency < 0 || c.Retries < 0 || c.Backoff < 0 || c.PostTimeout < 0 {
		errs = append(errs, errors.New("fanout: negative concurrency, retries, backoff or post timeout"))
	}
	return errors.Join(errs...)
}

// Fanout pushes changes to subscriptions.
type Fanout struct {
	cfg Config
	log *slog.Logger
	// gate turns results into what clients may see: errors with codes,
	// internal detail only in the log.
	gate *graphqlhttp.Gate
}

// New returns a Fanout.
func New(cfg Config) (*Fanout, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Retries == 0 {
		cfg.Retries = DefaultRetries
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.ResolveTimeout == 0 {
		cfg.ResolveTimeout = DefaultResolveTimeout
	}
	if cfg.PostTimeout == 0 {
		cfg.PostTimeout = DefaultPostTimeout
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = MaxMessageBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PushLogTimeout == 0 {
		cfg.PushLogTimeout = DefaultPushLogTimeout
	}
	// Stored operations were checked against the limits when they were
	// subscribed; the gate here only maps results.
	gate, err := graphqlhttp.NewGate(cfg.Schema, graphqlhttp.Limits{}, cfg.Logger)
	if err != nil {
		return nil, err
	}
	return &Fanout{cfg: cfg, log: cfg.Logger, gate: gate}, nil
}

// Stats counts what one change did.
type Stats struct {
	// Matched is the number of subscriptions found under the change's topics.
	Matched int
	// Pushed is the number of next messages delivered.
	Pushed int
	// Oversize is the number of results replaced by an error message.
	Oversize int
	// Gone is the number of connections found gone and deleted.
	Gone int
	// Failed is the number of pushes dropped after the retries.
	Failed int
	// Expired is the number of subscriptions not pushed to because their
	// connection's identity had expired.
	Expired int
}

// Handle is the stream reader: it pushes each record's change in order.
// A record whose subscribers cannot be looked up is reported as a batch
// item failure, and the records after it are left for the retry.
func (f *Fanout) Handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	var resp events.DynamoDBEventResponse
	if f.cfg.Decode == nil {
		return resp, errors.New("fanout: no Decode")
	}
	for i, rec := range ev.Records {
		if change.IsRestoreWrite(rec) {
			continue // a restore's write: subscribers saw this change when it happened
		}
		e, err := f.cfg.Decode(rec)
		if err != nil {
			// Retrying cannot make a record decode: skip it, loudly.
			f.log.ErrorContext(ctx, "fanout: undecodable record", "eventId", rec.EventID, "err", err)
			continue
		}
		if _, err := f.Publish(ctx, e); err != nil {
			f.log.ErrorContext(ctx, "fanout: record failed", "eventId", rec.EventID, "correlationId", e.CorrelationID, "err", err)
			for _, r := range ev.Records[i:] {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: r.Change.SequenceNumber})
			}
			return resp, nil
		}
	}
	return resp, nil
}

// Publish pushes one change to the subscriptions of its topics and waits
// for every push. It fails only when the subscriptions cannot be looked up.
func (f *Fanout) Publish(ctx context.Context, e change.Event) (Stats, error) {
	if e.Operation == topology.Modify && len(e.Changed) == 0 && !e.Reduced {
		// A write that changed nothing (DynamoDB streams record those
		// too): subscribers have seen this state already.
		return Stats{}, nil
	}
	var subs []store.Subscription
	for _, topic := range f.cfg.Topics(e) {
		found, err := f.cfg.Store.SubscriptionsFor(ctx, topic)
		if err != nil {
			return Stats{}, fmt.Errorf("change %s: topic %s: %w", e.ID, topic, err)
		}
		subs = append(subs, found...)
	}
	st := Stats{Matched: len(subs)}
	if len(subs) == 0 {
		return st, nil
	}
	var (
		pushed, oversize, gone, failed, expired atomic.Int64
		results                                 sync.Map // operation key -> *result
		goneConns                               sync.Map
		wg                                      sync.WaitGroup
		sem                                     = make(chan struct{}, f.cfg.Concurrency)
	)
	log := f.log.With("eventId", e.ID, "correlationId", e.CorrelationID)
	records := f.pushRecords(e)
	for _, sub := range subs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			start, delivered := time.Now(), false
			v, _ := results.LoadOrStore(opKey(sub), &result{})
			r := v.(*result)
			payloads := r.get(func() [][]byte { return f.run(ctx, log, e, sub, r) })
			// Checked before each push: an identity may expire while a
			// change is being pushed.
			lapsed := func() bool { return r.hasID && r.id.Expired(f.cfg.Now()) }
			if lapsed() {
				expired.Add(1)
				records.add(sub, start, eventlog.Denied, errExpired)
				return
			}
			for _, p := range payloads {
				if lapsed() {
					expired.Add(1)
					records.add(sub, start, eventlog.Denied, errExpired)
					return
				}
				frame := wsproto.NextMessage(sub.ID, p)
				if len(frame) > f.cfg.MaxMessageBytes {
					oversize.Add(1)
					f.tooLarge(ctx, log, sub, len(frame))
					records.add(sub, start, eventlog.Oversize, nil)
					return
				}
				switch err := f.post(ctx, sub.ConnectionID, frame); {
				case errors.Is(err, errGone):
					if _, seen := goneConns.LoadOrStore(sub.ConnectionID, true); !seen {
						gone.Add(1)
						if err := f.cfg.Store.DeleteConnection(ctx, sub.ConnectionID); err != nil {
							log.ErrorContext(ctx, "fanout: delete gone connection", "connectionId", sub.ConnectionID, "err", err)
						}
					}
					records.add(sub, start, eventlog.Gone, nil)
					return
				case errors.Is(err, errTooLarge):
					oversize.Add(1)
					f.tooLarge(ctx, log, sub, len(frame))
					records.add(sub, start, eventlog.Oversize, nil)
					return
				case err != nil:
					failed.Add(1)
					log.ErrorContext(ctx, "fanout: push dropped", "connectionId", sub.ConnectionID, "subscriptionId", sub.ID, "err", err)
					records.add(sub, start, eventlog.Failed, err)
					return
				}
				pushed.Add(1)
				delivered = true
			}
			if delivered {
				records.add(sub, start, eventlog.Pushed, nil)
			}
		}()
	}
	wg.Wait()
	records.write(ctx)
	st.Pushed, st.Oversize, st.Gone, st.Failed = int(pushed.Load()), int(oversize.Load()), int(gone.Load()), int(failed.Load())
	st.Expired = int(expired.Load())
	log.DebugContext(ctx, "fanout: change pushed", "matched", st.Matched, "pushed", st.Pushed, "gone", st.Gone, "failed", st.Failed, "oversize", st.Oversize, "expired", st.Expired)
	return st, nil
}

// result is one operation's payloads, computed once per change for every
// subscription with the same operation and identity (the session is part
// of the key), and that identity.
type result struct {
	once     sync.Once
	payloads [][]byte
	id       identity.Identity
	hasID    bool
}

func (r *result) get(run func() [][]byte) [][]byte {
	r.once.Do(func() { r.payloads = run() })
	return r.payloads
}

func opKey(sub store.Subscription) string {
	vars, _ := json.Marshal(sub.Variables)
	b, _ := json.Marshal([]string{sub.Query, sub.OperationName, string(vars), string(sub.Session)})
	return string(b)
}

// run executes a stored operation against the change, as the identity of
// the subscription's connection (identity.From), and returns the encoded
// results it produced (none when the change does not concern it, or the
// identity has expired). It records the identity in r.
func (f *Fanout) run(ctx context.Context, log *slog.Logger, e change.Event, sub store.Subscription, r *result) [][]byte {
	if e.CorrelationID != "" {
		ctx = correlation.With(ctx, e.CorrelationID)
	}
	if e.CausedBy != "" {
		ctx = correlation.WithSubject(ctx, e.CausedBy)
	}
	id, ok, err := realtime.SessionIdentity(sub.Session)
	if err != nil {
		log.ErrorContext(ctx, "fanout: subscription without a readable identity: not run", "subscriptionId", sub.ID, "connectionId", sub.ConnectionID, "err", err)
		return nil
	}
	r.id, r.hasID = id, ok
	if ok {
		if id.Expired(f.cfg.Now()) {
			return nil
		}
		ctx = identity.With(ctx, id)
	}
	ctx, cancel := context.WithTimeout(realtime.WithChange(ctx, e), f.cfg.ResolveTimeout)
	defer cancel()
	ch, err := f.cfg.Schema.Subscribe(ctx, sub.Query, sub.OperationName, sub.Variables)
	if err != nil {
		log.ErrorContext(ctx, "fanout: run subscription", "subscriptionId", sub.ID, "err", err)
		return nil
	}
	var out [][]byte
	for v := range ch {
		resp, ok := v.(*graphql.Response)
		if !ok {
			log.ErrorContext(ctx, "fanout: unexpected result", "subscriptionId", sub.ID, "type", fmt.Sprintf("%T", v))
			continue
		}
		out = append(out, f.gate.Response(ctx, sub.OperationName, resp.Data, resp.Errors))
	}
	return out
}

// tooLarge replaces an oversize result with an error message, which ends
// the subscription on the client, and forgets the subscription.
func (f *Fanout) tooLarge(ctx context.Context, log *slog.Logger, sub store.Subscription, size int) {
	log.WarnContext(ctx, "fanout: result over the message limit", "connectionId", sub.ConnectionID, "subscriptionId", sub.ID, "bytes", size)
	msg := wsproto.ErrorMessage(sub.ID, f.gate.Errors(ctx, sub.OperationName, []*gqlerrors.QueryError{graphqlhttp.NewError(errs.PayloadTooLarge,
		fmt.Sprintf("the result is %d bytes, over the %d-byte message limit", size, f.cfg.MaxMessageBytes))}))
	if err := f.post(ctx, sub.ConnectionID, msg); err != nil && !errors.Is(err, errGone) {
		log.ErrorContext(ctx, "fanout: post error message", "connectionId", sub.ConnectionID, "err", err)
	}
	if err := f.cfg.Store.DeleteSubscription(ctx, sub); err != nil {
		log.ErrorContext(ctx, "fanout: delete oversize subscription", "err", err)
	}
}

var (
	errGone     = errors.New("connection gone")
	errTooLarge = errors.New("payload too large")
	errExpired  = errors.New("the connection's token has expired")
)

// post sends a frame, retrying what a retry can help with; each call
// has PostTimeout to answer.
func (f *Fanout) post(ctx context.Context, connectionID string, frame []byte) error {
	delay := f.cfg.Backoff
	for attempt := 0; ; attempt++ {
		callCtx, cancel := context.WithTimeout(ctx, f.cfg.PostTimeout)
		_, err := f.cfg.Management.PostToConnection(callCtx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: &connectionID, Data: frame})
		timedOut := errors.Is(callCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
		cancel()
		if err == nil {
			return nil
		}
		if timedOut {
			// Slow for this connection: waiting again would hold up
			// everyone behind this change.
			return fmt.Errorf("post to %s: no answer within %s: %w", connectionID, f.cfg.PostTimeout, err)
		}
		var (
			gone     *apitypes.GoneException
			tooLarge *apitypes.PayloadTooLargeException
			forbid   *apitypes.ForbiddenException
		)
		switch {
		case errors.As(err, &gone):
			return errGone
		case errors.As(err, &tooLarge):
			return errTooLarge
		case errors.As(err, &forbid), !retryable(err):
			return fmt.Errorf("post to %s: %w", connectionID, err)
		}
		if attempt >= f.cfg.Retries {
			return fmt.Errorf("post to %s: %d attempts: %w", connectionID, attempt+1, err)
		}
		jittered := delay/2 + time.Duration(rand.Int64N(int64(delay)+1))
		select {
		case <-ctx.Done():
			return fmt.Errorf("post to %s: %w", connectionID, ctx.Err())
		case <-time.After(jittered):
		}
		delay *= 2
	}
}

// retryable says whether a failed push may succeed when tried again:
// throttling, server faults and transport errors; not client faults.
func retryable(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) {
		var limit *apitypes.LimitExceededException
		return api.ErrorFault() != smithy.FaultClient || errors.As(err, &limit) ||
			api.ErrorCode() == "ThrottlingException" || api.ErrorCode() == "TooManyRequestsException"
	}
	return !errors.Is(err, context.Canceled)
}
