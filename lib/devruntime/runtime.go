package devruntime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/provision"
	"github.com/threefactor/framework/lib/topology"
)

// StreamHandler handles a batch of stream records, like a Lambda behind a
// DynamoDB stream event source mapping with ReportBatchItemFailures.
type StreamHandler func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error)

// QueueHandler handles a batch of queue messages, like a Lambda behind an
// SQS event source mapping with ReportBatchItemFailures.
type QueueHandler func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)

// Config configures a Runtime. Its zero value, with AWS and Topology set,
// is the default; durations are tuned for a laptop, and tests shorten them.
type Config struct {
	// AWS is the config of the endpoint that holds the data plane. The
	// runtime adds a middleware to it (see Runtime.AWS): the stream
	// readers of a table wake as soon as a write through it succeeds.
	AWS aws.Config
	// Topology is the app's declaration; the runtime provisions it.
	Topology topology.Topology
	// Addr is the HTTP listen address. Default 127.0.0.1:8080; port 0
	// picks a free port (see Runtime.Addr).
	Addr string
	// Logger receives JSON logs. Default: correlation.Logger().
	Logger *slog.Logger
	// Out receives the human summary of what is served. Default os.Stdout;
	// io.Discard to silence it.
	Out io.Writer
	// Banner gives the summary's lines about what is served, once the
	// runtime listens at url (http://host:port): what a person opens
	// first. Nil: every registered endpoint is listed.
	Banner func(url string) []string

	// StreamPollInterval is the pause after a poll of a shard found
	// nothing, unless a write through Runtime.AWS wakes the reader first:
	// polling is for writes from other processes. Default 250ms.
	StreamPollInterval time.Duration
	// ShardDiscoveryInterval is how often the shards of a stream are listed. Default 2s.
	ShardDiscoveryInterval time.Duration
	// StreamBatchSize is the most records per stream handler call. Default 100.
	StreamBatchSize int
	// StreamHandlerTimeout bounds one stream handler call. Default 1m.
	StreamHandlerTimeout time.Duration
	// StreamRetryBackoff is the first pause before a failed stream batch is
	// retried; it doubles up to StreamMaxBackoff. Defaults 500ms and 30s.
	StreamRetryBackoff time.Duration
	StreamMaxBackoff   time.Duration
	// StreamMaxAttempts, when positive, bounds the attempts of one record;
	// after that the record is logged at ERROR and skipped (what AWS does
	// with MaximumRetryAttempts and an on-failure destination). Zero
	// retries until success, AWS's default.
	StreamMaxAttempts int

	// QueueWaitTime is the SQS long-poll wait, in whole seconds. Default
	// 1s; also bounds how long a stop waits for a poll in flight.
	QueueWaitTime time.Duration
	// QueuePollInterval is the pause after an empty receive when
	// QueueWaitTime is below a second. Default 100ms.
	QueuePollInterval time.Duration
	// QueuePollers is the number of concurrent pollers (and so batches in
	// flight) per route. Default 2.
	QueuePollers int
	// RetryBackoff is how long a failed message stays invisible after its
	// first failed attempt; it doubles with each receive, capped at the
	// queue's visibility timeout. Rounded down to whole seconds. Default 1s.
	RetryBackoff time.Duration

	// HTTPReadTimeout bounds reading one request, body included, so a
	// client that stalls mid-body does not hold a connection. Default 30s.
	// WebSocket connections are not affected: the server clears its
	// deadlines when a handler takes a connection over (hijacks it).
	HTTPReadTimeout time.Duration
	// HTTPIdleTimeout closes a keep-alive connection with no request for
	// this long. Default 60s.
	HTTPIdleTimeout time.Duration

	// ShutdownTimeout bounds how long Run waits for handlers in flight
	// after ctx is cancelled. Default 15s.
	ShutdownTimeout time.Duration
	// CheckpointTable is the physical name of the dev-only table holding
	// stream checkpoints. Default <app>-dev-checkpoints.
	CheckpointTable string
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.Logger == nil {
		c.Logger = correlation.Logger()
	}
	if c.Out == nil {
		c.Out = os.Stdout
	}
	def(&c.StreamPollInterval, 250*time.Millisecond)
	def(&c.ShardDiscoveryInterval, 2*time.Second)
	def(&c.StreamHandlerTimeout, time.Minute)
	def(&c.StreamRetryBackoff, 500*time.Millisecond)
	def(&c.StreamMaxBackoff, 30*time.Second)
	def(&c.QueueWaitTime, time.Second)
	def(&c.QueuePollInterval, 100*time.Millisecond)
	def(&c.RetryBackoff, time.Second)
	def(&c.ShutdownTimeout, 15*time.Second)
	def(&c.HTTPReadTimeout, 30*time.Second)
	def(&c.HTTPIdleTimeout, time.Minute)
	if c.StreamBatchSize == 0 {
		c.StreamBatchSize = 100
	}
	if c.QueuePollers == 0 {
		c.QueuePollers = 2
	}
	if c.CheckpointTable == "" {
		c.CheckpointTable = c.Topology.App + "-dev-checkpoints"
	}
	return c
}

