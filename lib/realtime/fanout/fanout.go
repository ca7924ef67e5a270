package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
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
	DefaultOrderWait      = 5 * time.Second
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
	DeleteConnection(ctx context.Context, in *apigatewaymanagementapi.DeleteConnectionInput, opts ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.DeleteConnectionOutput, error)
}

// subscriptionStore is the part of the store the fan-out uses.
type subscriptionStore interface {
	realtime.PendingStore
	AddPending(ctx context.Context, sub store.Subscription, ps ...store.Pending) (int, error)
	Nudge(ctx context.Context, sub store.Subscription) (live bool, cursor uint64, err error)
	Pushed(ctx context.Context, topic string) (uint64, error)
	SetPushed(ctx context.Context, topic string, position uint64) error
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

// TopicLog is the part of the event log the fan-out appends to and takes
// changes over from.
type TopicLog interface {
	Append(ctx context.Context, topic string, e change.Event) (eventlog.Position, error)
	Read(ctx context.Context, topic string, after eventlog.Position, limit int) ([]eventlog.Entry, error)
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
	// Log is the topic log (an eventlog.Log): each change is appended to
	// the log of each of its topics before the topic's subscriptions are
	// looked up, and every push carries the cursor of its position
	// (payload.extensions.cursor), which a client resumes from. Nil: no
	// cursors, and no resume.
	Log TopicLog
	// OrderWait bounds how long a change waits for the change before it
	// in a topic's log to be pushed (by another instance) before taking
	// it over. Default DefaultOrderWait.
	OrderWait time.Duration
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
	// PushLogTimeout (default realtime.DefaultPushLogTimeout).
	Pushes         realtime.PushLog
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
	if c.Concurrency < 0 || c.Retries < 0 || c.Backoff < 0 || c.PostTimeout < 0 || c.ItemConcurrency < 0 || c.OrderWait < 0 {
		errs = append(errs, errors.New("fanout: negative concurrency, retries, backoff, post timeout or order wait"))
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
	// marks remembers when topics' resumable marks expire.
	marks marks
}

// marks remembers, per topic, until when its resumable mark is known to
// last: a mark is never removed before it expires, so a change to a
// topic remembered as marked goes into its log without the read that
// would only say so again (one Query less per change and watched topic).
// Bounded: a new topic past maxMarks makes the expired ones forgotten,
// and all of them when that frees less than a quarter.
type marks struct {
	mu    sync.Mutex
	until map[string]time.Time
}

// maxMarks bounds the topics a fan-out instance remembers marks of.
const maxMarks = 1 << 16

// markSlack is how long before a mark's expiry it is read again, against
// the skew between this clock and the store's.
const markSlack = time.Minute

// known reports whether topic's mark lasts past now.
func (m *marks) known(topic string, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.until[topic].After(now.Add(markSlack))
}

// remember notes what an audience read of topic says of its mark.
func (m *marks) remember(topic string, a store.Audience, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !a.Resumable() {
		delete(m.until, topic)
		return
	}
	if m.until == nil {
		m.until = map[string]time.Time{}
	}
	if _, known := m.until[topic]; !known && len(m.until) >= maxMarks {
		for t, u := range m.until {
			if !u.After(now.Add(markSlack)) {
				delete(m.until, t)
			}
		}
		if len(m.until) > maxMarks*3/4 {
			clear(m.until)
		}
	}
	m.until[topic] = a.ResumableUntil
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
		cfg.PushLogTimeout = realtime.DefaultPushLogTimeout
	}
	if cfg.OrderWait == 0 {
		cfg.OrderWait = DefaultOrderWait
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
	// Failed is the number of pushes dropped: they failed after the
	// retries and could not be kept either (or no retry could help).
	Failed int
	// Kept is the number of subscriptions whose pushes failed after the
	// retries and are kept for a later delivery.
	Kept int
	// Expired is the number of subscriptions not pushed to because their
	// connection's identity had expired.
	Expired int
	// CatchingUp is the number of subscriptions not pushed to because
	// they were catching up (their catch-up delivers the change), or had
	// delivered the change in their catch-up already.
	CatchingUp int
	// Unfinished is the number of pushes the Management API was still
	// throttling when the deadline came: never dropped, they make the
	// record (or push-queue message) fail, so that it is delivered again.
	Unfinished int
}

func (s *Stats) add(o Stats) {
	s.Matched += o.Matched
	s.Queued += o.Queued
	s.Messages += o.Messages
	s.Pushed += o.Pushed
	s.Oversize += o.Oversize
	s.Gone += o.Gone
	s.Failed += o.Failed
	s.Kept += o.Kept
	s.Expired += o.Expired
	s.CatchingUp += o.CatchingUp
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
	var (
		st        Stats
		topics    []string
		positions = map[string]eventlog.Position{}
		audiences = map[string]store.Audience{}
	)
	all := f.cfg.Topics(e)
	if f.cfg.Log == nil {
		topics = all
	}
	for i, pr := range f.prepareAll(ctx, e, all) {
		topic := all[i]
		st.add(pr.stats)
		if pr.err != nil {
			return st, fmt.Errorf("change %s: topic %s: %w", e.ID, topic, pr.err)
		}
		if pr.done {
			continue // pushed already: the record is delivered again
		}
		if pr.position > 0 {
			positions[topic] = pr.position
		}
		if pr.audience != nil {
			audiences[topic] = *pr.audience
		}
		topics = append(topics, topic)
	}
	if len(topics) == 0 {
		return st, nil
	}
	return st, f.publish(ctx, e, topics, positions, audiences, &st)
}

// topicPrep is a topic made ready for a change's push: its position in
// the topic's log (0: not appended), its audience when still current
// (nil: read it again), done when the change was pushed already (a
// retried record), and what taking over earlier changes did.
type topicPrep struct {
	position eventlog.Position
	audience *store.Audience
	done     bool
	stats    Stats
	err      error
}

// prepareAll makes e's topics ready for its push when there is a log
// (none without one): each on its own (its log and its audience), all at
// once, so that a change's latency is its slowest topic's, not their sum.
func (f *Fanout) prepareAll(ctx context.Context, e change.Event, topics []string) []topicPrep {
	if f.cfg.Log == nil {
		return nil
	}
	preps := make([]topicPrep, len(topics))
	var wg sync.WaitGroup
	for i, topic := range topics {
		wg.Go(func() { preps[i] = f.prepare(ctx, e, topic) })
	}
	wg.Wait()
	return preps
}

// prepare makes topic ready for e's push: appended to its log when the
// topic is watched, its audience read after that, and its turn awaited.
func (f *Fanout) prepare(ctx context.Context, e change.Event, topic string) (pr topicPrep) {
	// Only a topic marked resumable (or with subscriptions) has its
	// changes appended: no client holds a cursor of another. A topic
	// known to be marked needs no read to say so.
	if !f.marks.known(topic, f.cfg.Now()) {
		a, err := f.cfg.Store.Audience(ctx, topic)
		if err != nil {
			pr.err = err
			return pr
		}
		f.marks.remember(topic, a, f.cfg.Now())
		if !a.Resumable() && len(a.Subscriptions) == 0 {
			pr.audience = &a
			return pr
		}
	}
	// The change goes into the topic's log before the topic's
	// subscriptions are read (again); a subscription catching up stores
	// itself before it reads the log. So either the read finds it, or its
	// read of the log finds the change: nothing falls between. (A
	// subscription stored after the topic was found unmarked marked it
	// after this change committed: its snapshot shows the change.)
	p, err := f.cfg.Log.Append(ctx, topic, e)
	if err != nil {
		pr.err = fmt.Errorf("append to its log: %w", err)
		return pr
	}
	pr.position = p
	a, err := f.cfg.Store.Audience(ctx, topic)
	if err != nil {
		pr.err = err
		return pr
	}
	f.marks.remember(topic, a, f.cfg.Now())
	var waited bool
	if len(a.Subscriptions) > 0 {
		// The order of the topic's pushes matters only to its
		// subscribers (a catch-up reads the log in order).
		if pr.done, waited, pr.err = f.awaitTurn(ctx, topic, p, a.Pushed, &pr.stats); pr.err != nil || pr.done {
			return pr
		}
	}
	if !waited {
		pr.audience = &a // still what it was: read again otherwise
	}
	return pr
}

// publish pushes e to the subscriptions of topics, at positions in their
// logs (none without a log), and records the topics' pushed positions.
func (f *Fanout) publish(ctx context.Context, e change.Event, topics []string, positions map[string]eventlog.Position, audiences map[string]store.Audience, st *Stats) error {
	var (
		subs   []store.Subscription
		queued int
	)
	for _, topic := range topics {
		a, ok := audiences[topic]
		if !ok {
			var err error
			if a, err = f.cfg.Store.Audience(ctx, topic); err != nil {
				return fmt.Errorf("change %s: topic %s: %w", e.ID, topic, err)
			}
		}
		st.Matched += len(a.Subscriptions)
		queued += a.Queued
		for _, sub := range a.Subscriptions {
			due, err := f.due(ctx, sub, positions[topic])
			if err != nil {
				return fmt.Errorf("change %s: topic %s: %w", e.ID, topic, err)
			}
			if !due {
				st.CatchingUp++
				continue
			}
			subs = append(subs, sub)
		}
	}
	log := f.log.With("eventId", e.ID, "correlationId", e.CorrelationID)
	done := func() {
		for topic, p := range positions {
			if err := f.cfg.Store.SetPushed(ctx, topic, uint64(p)); err != nil {
				// The topic's next change waits OrderWait, then takes
				// this one over from the log (pushing it again).
				log.WarnContext(ctx, "fanout: record the topic's pushed position", "topic", topic, "position", uint64(p), "err", err)
			}
		}
	}
	if f.cfg.Queue != nil && len(subs) > 0 && (len(subs) > f.cfg.QueueThreshold || queued > 0) {
		msgs, err := f.enqueue(ctx, e, topics, positions, subs)
		switch {
		case err == nil:
			st.Queued, st.Messages = st.Queued+len(subs), st.Messages+msgs
			log.DebugContext(ctx, "fanout: change queued", "matched", st.Matched, "messages", msgs, "queuedBefore", queued)
			// Queued is as good as pushed for the order: the topic's
			// later changes go behind these messages (the queue marks).
			done()
			return nil
		case !errors.Is(err, errChangeTooLarge):
			return err
		}
		// The one change that cannot ride the queue: pushed from here,
		// where it may pass queued pushes of its topics (see doc.go).
		log.WarnContext(ctx, "fanout: change too large for a push-queue message: pushed from the stream", "matched", len(subs), "err", err)
	}
	if len(subs) > 0 {
		pst := f.push(ctx, log, e, subs, positions, make(chan struct{}, f.cfg.Concurrency))
		st.add(pst)
		log.DebugContext(ctx, "fanout: change pushed", "matched", st.Matched, "pushed", st.Pushed, "gone", st.Gone,
			"failed", st.Failed, "kept", st.Kept, "oversize", st.Oversize, "expired", st.Expired, "unfinished", st.Unfinished, "catchingUp", st.CatchingUp)
		if pst.Unfinished > 0 {
			return fmt.Errorf("change %s: %d of %d: %w", e.ID, pst.Unfinished, st.Matched, ErrUnfinished)
		}
	}
	done()
	return nil
}

// due says whether the change at pos is pushed to sub live. A
// subscription catching up is nudged instead: its catch-up reads the log
// again before going live, and finds the change there. One that went
// live meanwhile, or earlier, gets only changes after the last one its
// catch-up delivered. A nudge that fails fails the change (the stream
// retries it): skipping it could let the catch-up go live without it.
func (f *Fanout) due(ctx context.Context, sub store.Subscription, pos eventlog.Position) (bool, error) {
	cursor := sub.Cursor
	if sub.Catchup {
		live, cur, err := f.cfg.Store.Nudge(ctx, sub)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return false, nil // completed, or its connection gone
		case err != nil:
			return false, err
		case !live:
			return false, nil
		}
		cursor = cur
	}
	return pos == 0 || uint64(pos) > cursor, nil
}

// awaitTurn keeps pushes in the order of the topic's log. Changes of
// different items of one topic (a restaurant's orders) are handled at
// once (ItemConcurrency, stream shards, fan-out instances); a change is
// pushed (or queued) once the topic's pushed position (the store's
// watermark) is the one before it. An item's changes, handled in order,
// never wait for themselves. When the position before does not come
// within OrderWait (its instance failed, or gave the record up), this one
// takes the missing changes over from the log and pushes them first: in
// that case a change may be pushed twice, with the same cursor. w is the
// pushed position as the topic's audience read it. It reports done when
// the change was pushed already (a retried record), and waited when it
// had to wait.
func (f *Fanout) awaitTurn(ctx context.Context, topic string, pos eventlog.Position, w uint64, st *Stats) (done, waited bool, err error) {
	deadline := f.cfg.Now().Add(f.cfg.OrderWait)
	delay := 5 * time.Millisecond
	for first := true; ; first = false {
		if !first {
			if w, err = f.cfg.Store.Pushed(ctx, topic); err != nil {
				return false, true, err
			}
		}
		switch p := uint64(pos); {
		case w == 0 || w == p-1:
			return false, !first, nil // its turn (or nothing known of the topic's pushes)
		case w >= p:
			return true, !first, nil
		}
		if first {
			// A pushed position the log no longer has (its log expired
			// and started again): nothing to wait for.
			if _, err := f.cfg.Log.Read(ctx, topic, eventlog.Position(w), 1); errors.Is(err, eventlog.ErrExpired) {
				return false, false, nil
			}
		}
		if f.cfg.Now().After(deadline) {
			entries, err := f.cfg.Log.Read(ctx, topic, eventlog.Position(w), int(uint64(pos)-1-w))
			if err != nil {
				// What cannot be read can no longer be resumed either.
				f.log.WarnContext(ctx, "fanout: changes before this one not pushed and not readable", "topic", topic, "pushed", w, "position", uint64(pos), "err", err)
				return false, true, nil
			}
			f.log.WarnContext(ctx, "fanout: taking over changes not pushed in time", "topic", topic, "pushed", w, "position", uint64(pos), "changes", len(entries))
			for _, en := range entries {
				if en.Position >= pos {
					break
				}
				if err := f.publish(ctx, en.Event, []string{topic}, map[string]eventlog.Position{topic: en.Position}, nil, st); err != nil {
					return false, true, err
				}
			}
			return false, true, nil
		}
		if !sleep(ctx, delay) {
			return false, true, ctx.Err()
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
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
	kept               // failed after the retries: kept for a later delivery
)

// count adds n pushes that came to o.
func (s *Stats) count(o outcome, n int) {
	switch o {
	case pushed:
		s.Pushed += n
	case gone:
		s.Gone++
	case failed:
		s.Failed++
	case kept:
		s.Kept++
	case unfinished:
		s.Unfinished++
	}
}

// push runs the stored operations of subs against e (once per identical
// operation and identity) and posts each result to its subscription's
// connection, as many at once as sem has room for (a change from the
// stream has Concurrency to itself; the messages of one push worker
// invocation share Concurrency); each subscription's pushes go in order.
// Pushes from the stream and from the push workers both come here, and
// each push's outcome is known in one place, deliver, and recorded in
// the push log (Config.Pushes) with one write per call.
func (f *Fanout) push(ctx context.Context, log *slog.Logger, e change.Event, subs []store.Subscription, positions map[string]eventlog.Position, sem chan struct{}) Stats {
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
			pos := positions[sub.Topic]
			v, _ := results.LoadOrStore(sub.Topic+"\x00"+opKey(sub), &result{})
			r := v.(*result)
			payloads := r.get(func() [][]byte { return f.run(ctx, log, e, sub, pos, r) })
			if r.hasID && r.id.Expired(f.cfg.Now()) {
				mu.Lock()
				st.Expired++
				mu.Unlock()
				records.add(sub, start, eventlog.Denied, errExpired)
				return
			}
			if len(sub.Pending) > 0 && len(payloads) > 0 {
				// Pushes kept for this subscription go first: these join
				// them, and the whole list is delivered in order.
				o, done, err := f.deliverAfterKept(ctx, log, e, sub, pos, payloads, &goneConns)
				mu.Lock()
				st.count(o, len(payloads))
				mu.Unlock()
				records.add(sub, start, o.record(), err)
				records.addRedelivered(sub, done, start)
				return
			}
			for i, p := range payloads {
				o, err := f.deliver(ctx, log, sub, r, p, &goneConns)
				if o == failed && !errors.Is(err, realtime.ErrUndeliverable) && f.keep(ctx, log, e, sub, pos, payloads[i:], err) {
					o = kept
				}
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
				case kept:
					st.Kept++
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
	case pushed:
		return eventlog.Pushed
	case kept:
		return eventlog.Kept
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
func (f *Fanout) run(ctx context.Context, log *slog.Logger, e change.Event, sub store.Subscription, pos eventlog.Position, r *result) [][]byte {
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
	out, err := realtime.RenderChanged(ctx, f.cfg.Schema, f.gate, sub, e, f.cfg.ResolveTimeout)
	if err != nil {
		log.ErrorContext(ctx, "fanout: run subscription", "subscriptionId", sub.ID, "err", err)
	}
	if pos > 0 {
		cursor := realtime.EncodeCursor(sub.Topic, pos)
		for i := range out {
			out[i] = realtime.WithCursor(out[i], cursor)
		}
	}
	return out
}

// keep keeps the pushes of payloads (of change e, from the first that
// failed with cause, or behind pushes kept before) for a later delivery.
// It reports false when they could not be kept. A subscription holding
// more than realtime.MaxPending has its connection closed: the client
// reconnects and resumes with after.
func (f *Fanout) keep(ctx context.Context, log *slog.Logger, e change.Event, sub store.Subscription, pos eventlog.Position, payloads [][]byte, cause error) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.cfg.PostTimeout)
	defer cancel()
	ps := make([]store.Pending, len(payloads))
	for i, p := range payloads {
		ps[i] = store.Pending{Position: uint64(pos), Frame: wsproto.NextMessage(sub.ID, p),
			Event: store.PendingEvent{ID: e.ID, CorrelationID: e.CorrelationID, CausedBy: e.CausedBy}}
	}
	held, err := f.cfg.Store.AddPending(ctx, sub, ps...)
	if err != nil {
		log.ErrorContext(ctx, "fanout: could not keep pushes", "connectionId", sub.ConnectionID, "subscriptionId", sub.ID, "cause", cause, "err", err)
		return false
	}
	if cause != nil {
		log.WarnContext(ctx, "fanout: push failed; kept for a later delivery", "connectionId", sub.ConnectionID, "subscriptionId", sub.ID, "held", held, "err", cause)
	}
	if held > realtime.MaxPending {
		log.WarnContext(ctx, "fanout: too many undelivered pushes: closing the connection (the client resumes with after)", "connectionId", sub.ConnectionID, "held", held)
		id := sub.ConnectionID
		if _, err := f.cfg.Management.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: &id}); err != nil {
			log.WarnContext(ctx, "fanout: close the connection", "connectionId", id, "err", err)
		}
		if err := f.cfg.Store.DeleteConnection(ctx, id); err != nil {
			log.ErrorContext(ctx, "fanout: delete the connection", "connectionId", id, "err", err)
		}
	}
	return true
}

// deliverAfterKept pushes payloads (of change e) to a subscription that
// holds kept pushes: they join the list, and the list is delivered in
// order. It returns what was taken off the list. The change's own pushes
// are kept (and so reported) when the list's deliverer is another, which
// delivers them.
func (f *Fanout) deliverAfterKept(ctx context.Context, log *slog.Logger, e change.Event, sub store.Subscription, pos eventlog.Position, payloads [][]byte, goneConns *sync.Map) (outcome, []realtime.Redelivery, error) {
	if !f.keep(ctx, log, e, sub, pos, payloads, nil) {
		return failed, nil, errNotKept
	}
	done, err := realtime.DeliverPending(ctx, f.cfg.Store, sub, func(ctx context.Context, frame []byte) error {
		err := f.post(ctx, sub.ConnectionID, frame)
		if errors.Is(err, errGone) {
			return realtime.ErrGone
		}
		return err
	})
	switch {
	case errors.Is(err, realtime.ErrGone):
		if _, seen := goneConns.LoadOrStore(sub.ConnectionID, true); !seen {
			if err := f.cfg.Store.DeleteConnection(ctx, sub.ConnectionID); err != nil {
				log.ErrorContext(ctx, "fanout: delete gone connection", "connectionId", sub.ConnectionID, "err", err)
			}
			return gone, done, nil
		}
		return goneAgain, done, nil
	case err != nil:
		log.WarnContext(ctx, "fanout: kept pushes still undelivered", "connectionId", sub.ConnectionID, "subscriptionId", sub.ID, "delivered", len(done), "err", err)
		return kept, done, err
	}
	if !slices.ContainsFunc(done, func(d realtime.Redelivery) bool { return d.Event.ID == e.ID }) {
		return kept, done, nil // another deliverer holds the list
	}
	return pushed, done, nil
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
	errNotKept        = errors.New("the push could not be kept for a later delivery")
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
			return fmt.Errorf("post to %s: %w: %w", connectionID, realtime.ErrUndeliverable, err)
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
