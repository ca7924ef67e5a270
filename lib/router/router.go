package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
	"unsafe"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/topology"
)

// EventBridge PutEvents limits.
const (
	// MaxEntriesPerCall is the most entries one PutEvents call takes.
	MaxEntriesPerCall = 10
	// MaxCallSize is the most bytes (counted as EntrySize does) one
	// PutEvents call takes, and so also the largest single entry.
	MaxCallSize = 256 * 1024
)

// DefaultConcurrency is how many PutEvents calls a batch has in flight by
// default: a batch of 100 records (the stream mapping's batch size) goes
// out in one round of ten calls.
const DefaultConcurrency = 10

// putEventsAPI is the part of *eventbridge.Client the router uses.
type putEventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Config configures a Router. Client, BusName, Source and Tables are
// required; the rest have defaults.
type Config struct {
	// Client publishes the events; an *eventbridge.Client.
	Client putEventsAPI
	// BusName is the event bus name or ARN.
	BusName string
	// Source is the events' source, the one route patterns match
	// (topology.Topology.EventSource).
	Source string
	// Tables maps physical table names, as they appear in the stream ARN,
	// to the logical names events carry.
	Tables map[string]string
	// Logger receives JSON logs. Default: correlation.Logger().
	Logger *slog.Logger
	// Concurrency bounds the PutEvents calls in flight for one batch.
	// Default DefaultConcurrency; 1 publishes one call after another.
	Concurrency int
	// MaxAttempts bounds the PutEvents attempts for one entry, the first
	// included. Default 5.
	MaxAttempts int
	// BaseDelay is the backoff before the first retry; it doubles on each
	// further retry up to MaxDelay, with jitter. Defaults 50ms and 2s.
	BaseDelay time.Duration
	MaxDelay  time.Duration
}

// Validate reports what is missing or out of range.
func (c Config) Validate() error {
	var errs []error
	if c.Client == nil {
		errs = append(errs, errors.New("router: no EventBridge client"))
	}
	if c.BusName == "" {
		errs = append(errs, errors.New("router: no event bus name"))
	}
	if c.Source == "" {
		errs = append(errs, errors.New("router: no event source"))
	}
	if len(c.Tables) == 0 {
		errs = append(errs, errors.New("router: no tables"))
	}
	if c.MaxAttempts < 0 || c.BaseDelay < 0 || c.MaxDelay < 0 || c.Concurrency < 0 {
		errs = append(errs, errors.New("router: negative attempts, delay or concurrency"))
	}
	return errors.Join(errs...)
}

// ConfigFromEnv is the configuration a router reads from its environment
// (os.Getenv in a Lambda main, the provisioned names in the dev runtime):
// the bus (topology.EnvEventBus) and every stream table of t
// (topology.TableEnv). The caller sets Client and Logger.
func ConfigFromEnv(t topology.Topology, getenv func(string) string) (Config, error) {
	cfg := Config{BusName: getenv(topology.EnvEventBus), Source: t.EventSource()}
	var missing []error
	if cfg.BusName == "" {
		missing = append(missing, fmt.Errorf("%s is not set", topology.EnvEventBus))
	}
	tables, err := t.StreamTablesFromEnv(getenv)
	if err != nil {
		missing = append(missing, err)
	}
	cfg.Tables = tables
	if err := errors.Join(missing...); err != nil {
		return cfg, fmt.Errorf("router: %w", err)
	}
	return cfg, nil
}

// Router publishes the records of DynamoDB stream batches as change
// events on an EventBridge bus.
type Router struct {
	cfg    Config
	log    *slog.Logger
	decode func(events.DynamoDBEventRecord) (change.Event, error)
	// The fields every entry shares, made once: the SDK only reads them.
	busName, source, detailType *string
}

// New makes a Router.
func New(cfg Config) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.BaseDelay == 0 {
		cfg.BaseDelay = 50 * time.Millisecond
	}
	if cfg.MaxDelay == 0 {
		cfg.MaxDelay = 2 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = correlation.Logger()
	}
	return &Router{cfg: cfg, log: log.With("component", "router"), decode: change.StreamDecoder(cfg.Tables),
		busName: aws.String(cfg.BusName), source: aws.String(cfg.Source), detailType: aws.String(topology.DetailType)}, nil
}

// EntrySize is the size EventBridge counts for an entry against its
// limits: source, detail type, detail and resources in bytes, plus 14 when
// the entry has a time.
func EntrySize(e ebtypes.PutEventsRequestEntry) int {
	n := len(aws.ToString(e.Source)) + len(aws.ToString(e.DetailType)) + len(aws.ToString(e.Detail))
	for _, r := range e.Resources {
		n += len(r)
	}
	if e.Time != nil {
		n += 14
	}
	return n
}