// Validate reports what is wrong with the configuration.
func (c Config) Validate() error {
	var errs []error
	if err := c.Topology.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("topology: %w", err))
	}
	if c.AWS.Region == "" {
		errs = append(errs, errors.New("AWS config has no region"))
	}
	if c.StreamBatchSize < 0 || c.StreamBatchSize > 1000 {
		errs = append(errs, fmt.Errorf("stream batch size %d outside 1..1000", c.StreamBatchSize))
	}
	if c.QueuePollers < 0 {
		errs = append(errs, fmt.Errorf("queue pollers %d < 0", c.QueuePollers))
	}
	if c.QueueWaitTime > 20*time.Second {
		errs = append(errs, fmt.Errorf("queue wait time %s over the SQS maximum of 20s", c.QueueWaitTime))
	}
	return errors.Join(errs...)
}

// streamsAPI is the part of the DynamoDB Streams client the readers use.
type streamsAPI interface {
	DescribeStream(context.Context, *dynamodbstreams.DescribeStreamInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error)
	GetShardIterator(context.Context, *dynamodbstreams.GetShardIteratorInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(context.Context, *dynamodbstreams.GetRecordsInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

// queueAPI is the part of the SQS client the consumers use.
type queueAPI interface {
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(context.Context, *sqs.DeleteMessageBatchInput, ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibilityBatch(context.Context, *sqs.ChangeMessageVisibilityBatchInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

// Runtime runs an app's event source mappings and front door locally.
type Runtime struct {
	cfg     Config
	log     *slog.Logger
	streams streamsAPI
	sqs     queueAPI
	cps     checkpoints

	provisionOnce sync.Once
	res           *provision.Resources
	provisionErr  error

	mu      sync.Mutex
	readers []*streamReader
	queues  []*queueConsumer
	regErrs []error
	runCtx  context.Context // set while Run runs: late registrations start at once
	wg      *sync.WaitGroup
	front   *frontDoor
	addr    string
	ready   chan struct{}
	started bool
}

// New checks cfg and builds a Runtime. Nothing is contacted until
// Provision or Run.
func New(cfg Config) (*Runtime, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("devruntime: %w", err)
	}
	rt := &Runtime{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "devruntime"),
		streams: dynamodbstreams.NewFromConfig(cfg.AWS),
		sqs:     sqs.NewFromConfig(cfg.AWS),
		cps:     checkpoints{ddb: dynamodb.NewFromConfig(cfg.AWS), table: cfg.CheckpointTable},
		ready:   make(chan struct{}),
		wg:      &sync.WaitGroup{},
	}
	rt.front = newFrontDoor(rt)
	// Every client the process builds from Runtime.AWS wakes the readers
	// of the tables it writes; Clip leaves the caller's slice untouched.
	rt.cfg.AWS.APIOptions = append(slices.Clip(cfg.AWS.APIOptions), rt.wakeOnWrite)
	return rt, nil
}

// Provision creates or updates the topology's resources and the runtime's
// checkpoint table on the endpoint, once; later calls return the first
// result.
func (r *Runtime) Provision(ctx context.Context) (*provision.Resources, error) {
	r.provisionOnce.Do(func() {
		start := time.Now()
		res, err := provision.Apply(ctx, r.cfg.AWS, r.cfg.Topology)
		if err == nil {
			_, err = provision.EnsureTable(ctx, r.cfg.AWS, r.cfg.CheckpointTable, checkpointTable)
		}
		if err != nil {
			r.provisionErr = fmt.Errorf("devruntime: provision: %w", err)
			return
		}
		r.log.Info("provisioned", "app", r.cfg.Topology.App, "tables", len(res.Tables), "routes", len(res.Routes), "took", time.Since(start).String())
		r.mu.Lock()
		r.res = res
		r.mu.Unlock()
	})
	return r.res, r.provisionErr
}

// Resources are the provisioned names, ARNs and URLs; nil before Provision.
func (r *Runtime) Resources() *provision.Resources {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.res
}

// Env is a function's environment (see provision.Resources.Env); nil
// before Provision.
func (r *Runtime) Env(function string) map[string]string {
	res := r.Resources()
	if res == nil {
		return nil
	}
	return res.Env(function)
}

// AWS is the endpoint's config, with the middleware that wakes the
// stream readers of a table as soon as a DynamoDB write through it
// succeeds (PutItem, UpdateItem, DeleteItem, BatchWriteItem,
// TransactWriteItems, PartiQL writes): what the process's own handlers
// write reaches its readers in milliseconds, not at the next poll.
func (r *Runtime) AWS() aws.Config { return r.cfg.AWS }

// Topology is the app's declaration.
func (r *Runtime) Topology() topology.Topology { return r.cfg.Topology }

// Logger is the runtime's logger, for wiring code.
func (r *Runtime) Logger() *slog.Logger { return r.cfg.Logger }

// Ready is closed once the resources are provisioned, every registered
// poller has started and the HTTP server listens.
func (r *Runtime) Ready() <-chan struct{} { return r.ready }

// Addr is the address the HTTP server listens on, once Ready.
func (r *Runtime) Addr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addr
}

// URL is http://Addr, once Ready.
func (r *Runtime) URL() string { return "http://" + r.Addr() }

// StreamReader registers a reader of table's stream named name, like a
// stream event source mapping: h gets every record of every shard in order,
// at least once. Each reader keeps its own checkpoints, so a table can have
// two (the router and the realtime fan-out), as DynamoDB allows. A reader
// registered while Run runs starts at once; problems (unknown table, no
// stream, duplicate name) fail Run, or are logged when Run already runs.
func (r *Runtime) StreamReader(name, table string, h StreamHandler, opts ...MappingOption) {
	o := r.mappingOptions(opts)
	sr := &streamReader{rt: r, name: name, table: table, h: h, streams: o.streams, wakeDelay: o.wakeDelay, log: r.cfg.Logger.With("component", "stream", "reader", name, "table", table)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.checkReaderLocked(name, table, h); err != nil {
		r.registrationErrorLocked(err)
		return
	}
	r.readers = append(r.readers, sr)
	if r.runCtx != nil {
		r.startReaderLocked(sr)
	}
}

func (r *Runtime) checkReaderLocked(name, table string, h StreamHandler) error {
	if h == nil {
		return fmt.Errorf("stream reader %q: nil handler", name)
	}
	if name == "" {
		return fmt.Errorf("stream reader on %q: empty name", table)
	}
	tb, ok := r.cfg.Topology.Table(table)
	if !ok {
		return fmt.Errorf("stream reader %q: unknown table %q", name, table)
	}
	if !tb.Stream {
		return fmt.Errorf("stream reader %q: table %q has no stream", name, table)
	}
	perTable := 0
	for _, o := range r.readers {
		if o.name == name {
			return fmt.Errorf("stream reader %q registered twice", name)
		}
		if o.table == table {
			perTable++
		}
	}
	if perTable >= 2 {
		// DynamoDB serves at most two readers per shard; more would be
		// throttled on AWS, so they are refused here too.
		return fmt.Errorf("stream reader %q: table %q already has two readers", name, table)
	}
	return nil
}

// QueueConsumer registers h as the function behind route's queue, like an
// SQS event source mapping with ReportBatchItemFailures: batches of the
// route's batch size, a deadline of the function's timeout, successes
// deleted, failures made visible again after a backoff, and after the
// route's MaxReceiveCount receives the queue's redrive policy moves a
// message to its dead-letter queue.
func (r *Runtime) QueueConsumer(route string, h QueueHandler, opts ...MappingOption) {
	o := r.mappingOptions(opts)
	r.mu.Lock()
	defer r.mu.Unlock()
	rt, ok := r.cfg.Topology.Route(route)
	switch {
	case h == nil:
		r.registrationErrorLocked(fmt.Errorf("queue consumer %q: nil handler", route))
		return
	case !ok:
		r.registrationErrorLocked(fmt.Errorf("queue consumer: unknown route %q", route))
		return
	}
	for _, q := range r.queues {
		if q.route.Name == route {
			r.registrationErrorLocked(fmt.Errorf("queue consumer for route %q registered twice", route))
			return
		}
	}
	fn, _ := r.cfg.Topology.Function(rt.Function)
	r.addQueueLocked(&queueConsumer{rt: r, route: rt, fn: fn, h: h, sqs: o.sqs, queue: routeQueue(route),
		log: r.cfg.Logger.With("component", "queue", "route", route, "function", rt.Function)})
}

// PushConsumer registers h as the push worker (topology.PushFunction)
// behind the realtime fan-out's push queue, like its SQS event source
// mapping on AWS: batches of topology.PushBatchSize, a deadline of
// topology.PushTimeout, failures made visible again after a backoff and
// dead-lettered after topology.PushMaxReceiveCount receives. The queue is
// FIFO: a message group stays locked while one of its messages is in
// flight.
func (r *Runtime) PushConsumer(h QueueHandler, opts ...MappingOption) {
	o := r.mappingOptions(opts)
	r.mu.Lock()
	defer r.mu.Unlock()
	if h == nil {
		r.registrationErrorLocked(fmt.Errorf("push consumer: nil handler"))
		return
	}
	for _, q := range r.queues {
		if q.route.Function == topology.PushFunction {
			r.registrationErrorLocked(fmt.Errorf("push consumer registered twice"))
			return
		}
	}
	r.addQueueLocked(&queueConsumer{rt: r, h: h, sqs: o.sqs, queue: pushQueue, receiving: &sync.Mutex{},
		route: topology.Route{Name: "~push", Function: topology.PushFunction, BatchSize: topology.PushBatchSize,
			MaxReceiveCount: topology.PushMaxReceiveCount, VisibilityTimeout: topology.PushVisibilityTimeout},
		fn:  topology.Function{Name: topology.PushFunction, Timeout: topology.PushTimeout},
		log: r.cfg.Logger.With("component", "queue", "queue", "push", "function", topology.PushFunction)})
}

func (r *Runtime) addQueueLocked(qc *queueConsumer) {
	r.queues = append(r.queues, qc)
	if r.runCtx != nil {
		r.startQueueLocked(qc)
	}
}

// MappingOption configures one event source mapping (StreamReader,
// QueueConsumer).
type MappingOption func(*mappingOptions)

type mappingOptions struct {
	streams   streamsAPI
	sqs       queueAPI
	wakeDelay time.Duration
}

// WakeDelay makes a stream reader, woken by a write of the process (see
// Runtime.AWS), wait d before it polls. Locally every reader shares one
// emulator, which runs DynamoDB calls one at a time; a reader whose
// latency matters less (the router, whose functions run asynchronously)
// gives way to one a person waits on (the realtime fan-out), as on AWS,
// where each has its own resources. d is also the most a burst of writes
// is gathered into one poll.
func WakeDelay(d time.Duration) MappingOption {
	return func(o *mappingOptions) { o.wakeDelay = d }
}

// ReadWith makes a mapping read its stream or queue with cfg instead of
// the runtime's own configuration: with the credentials of the function's
// execution role, as Lambda's event source mappings do on AWS, so that a
// role lacking a grant fails here too. Checkpoints stay the runtime's.
func ReadWith(cfg aws.Config) MappingOption {
	return func(o *mappingOptions) {
		o.streams = dynamodbstreams.NewFromConfig(cfg)
		o.sqs = sqs.NewFromConfig(cfg)
	}
}

func (r *Runtime) mappingOptions(opts []MappingOption) mappingOptions {
	o := mappingOptions{streams: r.streams, sqs: r.sqs}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

func (r *Runtime) registrationErrorLocked(err error) {
	if r.runCtx != nil {
		r.log.Error("registration refused", "error", err.Error())
		return
	}
	r.regErrs = append(r.regErrs, err)
}

// Handle serves pattern (an http.ServeMux pattern) with h.
func (r *Runtime) Handle(pattern string, h http.Handler) { r.front.handle(pattern, h, false) }

// HandleWebSocket serves WebSocket upgrade requests at path with h; other
// requests at the same path go to the handler given to Handle, so GraphQL
// over HTTP and over WebSocket can share /graphql.
func (r *Runtime) HandleWebSocket(path string, h http.Handler) { r.front.handle(path, h, true) }

// Run provisions (when not done yet), starts every poller and the HTTP
// server, and serves until ctx is cancelled. It then stops receiving, lets
// handlers in flight finish (up to ShutdownTimeout), stores their
// checkpoints and deletes what they handled, and returns nil; it returns an
// error when it cannot start.
func (r *Runtime) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return errors.New("devruntime: Run called twice")
	}
	r.started = true
	r.mu.Unlock()

	ln, err := net.Listen("tcp", r.cfg.Addr)
	if err != nil {
		return fmt.Errorf("devruntime: listen on %s: %w", r.cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           r.front,
		ReadHeaderTimeout: min(10*time.Second, r.cfg.HTTPReadTimeout),
		ReadTimeout:       r.cfg.HTTPReadTimeout,
		IdleTimeout:       r.cfg.HTTPIdleTimeout,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	defer srv.Close()

	if _, err := r.Provision(ctx); err != nil {
		return err
	}
	pollCtx, stopPolling := context.WithCancel(ctx)
	defer stopPolling()
	r.mu.Lock()
	if err := errors.Join(r.regErrs...); err != nil {
		r.mu.Unlock()
		return fmt.Errorf("devruntime: %w", err)
	}
	r.runCtx = pollCtx
	r.addr = ln.Addr().String()
	for _, sr := range r.readers {
		r.startReaderLocked(sr)
	}
	for _, qc := range r.queues {
		r.startQueueLocked(qc)
	}
	r.mu.Unlock()
	close(r.ready)
	r.printSummary()

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		stopPolling()
		r.drain()
		return fmt.Errorf("devruntime: http server: %w", err)
	}
	r.log.Info("stopping: no new receives; waiting for handlers in flight", "timeout", r.cfg.ShutdownTimeout.String())
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.ShutdownTimeout)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	r.drain()
	r.log.Info("stopped")
	return nil
}

// drain waits for the pollers, which finish their batch in flight before
// they return, up to ShutdownTimeout.
func (r *Runtime) drain() {
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(r.cfg.ShutdownTimeout):
		// Whatever is still running is abandoned un-acknowledged: its
		// messages reappear after their visibility timeout and its stream
		// records are read again from the last checkpoint.
		r.log.Warn("handlers still running after shutdown timeout; their work will be redelivered")
	}
}

func (r *Runtime) printSummary() {
	w := r.cfg.Out
	base := "http://" + r.addr
	fmt.Fprintf(w, "threefactor dev runtime ready: %s\n\n", r.cfg.Topology.App)
	lines := r.front.describe(base)
	if r.cfg.Banner != nil {
		lines = r.cfg.Banner(base)
	}
	for _, line := range lines {
		fmt.Fprintln(w, "  "+line)
	}
	fmt.Fprintf(w, "  %-10s %s/healthz\n", "Health", base)
	r.mu.Lock()
	defer r.mu.Unlock()
	var routes []string
	for _, qc := range r.queues {
		name, _, _, dlq := qc.queue(r.res)
		label := qc.route.Name
		if qc.route.Function == topology.PushFunction {
			label = "push queue" // the fan-out's, not a route
		}
		routes = append(routes, fmt.Sprintf("%s -> %s  (queue %s, dlq %s)", label, qc.route.Function, name, dlq))
	}
	for _, rt := range r.cfg.Topology.RoutesWithDefaults() {
		registered := false
		for _, qc := range r.queues {
			registered = registered || qc.route.Name == rt.Name
		}
		if !registered {
			routes = append(routes, fmt.Sprintf("%s has no consumer: its queue %s fills until one runs", rt.Name, r.res.Routes[rt.Name].QueueName))
		}
	}
	readers := map[string][]string{}
	for _, sr := range r.readers {
		name := r.res.Tables[sr.table].Name
		readers[name] = append(readers[name], sr.name)
	}
	var streams []string
	for name, rs := range readers {
		sort.Strings(rs)
		streams = append(streams, name+" -> "+strings.Join(rs, ", "))
	}
	sort.Strings(routes)
	sort.Strings(streams)
	list := func(title string, items []string) {
		for i, it := range items {
			if i > 0 {
				title = ""
			}
			fmt.Fprintf(w, "  %-10s %s\n", title, it)
		}
	}
	list("Routes", routes)
	list("Streams", streams)
	fmt.Fprintln(w)
}

// sleep waits d or until ctx is done; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
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
