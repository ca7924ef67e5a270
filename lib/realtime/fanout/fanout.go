package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	apitypes "github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
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
	// DefaultItemConcurrency is how many items' records a stream batch
	// has in flight: a batch of 100 records of 100 items takes about seven
	// records' round trips rather than a hundred.
	DefaultItemConcurrency = 16
	// DefaultQueueThreshold is the audience over which a change goes
	// through the push queue: about a third of a second of posts from one
	// invocation at DefaultConcurrency and 20 ms a post.
	DefaultQueueThreshold = 1000
	// DefaultPartitions is how many message groups (partitions of
	// connections) a queued change is spread over: at most that many
	// push workers share its audience.
	DefaultPartitions = 64
	// DefaultQueueMessageBytes is the largest push-queue message: SQS's
	// default maximum message size.
	DefaultQueueMessageBytes = 256 * 1024
	// MaxThrottleBackoff caps the pause before a throttled post is tried
	// again.
	MaxThrottleBackoff = time.Second
)

type postAPI interface {
	PostToConnection(ctx context.Context, in *apigatewaymanagementapi.PostToConnectionInput, opts ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.PostToConnectionOutput, error)
}

// subscriptionStore is the part of the store the fan-out uses.
type subscriptionStore interface {
	Audience(ctx context.Context, topic string) (store.Audience, error)
	MarkQueued(ctx context.Context, topics, ids []string) error
	MarkDone(ctx context.Context, topics []string, id string) error
	DeleteConnection(ctx context.Context, connectionID string) error
	DeleteSubscription(ctx context.Context, sub store.Subscription) error
}

// queueAPI is the part of the SQS client the fan-out sends with.
type queueAPI interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
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
	// Concurrency bounds the pushes in flight for one change pushed from
	// the stream (records are pushed one after another, so it bounds
	// them all), and for one push worker invocation (all the messages of
	// its batch together).
	Concurrency int
	// ItemConcurrency bounds the records of different items a stream
	// batch handles at once; one item's records always go one after
	// another. Default DefaultItemConcurrency; 1 handles the batch in
	// order.
	ItemConcurrency int
	// Queue and QueueURL are the push queue (FIFO; topology.PushQueueName
	// locally, infra's PushQueue on AWS). Without them every change is
	// pushed from the stream.
	Queue    queueAPI
	QueueURL string
	// QueueThreshold: a change with more subscriptions than this, over
	// all its topics, is sent through the push queue. Default
	// DefaultQueueThreshold.
	QueueThreshold int
	// Partitions is how many message groups a queued change's audience
	// is spread over, by connection. Default DefaultPartitions.
	Partitions int
	// QueueMessageBytes bounds a push-queue message; it must not exceed
	// the queue's maximum message size. Default DefaultQueueMessageBytes.
	QueueMessageBytes int
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
	// one write per change (per change and push-queue message on the
	// queued path), best effort, waited on at most
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
	if c.Concurrency < 0 || c.Retries < 0 || c.Backoff < 0 || c.PostTimeout < 0 || c.ItemConcurrency < 0 {
		errs = append(errs, errors.New("fanout: negative concurrency, retries, backoff or post timeout"))
	}
	if (c.Queue == nil) != (c.QueueURL == "") {
		errs = append(errs, errors.New("fanout: a push queue needs both a client and a URL"))
	}
	if c.QueueThreshold < 0 || c.Partitions < 0 || c.QueueMessageBytes < 0 {
		errs = append(errs, errors.New("fanout: negative queue threshold, partitions or message size"))
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
	// pace spaces posts once the Management API throttles them.
	pace *pacer
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
	if cfg.ItemConcurrency == 0 {
		cfg.ItemConcurrency = DefaultItemConcurrency
	}
	if cfg.QueueThreshold == 0 {
		cfg.QueueThreshold = DefaultQueueThreshold
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = DefaultPartitions
	}
	if cfg.QueueMessageBytes == 0 {
		cfg.QueueMessageBytes = DefaultQueueMessageBytes
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
	return &Fanout{cfg: cfg, log: cfg.Logger, gate: gate, pace: newPacer(time.Now)}, nil
}

// Stats counts what one change did.
type Stats struct {
	// Matched is the number of subscriptions found under the change's topics.
	Matched int
	// Queued is the number of subscriptions handed to push workers
	// through the push queue, in Messages messages.
	Queued   int
	Messages int
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
	// Unfinished is the number of pushes the Management API was still
	// throttling when the deadline came: never dropped, they make the
	// record (or push-queue message) fail, so that it is delivered again.
	Unfinished int
}

func (s *Stats) add(o Stats) {
	s.Pushed += o.Pushed
	s.Oversize += o.Oversize
	s.Gone += o.Gone
	s.Failed += o.Failed
	s.Expired += o.Expired
	s.Unfinished += o.Unfinished
}

// Handle is the stream reader. Records of different items are handled at
// once (up to ItemConcurrency), each item's records one after another in
// stream order, so that a hot shard is not held to one record's round trips
// at a time while every subscription still sees an item's changes in
// commit order. A record whose subscribers cannot be looked up, or whose
// queued work cannot be sent, or whose pushes were still throttled at the
// deadline, fails: the response names it and every record after it, which
// the stream delivers again. Records after it that were handled already
// (other items') are pushed again then: a duplicate, never a loss; the
// records not yet started are not handled.
func (f *Fanout) Handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	var resp events.DynamoDBEventResponse
	if f.cfg.Decode == nil {
		return resp, errors.New("fanout: no Decode")
	}
	ctx, cancel := deadlineMargin(ctx)
	defer cancel()
	type record struct {
		i int
		e change.Event
	}
	items := map[string][]record{}
	var order []string
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
		key := e.Table + "\x00" + string(e.Keys)
		if _, ok := items[key]; !ok {
			order = append(order, key)
		}
		items[key] = append(items[key], record{i, e})
	}
	var (
		mu     sync.Mutex
		failed = len(ev.Records) // the earliest record that failed
		wg     sync.WaitGroup
		sem    = make(chan struct{}, f.cfg.ItemConcurrency)
	)
	failedAt := func() int { mu.Lock(); defer mu.Unlock(); return failed }
	for _, key := range order {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			for _, r := range items[key] {
				if r.i > failedAt() {
					return // delivered again from the earlier failure
				}
				if _, err := f.Publish(ctx, r.e); err != nil {
					f.log.ErrorContext(ctx, "fanout: record failed", "eventId", r.e.ID, "correlationId", r.e.CorrelationID, "err", err)
					mu.Lock()
					failed = min(failed, r.i)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, r := range ev.Records[min(failed, len(ev.Records)):] {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: r.Change.SequenceNumber})
	}
	return resp, nil
}