// pending is one record's entry on its way to the bus.
type pending struct {
	index int // position in the batch
	ev    *change.Event
	entry ebtypes.PutEventsRequestEntry
	size  int
	// lastErr describes the last failure, for the log.
	lastErr string
}

// Handle publishes a stream batch. Records that could not be published are
// reported in BatchItemFailures; everything else is acknowledged.
//
// A stream event source mapping does not acknowledge records one by one:
// it checkpoints just before the lowest sequence number reported failed
// and delivers again from there. So the response names the earliest
// record that was not published, and every record after it is delivered
// again even when it was published (consumers see duplicates, which they
// tolerate, and never a gap). Reporting a later record while an earlier
// one failed would acknowledge the earlier one: that would lose it.
//
// The batch is cut, in order, into PutEvents calls, up to Concurrency of
// them in flight; each call retries its own failed entries. A call not
// yet started whose records all come after a record that finally failed
// is not made: those records are delivered again anyway.
func (r *Router) Handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	start := time.Now()
	// firstFailed is the earliest record known not to be published; the
	// records from it on are delivered again.
	firstFailed := len(ev.Records)
	var todo []*pending
	restored := 0
	for i := range ev.Records {
		if change.IsRestoreWrite(ev.Records[i]) {
			// A restore wrote the item as the event log has it: its
			// change happened (and was published) before.
			restored++
			continue
		}
		p, err := r.prepare(ctx, &ev.Records[i])
		if err != nil {
			// Retrying the conversion cannot help, but acknowledging would
			// drop the change: fail it, so that the mapping's retry limit
			// sends it to the on-failure destination.
			r.log.ErrorContext(ctx, "change record not publishable",
				"eventId", ev.Records[i].EventID, "sequenceNumber", ev.Records[i].Change.SequenceNumber, "error", err.Error())
			firstFailed = i
			break
		}
		p.index = i
		todo = append(todo, p)
	}

	pctx, cancel := publishContext(ctx)
	defer cancel()
	var (
		mu        sync.Mutex
		wg        sync.WaitGroup
		published int
		sem       = make(chan struct{}, r.cfg.Concurrency)
	)
	failedAt := func() int { mu.Lock(); defer mu.Unlock(); return firstFailed }
	for _, call := range batches(todo) {
		if call[0].index > failedAt() {
			break // delivered again from the earlier failure anyway
		}
		select {
		case sem <- struct{}{}:
		case <-pctx.Done():
		}
		if pctx.Err() != nil {
			mu.Lock()
			firstFailed = min(firstFailed, call[0].index)
			mu.Unlock()
			for _, p := range call {
				p.lastErr = pctx.Err().Error()
			}
			r.logUnpublished(ctx, call)
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			left := r.publish(pctx, call)
			mu.Lock()
			defer mu.Unlock()
			published += len(call) - len(left)
			if len(left) > 0 {
				firstFailed = min(firstFailed, left[0].index)
			}
			r.logUnpublished(ctx, left)
		}()
	}
	wg.Wait()

	var resp events.DynamoDBEventResponse
	if firstFailed < len(ev.Records) {
		resp.BatchItemFailures = []events.DynamoDBBatchItemFailure{{ItemIdentifier: ev.Records[firstFailed].Change.SequenceNumber}}
	}
	r.log.InfoContext(ctx, "stream batch routed", "records", len(ev.Records), "published", published, "restoreWrites", restored,
		"redelivered", len(ev.Records)-firstFailed, "durationMs", time.Since(start).Milliseconds())
	return resp, nil
}

// publish sends one call's entries, retrying the failed ones with backoff
// until MaxAttempts or the context's end, and returns those that were
// never published, in batch order.
func (r *Router) publish(ctx context.Context, call []*pending) []*pending {
	todo := call
	for attempt := 1; ; attempt++ {
		todo = r.put(ctx, todo)
		if len(todo) == 0 || attempt >= r.cfg.MaxAttempts || !r.sleep(ctx, attempt) {
			return todo
		}
	}
}

func (r *Router) logUnpublished(ctx context.Context, ps []*pending) {
	for _, p := range ps {
		r.log.ErrorContext(correlation.With(ctx, p.ev.CorrelationID), "change not published",
			"eventId", p.ev.ID, "table", p.ev.Table, "sequenceNumber", p.ev.SequenceNumber, "error", p.lastErr)
	}
}

