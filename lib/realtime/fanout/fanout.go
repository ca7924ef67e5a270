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
	DefaultOrderWait      = 5 * time.Second
)

type postAPI interface {
	PostToConnection(ctx context.Context, in *apigatewaymanagementapi.PostToConnectionInput, opts ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.PostToConnectionOutput, error)
	DeleteConnection(ctx context.Context, in *apigatewaymanagementapi.DeleteConnectionInput, opts ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.DeleteConnectionOutput, error)
}

// subscriptionStore is the part of the store the fan-out uses.
type subscriptionStore interface {
	realtime.PendingStore
	AddPending(ctx context.Context, sub store.Subscription, ps ...store.Pending) (int, error)
	SubscriptionsFor(ctx context.Context, topic string) ([]store.Subscription, error)
	Nudge(ctx context.Context, sub store.Subscription) (live bool, cursor uint64, err error)
	Pushed(ctx context.Context, topic string) (uint64, error)
	SetPushed(ctx context.Context, topic string, position uint64) error
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
	// Log is the topic log (an eventlog.Log): each change is appended to
	// the log of each of its topics before the topic's subscriptions are
	// looked up, and every push carries the cursor of its position
	// (payload.extensions.cursor), which a client resumes from. Nil: no
	// cursors, and no resume.
	Log TopicLog
	// Concurrency bounds the pushes in flight for one record (records are
	// pushed one after another, so it bounds them all).
	Concurrency int
	// PostTimeout bounds each PostToConnection call: a connection whose
	// call does not answer in time is given up for this change (not
	// retried), so it holds up the change's other pushes, and the next
	// change, no longer than that.
	PostTimeout time.Duration
	// OrderWait bounds how long a change waits for the change before it
	// in a topic's log to be pushed (by another instance) before taking
	// it over. Default DefaultOrderWait.
	OrderWait time.Duration
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
	if c.Concurrency < 0 || c.Retries < 0 || c.Backoff < 0 || c.PostTimeout < 0 || c.OrderWait < 0 {
		errs = append(errs, errors.New("fanout: negative concurrency, retries, backoff, post timeout or order wait"))
	}
	return errors.Join(errs...)
}