// ErrUnfinished reports pushes the Management API was still throttling
// when the deadline came: the change (or push-queue message) is to be
// delivered again, never dropped.
var ErrUnfinished = errors.New("pushes still throttled at the deadline")

// Publish pushes one change to the subscriptions of its topics. A change
// whose audience is over QueueThreshold, or that concerns a topic with
// push-queue messages not yet done, goes to the push workers through the
// push queue, partitioned by connection; any other is pushed here, and
// Publish waits for every push. It fails when the subscriptions cannot be
// looked up, the queued work cannot be sent, or pushes were still
// throttled at ctx's deadline (ErrUnfinished).
//
// Order: a connection receives the changes of one item in commit order.
// The stream delivers an item's changes in order and Publish handles one
// at a time; a queued change's pushes for one connection all go in one
// message group, which the workers read in order; and a change is pushed
// from here only when none of its topics has queued work outstanding, so
// a push never overtakes a queued one.
func (f *Fanout) Publish(ctx context.Context, e change.Event) (Stats, error) {
	if e.Operation == topology.Modify && len(e.Changed) == 0 && !e.Reduced {
		// A write that changed nothing (DynamoDB streams record those
		// too): subscribers have seen this state already.
		return Stats{}, nil
	}
	topics := f.cfg.Topics(e)
	var (
		subs   []store.Subscription
		queued int
	)
	for _, topic := range topics {
		a, err := f.cfg.Store.Audience(ctx, topic)
		if err != nil {
			return Stats{}, fmt.Errorf("change %s: topic %s: %w", e.ID, topic, err)
		}
		subs = append(subs, a.Subscriptions...)
		queued += a.Queued
	}
	st := Stats{Matched: len(subs)}
	log := f.log.With("eventId", e.ID, "correlationId", e.CorrelationID)
	if f.cfg.Queue != nil && len(subs) > 0 && (len(subs) > f.cfg.QueueThreshold || queued > 0) {
		msgs, err := f.enqueue(ctx, e, topics, subs)
		switch {
		case err == nil:
			st.Queued, st.Messages = len(subs), msgs
			log.DebugContext(ctx, "fanout: change queued", "matched", st.Matched, "messages", msgs, "queuedBefore", queued)
			return st, nil
		case !errors.Is(err, errChangeTooLarge):
			return st, err
		}
		// The one change that cannot ride the queue: pushed from here,
		// where it may pass queued pushes of its topics (see doc.go).
		log.WarnContext(ctx, "fanout: change too large for a push-queue message: pushed from the stream", "matched", len(subs), "err", err)
	}
	if len(subs) == 0 {
		return st, nil
	}
	st.add(f.push(ctx, log, e, subs, make(chan struct{}, f.cfg.Concurrency)))
	log.DebugContext(ctx, "fanout: change pushed", "matched", st.Matched, "pushed", st.Pushed, "gone", st.Gone,
		"failed", st.Failed, "oversize", st.Oversize, "expired", st.Expired, "unfinished", st.Unfinished)
	if st.Unfinished > 0 {
		return st, fmt.Errorf("change %s: %d of %d: %w", e.ID, st.Unfinished, st.Matched, ErrUnfinished)
	}
	return st, nil
}