// prepare converts a record and builds its entry, reduced if too large.
func (r *Router) prepare(ctx context.Context, rec *events.DynamoDBEventRecord) (*pending, error) {
	ev, err := r.decode(*rec)
	if err != nil {
		return nil, err
	}
	p := &pending{ev: &ev}
	if err := r.entry(p); err != nil {
		return nil, err
	}
	if p.size > MaxCallSize {
		full := p.size
		ev = ev.Reduce()
		if err := r.entry(p); err != nil {
			return nil, err
		}
		if p.size > MaxCallSize {
			return nil, fmt.Errorf("change %s: %d bytes even without images, over the %d-byte limit", ev.ID, p.size, MaxCallSize)
		}
		r.log.WarnContext(correlation.With(ctx, ev.CorrelationID), "change too large for EventBridge: published without images",
			"eventId", ev.ID, "table", ev.Table, "size", full, "reducedSize", p.size, "limit", MaxCallSize)
	}
	return p, nil
}

func (r *Router) entry(p *pending) error {
	detail, err := p.ev.Detail()
	if err != nil {
		return err
	}
	// detail is this entry's alone and never written again: the entry's
	// string can share its bytes rather than copy them.
	d := unsafe.String(unsafe.SliceData(detail), len(detail))
	p.entry = ebtypes.PutEventsRequestEntry{
		EventBusName: r.busName,
		Source:       r.source,
		DetailType:   r.detailType,
		Detail:       &d,
	}
	if !p.ev.ApproximateAt.IsZero() {
		p.entry.Time = aws.Time(p.ev.ApproximateAt)
	}
	p.size = EntrySize(p.entry)
	return nil
}

// batches splits entries, in order, into PutEvents calls within the
// entry-count and size limits.
func batches(ps []*pending) [][]*pending {
	var out [][]*pending
	var cur []*pending
	size := 0
	for _, p := range ps {
		if len(cur) == MaxEntriesPerCall || (len(cur) > 0 && size+p.size > MaxCallSize) {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, p)
		size += p.size
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// put sends one call and returns the entries that failed.
func (r *Router) put(ctx context.Context, batch []*pending) []*pending {
	in := &eventbridge.PutEventsInput{Entries: make([]ebtypes.PutEventsRequestEntry, len(batch))}
	for i, p := range batch {
		in.Entries[i] = p.entry
	}
	out, err := r.cfg.Client.PutEvents(ctx, in)
	if err != nil {
		for _, p := range batch {
			p.lastErr = err.Error()
		}
		r.log.WarnContext(ctx, "PutEvents failed", "entries", len(batch), "error", err.Error())
		return batch
	}
	if len(out.Entries) != len(batch) {
		// The result entries pair with the request entries by position;
		// without that pairing nothing can be counted as published.
		msg := fmt.Sprintf("PutEvents answered %d entries for %d", len(out.Entries), len(batch))
		for _, p := range batch {
			p.lastErr = msg
		}
		r.log.WarnContext(ctx, msg)
		return batch
	}
	var failed []*pending
	for i, res := range out.Entries {
		if res.ErrorCode == nil && res.EventId != nil {
			continue
		}
		p := batch[i]
		p.lastErr = fmt.Sprintf("%s: %s", aws.ToString(res.ErrorCode), aws.ToString(res.ErrorMessage))
		failed = append(failed, p)
	}
	if len(failed) > 0 {
		r.log.WarnContext(ctx, "PutEvents entries failed", "entries", len(batch), "failed", len(failed),
			"failedEntryCount", out.FailedEntryCount, "firstError", failed[0].lastErr)
	}
	return failed
}

// publishContext ends publishing a little before the invocation deadline,
// so that a hanging call or a long backoff still leaves time to report
// failures instead of timing out the whole batch.
func publishContext(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	margin := max(0, min(500*time.Millisecond, time.Until(dl)/4))
	return context.WithDeadline(ctx, dl.Add(-margin))
}

// sleep waits out the backoff before retry number attempt, unless the
// context ends first or its deadline leaves no room for another call.
func (r *Router) sleep(ctx context.Context, attempt int) bool {
	d := r.cfg.BaseDelay << (attempt - 1)
	if d > r.cfg.MaxDelay || d <= 0 {
		d = r.cfg.MaxDelay
	}
	// Equal jitter: half fixed, half random, so retries of concurrent
	// shards spread out but still back off.
	d = d/2 + rand.N(d/2+1)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d+r.cfg.BaseDelay {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