// TopicLog is the part of the event log the fan-out appends to.
type TopicLog interface {
	Append(ctx context.Context, topic string, e change.Event) (eventlog.Position, error)
	Read(ctx context.Context, topic string, after eventlog.Position, limit int) ([]eventlog.Entry, error)
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
	if cfg.OrderWait == 0 {
		cfg.OrderWait = DefaultOrderWait
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
	// Failed is the number of pushes dropped: they failed after the
	// retries and could not be kept either.
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
	var st Stats
	for _, topic := range f.cfg.Topics(e) {
		if err := f.publishTopic(ctx, e, topic, 0, &st); err != nil {
			return st, fmt.Errorf("change %s: topic %s: %w", e.ID, topic, err)
		}
	}
	return st, nil
}

// publishTopic pushes a change to the subscriptions of one of its topics.
// The change goes into the topic's log before the topic's subscriptions
// are read; a subscription catching up stores itself before it reads the
// log. So either this read finds it, or its read of the log finds the
// change: nothing falls between. pos is the change's position when it is
// known (a change taken over from the log), else 0.
func (f *Fanout) publishTopic(ctx context.Context, e change.Event, topic string, pos eventlog.Position, st *Stats) error {
	if f.cfg.Log != nil && pos == 0 {
		p, err := f.cfg.Log.Append(ctx, topic, e)
		if err != nil {
			return fmt.Errorf("append to its log: %w", err)
		}
		pos = p
		done, err := f.awaitTurn(ctx, e, topic, pos, st)
		if err != nil || done {
			return err
		}
	}
	found, err := f.cfg.Store.SubscriptionsFor(ctx, topic)
	if err != nil {
		return err
	}
	st.Matched += len(found)
	var subs []target
	for _, sub := range found {
		due, err := f.due(ctx, sub, pos)
		if err != nil {
			return err
		}
		if !due {
			st.CatchingUp++
			continue
		}
		subs = append(subs, target{sub: sub, topic: topic, pos: pos})
	}
	f.push(ctx, e, subs, st)
	if pos > 0 {
		if err := f.cfg.Store.SetPushed(ctx, topic, uint64(pos)); err != nil {
			// The next change of the topic waits OrderWait, then takes
			// this one over from the log (pushing it again).
			f.log.WarnContext(ctx, "fanout: record the topic's pushed position", "topic", topic, "position", uint64(pos), "err", err)
		}
	}
	return nil
}

// awaitTurn keeps pushes in the order of the topic's log. Changes of
// different items of one topic (a restaurant's orders) may be read by
// different fan-out instances (stream shards) at once; a change is pushed
// once the topic's pushed position (the store's watermark) is the one
// before it. One instance reading its item's changes in order never
// waits for itself. When the position before does not come within
// OrderWait (its instance failed, or gave it up), this one takes the
// missing changes over from the log and pushes them first: in that case
// a change may be pushed twice, with the same cursor. It reports true
// when the change was pushed already (a retried record).
func (f *Fanout) awaitTurn(ctx context.Context, e change.Event, topic string, pos eventlog.Position, st *Stats) (bool, error) {
	deadline := f.cfg.Now().Add(f.cfg.OrderWait)
	delay := 5 * time.Millisecond
	for first := true; ; first = false {
		w, err := f.cfg.Store.Pushed(ctx, topic)
		if err != nil {
			return false, err
		}
		switch p := uint64(pos); {
		case w == 0 || w == p-1:
			return false, nil // its turn (or nothing known of the topic's pushes)
		case w >= p:
			return true, nil
		}
		if first {
			// A pushed position the log no longer has (its log expired
			// and started again): nothing to wait for.
			if _, err := f.cfg.Log.Read(ctx, topic, eventlog.Position(w), 1); errors.Is(err, eventlog.ErrExpired) {
				return false, nil
			}
		}
		if f.cfg.Now().After(deadline) {
			entries, err := f.cfg.Log.Read(ctx, topic, eventlog.Position(w), int(uint64(pos)-1-w))
			if err != nil {
				// What cannot be read can no longer be resumed either.
				f.log.WarnContext(ctx, "fanout: changes before this one not pushed and not readable", "topic", topic, "pushed", w, "position", uint64(pos), "err", err)
				return false, nil
			}
			f.log.WarnContext(ctx, "fanout: taking over changes not pushed in time", "topic", topic, "pushed", w, "position", uint64(pos), "changes", len(entries))
			for _, en := range entries {
				if en.Position >= pos {
					break
				}
				if err := f.publishTopic(ctx, en.Event, topic, en.Position, st); err != nil {
					return false, err
				}
			}
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// push posts a change's results to subs, at most Concurrency at a time,
// and adds what happened to st.
func (f *Fanout) push(ctx context.Context, e change.Event, subs []target, st *Stats) {
	if len(subs) == 0 {
		return
	}
	var (
		pushed, oversize, gone, failed, expired, kept atomic.Int64
		results                                       sync.Map // operation key -> *result
		goneConns                                     sync.Map
		wg                                            sync.WaitGroup
		sem                                           = make(chan struct{}, f.cfg.Concurrency)
	)
	log := f.log.With("eventId", e.ID, "correlationId", e.CorrelationID)
	records := f.pushRecords(e)
	for _, t := range subs {
		sub := t.sub
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			start, delivered := time.Now(), false
			v, _ := results.LoadOrStore(t.topic+"\x00"+opKey(sub), &result{})
			r := v.(*result)
			payloads := r.get(func() [][]byte { return f.run(ctx, log, e, t, r) })
			// Checked before each push: an identity may expire while a
			// change is being pushed.
			lapsed := func() bool { return r.hasID && r.id.Expired(f.cfg.Now()) }
			if lapsed() {
				expired.Add(1)
				records.add(sub, start, eventlog.Denied, errExpired)
				return
			}
			frames := make([][]byte, 0, len(payloads))
			for _, p := range payloads {
				frame := wsproto.NextMessage(sub.ID, p)
				if len(frame) > f.cfg.MaxMessageBytes {
					oversize.Add(1)
					f.tooLarge(ctx, log, sub, len(frame))
					records.add(sub, start, eventlog.Oversize, nil)
					return
				}
				frames = append(frames, frame)
			}
			goneConn := func() {
				if _, seen := goneConns.LoadOrStore(sub.ConnectionID, true); !seen {
					gone.Add(1)
					if err := f.cfg.Store.DeleteConnection(ctx, sub.ConnectionID); err != nil {
						log.ErrorContext(ctx, "fanout: delete gone connection", "connectionId", sub.ConnectionID, "err", err)
					}
				}
				records.add(sub, start, eventlog.Gone, nil)
			}
			if len(sub.Pending) > 0 && len(frames) > 0 {
				// Pushes kept for this subscription go first: these
				// join them, and the whole list is delivered in order.
				if !f.keep(ctx, log, t, frames, nil) {
					failed.Add(1)
					records.add(sub, start, eventlog.Failed, errNotKept)
					return
				}
				n, err := realtime.DeliverPending(ctx, f.cfg.Store, sub, f.poster(sub.ConnectionID))
				switch {
				case errors.Is(err, realtime.ErrGone):
					goneConn()
				case err != nil:
					kept.Add(1)
					log.WarnContext(ctx, "fanout: kept pushes still undelivered", "connectionId", sub.ConnectionID, "subscriptionId", sub.ID, "delivered", n, "err", err)
					records.add(sub, start, eventlog.Kept, err)
				default:
					pushed.Add(int64(len(frames)))
					records.add(sub, start, eventlog.Pushed, nil)
				}
				return
			}
			for i, frame := range frames {
				if lapsed() {
					expired.Add(1)
					records.add(sub, start, eventlog.Denied, errExpired)
					return
				}
				switch err := f.post(ctx, sub.ConnectionID, frame); {
				case errors.Is(err, errGone):
					goneConn()
					return
				case errors.Is(err, errTooLarge):
					oversize.Add(1)
					f.tooLarge(ctx, log, sub, len(frame))
					records.add(sub, start, eventlog.Oversize, nil)
					return
				case err != nil:
					// Kept unless retrying cannot help (a client fault).
					if !errors.Is(err, realtime.ErrUndeliverable) && f.keep(ctx, log, t, frames[i:], err) {
						kept.Add(1)
						records.add(sub, start, eventlog.Kept, err)
						return
					}
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
	st.Pushed += int(pushed.Load())
	st.Oversize += int(oversize.Load())
	st.Gone += int(gone.Load())
	st.Failed += int(failed.Load())
	st.Expired += int(expired.Load())
	st.Kept += int(kept.Load())
	log.DebugContext(ctx, "fanout: change pushed", "matched", st.Matched, "pushed", st.Pushed, "gone", st.Gone, "failed", st.Failed, "oversize", st.Oversize, "expired", st.Expired, "kept", st.Kept, "catchingUp", st.CatchingUp)
}

// target is a subscription a change is pushed to, and the change's
// position in the subscription's topic log (0 without a log).
type target struct {
	sub   store.Subscription
	topic string
	pos   eventlog.Position
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
func (f *Fanout) run(ctx context.Context, log *slog.Logger, e change.Event, t target, r *result) [][]byte {
	sub := t.sub
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
	if t.pos > 0 {
		cursor := realtime.EncodeCursor(t.topic, t.pos)
		for i := range out {
			out[i] = realtime.WithCursor(out[i], cursor)
		}
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

// keep keeps frames (the pushes of one change, from the first that
// failed with cause, or behind pushes kept before) for a later delivery.
// It reports false when they could not be kept. A subscription holding
// more than realtime.MaxPending has its connection closed: the client
// reconnects and resumes with after.
func (f *Fanout) keep(ctx context.Context, log *slog.Logger, t target, frames [][]byte, cause error) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.cfg.PostTimeout)
	defer cancel()
	ps := make([]store.Pending, len(frames))
	for i, fr := range frames {
		ps[i] = store.Pending{Position: uint64(t.pos), Frame: fr}
	}
	held, err := f.cfg.Store.AddPending(ctx, t.sub, ps...)
	if err != nil {
		log.ErrorContext(ctx, "fanout: could not keep pushes", "connectionId", t.sub.ConnectionID, "subscriptionId", t.sub.ID, "cause", cause, "err", err)
		return false
	}
	if cause != nil {
		log.WarnContext(ctx, "fanout: push failed; kept for a later delivery", "connectionId", t.sub.ConnectionID, "subscriptionId", t.sub.ID, "held", held, "err", cause)
	}
	if held > realtime.MaxPending {
		log.WarnContext(ctx, "fanout: too many undelivered pushes: closing the connection (the client resumes with after)", "connectionId", t.sub.ConnectionID, "held", held)
		id := t.sub.ConnectionID
		if _, err := f.cfg.Management.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: &id}); err != nil {
			log.WarnContext(ctx, "fanout: close the connection", "connectionId", id, "err", err)
		}
		if err := f.cfg.Store.DeleteConnection(ctx, id); err != nil {
			log.ErrorContext(ctx, "fanout: delete the connection", "connectionId", id, "err", err)
		}
	}
	return true
}

// poster posts frames to one connection, as realtime.DeliverPending wants.
func (f *Fanout) poster(connectionID string) func(context.Context, []byte) error {
	return func(ctx context.Context, frame []byte) error {
		err := f.post(ctx, connectionID, frame)
		if errors.Is(err, errGone) {
			return realtime.ErrGone
		}
		return err
	}
}

var (
	errNotKept  = errors.New("the push could not be kept for a later delivery")
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
			return fmt.Errorf("post to %s: %w: %w", connectionID, realtime.ErrUndeliverable, err)
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
