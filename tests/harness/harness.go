// Package harness starts an app's pipeline in a test, the way cmd/dev runs
// it: a dev runtime on the emulator, provisioned from a topology, with the
// stream router reading every table stream and the test's handlers behind
// the routes' queues. Durations are short so that retries and redelivery
// show in seconds.
package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/consumer"
	"github.com/threefactor/framework/lib/devapp/devapptest"
	"github.com/threefactor/framework/lib/devruntime"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/idempotency"
	"github.com/threefactor/framework/lib/router"
	"github.com/threefactor/framework/lib/topology"
)

// Logger is quiet unless the tests run with -v (devapptest.Logger).
func Logger() *slog.Logger { return devapptest.Logger() }

// FastConfig is a runtime configuration with test-sized intervals
// (devapptest.FastConfig).
func FastConfig(cfg aws.Config, topo topology.Topology) devruntime.Config {
	return devapptest.FastConfig(cfg, topo)
}

// Pipeline is a running dev runtime.
type Pipeline struct {
	RT   *devruntime.Runtime
	AWS  aws.Config
	Topo topology.Topology
	DDB  *dynamodb.Client
	SQS  *sqs.Client

	// Log, when set (WithEventLog), is the pipeline's event log: the
	// eventlog route feeds it and consumers record their deliveries in it.
	Log *eventlog.FileStore

	cancel context.CancelFunc
	errc   chan error
	once   sync.Once
}

// WithEventLog gives the pipeline an event log in a temporary directory,
// fed by the framework's eventlog route, as the dev runtime keeps one;
// consumers registered after it record their deliveries in it. Call it
// before Start.
func (p *Pipeline) WithEventLog(t testing.TB) *eventlog.FileStore {
	t.Helper()
	l, err := eventlog.OpenFileStore(eventlog.LocalDir(t.TempDir()), eventlog.FileConfig{Topology: p.Topo, Logger: Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	feed, err := eventlog.NewFeed(l, Logger())
	if err != nil {
		t.Fatal(err)
	}
	p.RT.QueueConsumer(topology.EventLogRoute, feed.Handle)
	p.Log = l
	return l
}

// New provisions topo and registers the stream router; register handlers
// with Consume or on RT, then Start.
func New(t testing.TB, cfg devruntime.Config) *Pipeline {
	t.Helper()
	rt, err := devruntime.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Provision(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := RouteStreams(rt, cfg.Logger); err != nil {
		t.Fatal(err)
	}
	return &Pipeline{RT: rt, AWS: cfg.AWS, Topo: cfg.Topology, DDB: dynamodb.NewFromConfig(cfg.AWS), SQS: sqs.NewFromConfig(cfg.AWS)}
}

// RouteStreams registers the stream router as the reader of every stream
// table, configured from its local environment as the dev runtime does.
func RouteStreams(rt *devruntime.Runtime, log *slog.Logger) error {
	cfg, err := router.ConfigFromEnv(rt.Topology(), app.MapEnv(rt.Env(topology.RouterFunction)))
	if err != nil {
		return err
	}
	cfg.Client, cfg.Logger = eventbridge.NewFromConfig(rt.AWS()), log
	r, err := router.New(cfg)
	if err != nil {
		return fmt.Errorf("router: %w", err)
	}
	for _, logical := range rt.Topology().StreamTables() {
		rt.StreamReader("router-"+logical, logical, r.Handle)
	}
	return nil
}

// Consume puts h behind route's queue through lib/consumer, with the
// function's dead-letter queue for permanent failures and, when
// idempotent, the idempotency middleware on the framework table. It
// returns the QueueHandler it registered.
func (p *Pipeline) Consume(t testing.TB, route string, idempotent bool, h consumer.EventHandler) devruntime.QueueHandler {
	t.Helper()
	qh := p.ConsumerHandler(t, route, idempotent, h)
	p.RT.QueueConsumer(route, qh)
	return qh
}

// ConsumerHandler builds the QueueHandler Consume registers, for tests
// that wrap it.
func (p *Pipeline) ConsumerHandler(t testing.TB, route string, idempotent bool, h consumer.EventHandler) devruntime.QueueHandler {
	t.Helper()
	r, ok := p.Topo.Route(route)
	if !ok {
		t.Fatalf("no route %q", route)
	}
	env := p.RT.Env(r.Function)
	cfg, err := consumer.ConfigFromEnv(p.Topo, r.Function, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.SQS, cfg.Logger = p.SQS, Logger()
	if p.Log != nil {
		cfg.Deliveries = p.Log
	}
	if idempotent {
		store := idempotency.New(p.DDB, env[topology.TableEnv(topology.IdempotencyTable)], idempotency.WithLogger(Logger()))
		cfg.Middleware = []consumer.Middleware{idempotency.Middleware(store, "")}
	}
	c, err := consumer.NewEvent(h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c.Handle
}

// Start runs the runtime until Stop or the end of the test.
func (p *Pipeline) Start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.errc = cancel, make(chan error, 1)
	go func() { p.errc <- p.RT.Run(ctx) }()
	select {
	case <-p.RT.Ready():
	case err := <-p.errc:
		cancel()
		t.Fatalf("runtime did not start: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("runtime not ready after 60s")
	}
	t.Cleanup(func() { p.Stop(t) })
}

// Stop stops the runtime and waits for it.
func (p *Pipeline) Stop(t testing.TB) {
	p.once.Do(func() {
		p.cancel()
		if err := <-p.errc; err != nil {
			t.Errorf("runtime: %v", err)
		}
	})
}

// Route is a route's provisioned queues.
func (p *Pipeline) Route(name string) (queueURL, dlqURL string) {
	r := p.RT.Resources().Routes[name]
	return r.QueueURL, r.DLQURL
}

// Table is a table's physical name.
func (p *Pipeline) Table(logical string) string { return p.RT.Resources().Tables[logical].Name }

// WaitFor polls cond every 25ms until it holds, failing the test after timeout.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Depth is the number of messages on a queue, visible or in flight.
func Depth(t testing.TB, c *sqs.Client, url string) int {
	t.Helper()
	a, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{
		sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
	}})
	if err != nil {
		t.Fatalf("queue depth: %v", err)
	}
	v, _ := strconv.Atoi(a.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	nv, _ := strconv.Atoi(a.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return v + nv
}

// Drain receives every visible message of a queue, hiding each for a
// minute, and returns them.
func Drain(t testing.TB, c *sqs.Client, url string) []sqstypes.Message {
	t.Helper()
	var out []sqstypes.Message
	for {
		r, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 10, VisibilityTimeout: 60,
			MessageAttributeNames: []string{"All"},
		})
		if err != nil {
			t.Fatalf("drain: %v", err)
		}
		if len(r.Messages) == 0 {
			return out
		}
		out = append(out, r.Messages...)
	}
}

// Event reads the change event in a message routed from the bus.
func Event(t testing.TB, m sqstypes.Message) change.Event {
	t.Helper()
	ev, err := change.FromEventBridge(aws.ToString(m.Body))
	if err != nil {
		t.Fatalf("message %s: %v", aws.ToString(m.MessageId), err)
	}
	return ev
}

// Item is a flat JSON image; tests read attributes from it.
type Item map[string]any

// Image decodes a change event image.
func Image(t testing.TB, raw json.RawMessage) Item {
	t.Helper()
	if len(raw) == 0 {
		return nil
	}
	var it Item
	if err := json.Unmarshal(raw, &it); err != nil {
		t.Fatalf("image %s: %v", raw, err)
	}
	return it
}