// outcome is what became of one push.
type outcome int

const (
	pushed     outcome = iota
	gone               // the connection is gone (410): deleted
	goneAgain          // the connection was found gone for this change already: counted once
	oversize           // the result was over the message limit: replaced by an error
	failed             // dropped after the retries
	expired            // the connection's identity had expired: not pushed
	unfinished         // still throttled at the deadline: to be delivered again
)

// push runs the stored operations of subs against e (once per identical
// operation and identity) and posts each result to its subscription's
// connection, as many at once as sem has room for (a change from the
// stream has Concurrency to itself; the messages of one push worker
// invocation share Concurrency); each subscription's pushes go in order.
// Pushes from the stream and from the push workers both come here, and
// each push's outcome is known in one place, deliver, and recorded in
// the push log (Config.Pushes) with one write per call.
func (f *Fanout) push(ctx context.Context, log *slog.Logger, e change.Event, subs []store.Subscription, sem chan struct{}) Stats {
	var (
		mu        sync.Mutex
		st        Stats
		results   sync.Map // operation key -> *result
		goneConns sync.Map
		wg        sync.WaitGroup
	)
	records := f.pushRecords(e)
	for _, sub := range subs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			start := time.Now()
			v, _ := results.LoadOrStore(opKey(sub), &result{})
			r := v.(*result)
			payloads := r.get(func() [][]byte { return f.run(ctx, log, e, sub, r) })
			if r.hasID && r.id.Expired(f.cfg.Now()) {
				mu.Lock()
				st.Expired++
				mu.Unlock()
				records.add(sub, start, eventlog.Denied, errExpired)
				return
			}
			for i, p := range payloads {
				o, err := f.deliver(ctx, log, sub, r, p, &goneConns)
				mu.Lock()
				switch o {
				case pushed:
					st.Pushed++
				case gone:
					st.Gone++
				case oversize:
					st.Oversize++
				case failed:
					st.Failed++
				case expired:
					st.Expired++
				case unfinished:
					st.Unfinished++
				}
				mu.Unlock()
				if o == pushed {
					if i == len(payloads)-1 {
						records.add(sub, start, eventlog.Pushed, nil)
					}
					continue
				}
				records.add(sub, start, o.record(), err)
				return
			}
		}()
	}
	wg.Wait()
	records.write(ctx)
	return st
}

// record is the event log's name for a push that did not go through.
func (o outcome) record() eventlog.PushOutcome {
	switch o {
	case gone, goneAgain:
		return eventlog.Gone
	case oversize:
		return eventlog.Oversize
	case expired:
		return eventlog.Denied
	default:
		return eventlog.Failed
	}
}

// deliver makes one push: the frame of payload p for sub, posted to its
// connection. It is where the outcome of every push is known; err says
// why a push expired, failed or is unfinished.
func (f *Fanout) deliver(ctx context.Context, log *slog.Logger, sub store.Subscription, r *result, p []byte, goneConns *sync.Map) (outcome, error) {
	// Checked before each push: an identity may expire while a change is
	// being pushed.
	if r.hasID && r.id.Expired(f.cfg.Now()) {
		return expired, errExpired
	}
	frame := wsproto.NextMessage(sub.ID, p)
	if len(frame) > f.cfg.MaxMessageBytes {
		f.tooLarge(ctx, log, sub, len(frame))
		return oversize, nil
	}
	switch err := f.post(ctx, sub.ConnectionID, frame); {
	case err == nil:
		return pushed, nil
	case errors.Is(err, errGone):
		if _, seen := goneConns.LoadOrStore(sub.ConnectionID, true); !seen {
			if err := f.cfg.Store.DeleteConnection(ctx, sub.ConnectionID); err != nil {
				log.ErrorContext(ctx, "fanout: delete gone connection", "connectionId", sub.ConnectionID, "err", err)
			}
			return gone, nil
		}
		return goneAgain, nil
	case errors.Is(err, errTooLarge):
		f.tooLarge(ctx, log, sub, len(frame))
		return oversize, nil
	case errors.Is(err, errStillThrottled):
		log.WarnContext(ctx, "fanout: push still throttled at the deadline", "connectionId", sub.ConnectionID, "subscriptionId", sub.ID)
		return unfinished, err
	default:
		log.ErrorContext(ctx, "fanout: push dropped", "connectionId", sub.ConnectionID, "subscriptionId", sub.ID, "err", err)
		return failed, err
	}
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
	errGone           = errors.New("connection gone")
	errTooLarge       = errors.New("payload too large")
	errStillThrottled = errors.New("still throttled at the deadline")
	errExpired        = errors.New("the connection's token has expired")
)

// post sends a frame, retrying what a retry can help with; each call has
// PostTimeout to answer. A throttled call (429, LimitExceededException)
// is tried again, after a backoff and at the pace the Management API has
// been accepting, until ctx ends, and is never dropped: at the end it is
// errStillThrottled, which makes the change be delivered again. Other
// retryable failures are tried Retries more times.
func (f *Fanout) post(ctx context.Context, connectionID string, frame []byte) error {
	delay, throttleDelay := f.cfg.Backoff, f.cfg.Backoff
	for attempt := 0; ; {
		if err := f.pace.wait(ctx); err != nil {
			return fmt.Errorf("post to %s: %w: %w", connectionID, errStillThrottled, err)
		}
		callCtx, cancel := context.WithTimeout(ctx, f.cfg.PostTimeout)
		_, err := f.cfg.Management.PostToConnection(callCtx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: &connectionID, Data: frame})
		timedOut := errors.Is(callCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
		cancel()
		if err == nil {
			f.pace.ok()
			return nil
		}
		if timedOut {
			// Slow for this connection: waiting again would hold up
			// everyone behind this change.
			return fmt.Errorf("post to %s: no answer within %s: %w", connectionID, f.cfg.PostTimeout, err)
		}
		var (
			goneErr  *apitypes.GoneException
			tooLarge *apitypes.PayloadTooLargeException
			forbid   *apitypes.ForbiddenException
		)
		switch {
		case errors.As(err, &goneErr):
			return errGone
		case errors.As(err, &tooLarge):
			return errTooLarge
		case throttled(err):
			f.pace.throttled()
			if !sleep(ctx, jitter(throttleDelay)) {
				return fmt.Errorf("post to %s: %w: %w", connectionID, errStillThrottled, err)
			}
			throttleDelay = min(2*throttleDelay, MaxThrottleBackoff)
			continue
		case errors.As(err, &forbid), !retryable(err):
			return fmt.Errorf("post to %s: %w", connectionID, err)
		}
		if attempt >= f.cfg.Retries {
			return fmt.Errorf("post to %s: %d attempts: %w", connectionID, attempt+1, err)
		}
		attempt++
		if !sleep(ctx, jitter(delay)) {
			return fmt.Errorf("post to %s: %w", connectionID, ctx.Err())
		}
		delay *= 2
	}
}

// jitter is d/2 plus up to d at random.
func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d)+1))
}

// sleep waits d unless ctx ends first; it reports whether it waited.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// throttled says whether the Management API refused a call for the rate
// of calls (429: LimitExceededException, or a throttling code).
func throttled(err error) bool {
	var limit *apitypes.LimitExceededException
	if errors.As(err, &limit) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ThrottlingException", "TooManyRequestsException", "Throttling":
			return true
		}
	}
	var resp *awshttp.ResponseError
	return errors.As(err, &resp) && resp.HTTPStatusCode() == 429
}

// retryable says whether a failed push may succeed when tried again:
// server faults and transport errors; not client faults.
func retryable(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorFault() != smithy.FaultClient
	}
	return !errors.Is(err, context.Canceled)
}

// deadlineMargin ends ctx a little before its deadline, so that a push
// still throttled is reported (and its change delivered again) rather
// than the invocation timing out.
func deadlineMargin(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	margin := max(0, min(2*time.Second, time.Until(dl)/10))
	return context.WithDeadline(ctx, dl.Add(-margin))
}
