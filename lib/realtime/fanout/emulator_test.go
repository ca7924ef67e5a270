package fanout

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	graphql "github.com/graph-gophers/graphql-go"

	"github.com/threefactor/framework/lib/benchfig"
	"github.com/threefactor/framework/lib/capacity"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/devruntime"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/realtime/localws"
	"github.com/threefactor/framework/lib/realtime/store"
	"github.com/threefactor/framework/lib/topology"
)

func TestMain(m *testing.M) {
	code := emulatortest.Main(m)
	benchfig.Print(os.Stdout)
	os.Exit(code)
}

// frameLog is what the in-memory connections received: each frame with
// its arrival number, across all connections.
type frameLog struct {
	seq    atomic.Int64
	mu     sync.Mutex
	frames map[string][]arrival
	total  atomic.Int64
}

type arrival struct {
	n     int64
	frame string
}

// sink is one connection registered with the local front door.
type sink struct {
	id  string
	log *frameLog
}

func (s sink) Send(_ context.Context, data []byte) error {
	a := arrival{s.log.seq.Add(1), string(data)}
	s.log.mu.Lock()
	s.log.frames[s.id] = append(s.log.frames[s.id], a)
	s.log.mu.Unlock()
	s.log.total.Add(1)
	return nil
}
func (sink) Close(int, string) {}

func (l *frameLog) of(conn string) []arrival {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]arrival(nil), l.frames[conn]...)
}

// throttleCounter counts the posts the Management API refused for the rate.
type throttleCounter struct {
	postAPI
	refused atomic.Int64
}

func (c *throttleCounter) PostToConnection(ctx context.Context, in *apigatewaymanagementapi.PostToConnectionInput, opts ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.PostToConnectionOutput, error) {
	out, err := c.postAPI.PostToConnection(ctx, in, opts...)
	if err != nil && throttled(err) {
		c.refused.Add(1)
	}
	return out, err
}

// rig is the fan-out as a deployment runs it, on the dev runtime: a table
// whose stream the fan-out reads, the push queue (FIFO, on the emulator)
// read by the push worker, the subscription store, and the local
// Management API held to a rate, delivering to in-memory connections.
type rig struct {
	rt      *devruntime.Runtime
	db      *dynamodb.Client
	st      *store.Store
	front   *localws.Server
	frames  *frameLog
	mgmt    *throttleCounter
	table   string
	cfg     Config
	f       *Fanout
	dlqURL  string
	sqs     *sqs.Client
	rootRes *rootResolver
}

var rigSeq atomic.Int64

func startRig(tb testing.TB, rate float64, mod func(*Config)) *rig {
	tb.Helper()
	if testing.Short() {
		tb.Skip("needs the emulator: runs in make test, not with -short")
	}
	awsCfg := emulatortest.Config(tb)
	topo := topology.Topology{
		App:    fmt.Sprintf("hot%d-%d", os.Getpid()%10000, rigSeq.Add(1)),
		Tables: []topology.Table{{Name: "items", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true}},
	}
	rt, err := devruntime.New(devruntime.Config{
		AWS: awsCfg, Topology: topo, Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler), Out: io.Discard,
		StreamPollInterval: 20 * time.Millisecond, ShardDiscoveryInterval: 200 * time.Millisecond,
		StreamRetryBackoff: 20 * time.Millisecond, StreamMaxBackoff: 500 * time.Millisecond,
		QueueWaitTime: time.Second, QueuePollers: 4, RetryBackoff: time.Millisecond, ShutdownTimeout: 10 * time.Second,
	})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	res, err := rt.Provision(ctx)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	r := &rig{rt: rt, db: dynamodb.NewFromConfig(awsCfg), frames: &frameLog{frames: map[string][]arrival{}},
		table: res.Tables["items"].Name, dlqURL: res.PushQueue.DLQURL, sqs: sqs.NewFromConfig(awsCfg), rootRes: &rootResolver{}}
	r.st, err = store.New(r.db, store.Config{
		ConnectionsTable: res.Tables[topology.ConnectionsTable].Name, SubscriptionsTable: res.Tables[topology.SubscriptionsTable].Name,
	})
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	r.front, err = localws.New(localws.Config{
		Credentials: awsCfg.Credentials, Region: awsCfg.Region, ManagementRate: rate, Logger: slog.New(slog.DiscardHandler),
		Handler: func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{StatusCode: 200}, nil
		},
	})
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	srv := httptest.NewServer(r.front.Management())
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) { t.MaxIdleConnsPerHost = 512 })
	r.mgmt = &throttleCounter{postAPI: apigatewaymanagementapi.NewFromConfig(awsCfg, func(o *apigatewaymanagementapi.Options) {
		o.BaseEndpoint, o.HTTPClient, o.RetryMaxAttempts = aws.String(srv.URL), httpClient, 1
	})}
	schema, err := graphql.ParseSchema(testSDL, r.rootRes)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	r.cfg = Config{
		Schema: schema, Store: r.st, Management: r.mgmt, Queue: r.sqs, QueueURL: res.PushQueue.URL,
		Topics: func(e change.Event) []string {
			id, _ := strings.CutPrefix(string(e.Keys), `{"id":"`)
			return []string{"item:" + strings.TrimSuffix(id, `"}`)}
		},
		Decode: change.StreamDecoder(map[string]string{r.table: "items"}),
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}
	if mod != nil {
		mod(&r.cfg)
	}
	if r.f, err = New(r.cfg); err != nil {
		cancel()
		tb.Fatal(err)
	}
	rt.StreamReader("realtime-items", "items", r.f.Handle)
	rt.PushConsumer(r.f.HandlePushes)
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
	})
	select {
	case <-rt.Ready():
	case err := <-done:
		tb.Fatalf("runtime stopped: %v", err)
	}
	return r
}

// subscribe stores n subscriptions to item's topic, on connections
// prefix0000..., each registered as an in-memory connection.
func (r *rig) subscribe(tb testing.TB, item string, n int, prefix string) []store.Subscription {
	tb.Helper()
	subs := make([]store.Subscription, n)
	for i := range subs {
		subs[i] = sub(fmt.Sprintf("%s%05d=", prefix, i), "1", item, "")
		r.front.Register(subs[i].ConnectionID, sink{subs[i].ConnectionID, r.frames})
	}
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var part []store.Subscription
			for i := w; i < n; i += workers {
				part = append(part, subs[i])
			}
			if err := r.st.PutSubscriptions(context.Background(), part); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		tb.Fatal(err)
	}
	return subs
}

// write commits a change to item: the stream carries it to the fan-out.
func (r *rig) write(tb testing.TB, item, status string) {
	tb.Helper()
	_, err := r.db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: &r.table, Item: map[string]ddbtypes.AttributeValue{
		"id": &ddbtypes.AttributeValueMemberS{Value: item}, "status": &ddbtypes.AttributeValueMemberS{Value: status},
		"blob": &ddbtypes.AttributeValueMemberS{Value: ""},
	}})
	if err != nil {
		tb.Fatal(err)
	}
}

func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHotTopicThroughThePushQueue runs the fan-out on the dev runtime with
// the local Management API held to 100 posts a second: a change to an
// item with 300 subscribers (over a queue threshold of 100) goes through
// the push queue to the push worker, a change to another item written right after it is pushed from
// the stream before the hot item's last push, and a second change to the
// hot item follows the first. Every subscriber gets exactly one push of
// each change, in commit order; throttled posts are retried, none lost;
// nothing is dead-lettered and the topic's queue mark is cleared.
func TestHotTopicThroughThePushQueue(t *testing.T) {
	const hot = 300
	r := startRig(t, 100, func(c *Config) { c.QueueThreshold = 100 })
	hotSubs := r.subscribe(t, "hot", hot, "h")
	r.subscribe(t, "calm", 1, "calm")

	r.write(t, "hot", "PAID")
	r.write(t, "calm", "PAID")
	r.write(t, "hot", "APPROVED")

	waitFor(t, 2*time.Minute, "every push", func() bool { return r.frames.total.Load() >= 2*hot+1 })
	calm := r.frames.of("calm00000=")
	if len(calm) != 1 || !strings.Contains(calm[0].frame, `"status":"PAID"`) {
		t.Fatalf("the calm item's subscriber got %v, want one push", calm)
	}
	var lastHot int64
	for _, s := range hotSubs {
		got := r.frames.of(s.ConnectionID)
		if len(got) != 2 || !strings.Contains(got[0].frame, `"status":"PAID"`) || !strings.Contains(got[1].frame, `"status":"APPROVED"`) {
			t.Fatalf("%s got %v, want PAID then APPROVED, once each", s.ConnectionID, got)
		}
		if got[0].n > lastHot {
			lastHot = got[0].n
		}
	}
	if calm[0].n > lastHot {
		t.Fatalf("the calm item's push arrived %d-th, after the hot item's last push (%d-th): it was held behind the hot topic", calm[0].n, lastHot)
	}
	if r.mgmt.refused.Load() == 0 {
		t.Fatal("the Management API never throttled: the test proves nothing about the rate limit")
	}
	// No push beyond the expected ones arrives late.
	time.Sleep(500 * time.Millisecond)
	if n := r.frames.total.Load(); n != 2*hot+1 {
		t.Fatalf("%d frames delivered, want %d: a push was duplicated", n, 2*hot+1)
	}
	waitFor(t, time.Minute, "the hot topic's queue mark to clear", func() bool {
		a, err := r.st.Audience(context.Background(), "item:hot")
		return err == nil && a.Queued == 0
	})
	attrs, err := r.sqs.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: &r.dlqURL, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		t.Fatal(err)
	}
	if n := attrs.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)]; n != "0" {
		t.Fatalf("%s messages in the push dead-letter queue", n)
	}
	t.Logf("%d posts refused for the rate and retried", r.mgmt.refused.Load())
}

// matchedStore serves audiences looked up before the clock starts, with
// the topic's queue mark read from the real store (its Query finds the
// mark alone: the subscriptions are not stored there). Marks and
// deletions go to the real store.
type matchedStore struct {
	*store.Store
	subs map[string][]store.Subscription
}

func (m matchedStore) Audience(ctx context.Context, topic string) (store.Audience, error) {
	a, err := m.Store.Audience(ctx, topic)
	a.Subscriptions = m.subs[topic]
	return a, err
}

// BenchmarkHotTopic is one change delivered to 20,000 subscribers of one
// topic through the local Management API held to 2,000 posts a second
// (burst 200), on the dev runtime: the fan-out sends it through the push
// queue (64 partitions) and the push worker posts it, retrying what the
// throttle refuses. The 20,000 subscriptions are looked up before the
// clock starts (moto's Query is no measure of DynamoDB's; BenchmarkFanout10k
// in tests/ times a real lookup). fanout_hot_topic_s runs until the last
// of the 20,000 frames arrives (the throttle makes the ideal 10 s);
// fanout_hot_topic_lost counts subscribers without their frame. A change to
// another topic, next in the stream, is pushed right after the hot one
// was handed to the queue: fanout_hot_topic_other_topic_ms is how long
// after the hot change started it arrived. The baseline is the same two
// changes without the push queue, pushed from the stream as the fan-out
// did before: the other topic waits for the whole hot topic.
// model_fanout_hot_topic_s is the capacity model's prediction
// (capacity.HotTopic) from the throttle, this machine's unthrottled post
// rate (fanout_hot_topic_machine_posts_per_s, measured in the same run)
// and the measured hand-off to the queue.
func BenchmarkHotTopic(b *testing.B) {
	const n, rate = 20000, 2000
	r := startRig(b, rate, nil)
	subs := make([]store.Subscription, n)
	for i := range subs {
		subs[i] = sub(fmt.Sprintf("h%05d=", i), "1", "hot", "")
		r.front.Register(subs[i].ConnectionID, sink{subs[i].ConnectionID, r.frames})
	}
	r.front.Register("calm00000=", sink{"calm00000=", r.frames})
	matched := matchedStore{Store: r.st, subs: map[string][]store.Subscription{
		"item:hot": subs, "item:calm": {sub("calm00000=", "1", "calm", "")},
	}}
	build := func(queue bool) *Fanout {
		cfg := r.cfg
		cfg.Store = matched
		if !queue {
			cfg.Queue, cfg.QueueURL = nil, ""
		}
		f, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		return f
	}
	queued, inline := build(true), build(false)
	ctx := context.Background()
	var enqueue time.Duration
	run := func(f *Fanout, status string) (hot, other time.Duration, lost int) {
		before := r.frames.total.Load()
		start := time.Now()
		if _, err := f.Publish(ctx, itemEvent("hot", status)); err != nil {
			b.Fatal(err)
		}
		if f.cfg.Queue != nil {
			enqueue += time.Since(start)
		}
		if _, err := f.Publish(ctx, itemEvent("calm", status)); err != nil {
			b.Fatal(err)
		}
		other = time.Since(start)
		deadline := time.Now().Add(5 * time.Minute)
		for r.frames.total.Load() < before+n+1 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		hot = time.Since(start)
		for _, s := range subs {
			got := r.frames.of(s.ConnectionID)
			if len(got) == 0 || !strings.Contains(got[len(got)-1].frame, `"status":"`+status+`"`) {
				lost++
			}
		}
		return hot, other, lost
	}
	var hot, other, baseHot, baseOther time.Duration
	lost := 0
	for i := 0; b.Loop(); i++ {
		h, o, l := run(queued, fmt.Sprintf("Q%d", i))
		hot, other, lost = hot+h, other+o, lost+l
		h, o, _ = run(inline, fmt.Sprintf("I%d", i))
		baseHot, baseOther = baseHot+h, baseOther+o
	}
	per := func(d time.Duration) time.Duration { return d / time.Duration(b.N) }
	// The capacity model's prediction: the throttle, or this machine's own
	// rate of posts if lower (measured here, unthrottled), after the
	// measured hand-off to the queue.
	machine := postRate(b, r)
	benchfig.Record("fanout_hot_topic_machine_posts_per_s", machine, "posts/s")
	benchfig.Record("model_fanout_hot_topic_s", capacity.HotTopic(n, rate, rate/10, machine, per(enqueue), 0).Seconds(), "s")
	b.ReportMetric(per(hot).Seconds(), "s/hot-change")
	benchfig.Record("fanout_hot_topic_s", per(hot).Seconds(), "s")
	benchfig.Record("fanout_hot_topic_lost", float64(lost), "pushes")
	benchfig.Record("fanout_hot_topic_other_topic_ms", float64(per(other).Milliseconds()), "ms")
	benchfig.Record("fanout_hot_topic_baseline_inline_s", per(baseHot).Seconds(), "s")
	benchfig.Record("fanout_hot_topic_other_topic_baseline_inline_ms", float64(per(baseOther).Milliseconds()), "ms")
	b.Logf("%d posts refused for the rate and retried", r.mgmt.refused.Load())
}

// postRate is how many posts a second this machine makes through an
// unthrottled local Management API: a change pushed to 2,000 in-memory
// connections from the stream path.
func postRate(b *testing.B, r *rig) float64 {
	const n = 2000
	awsCfg := emulatortest.Config(b)
	front, err := localws.New(localws.Config{Credentials: awsCfg.Credentials, Region: awsCfg.Region, Logger: slog.New(slog.DiscardHandler),
		Handler: func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{StatusCode: 200}, nil
		}})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(front.Management())
	defer srv.Close()
	counted := &frameLog{frames: map[string][]arrival{}}
	subs := make([]store.Subscription, n)
	for i := range subs {
		subs[i] = sub(fmt.Sprintf("cal%05d=", i), "1", "cal", "")
		front.Register(subs[i].ConnectionID, sink{subs[i].ConnectionID, counted})
	}
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) { t.MaxIdleConnsPerHost = 512 })
	cfg := r.cfg
	cfg.Queue, cfg.QueueURL = nil, ""
	cfg.Store = matchedStore{Store: r.st, subs: map[string][]store.Subscription{"item:cal": subs}}
	cfg.Management = apigatewaymanagementapi.NewFromConfig(awsCfg, func(o *apigatewaymanagementapi.Options) {
		o.BaseEndpoint, o.HTTPClient, o.RetryMaxAttempts = aws.String(srv.URL), httpClient, 1
	})
	f, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if st, err := f.Publish(context.Background(), itemEvent("cal", "X")); err != nil || st.Pushed != n {
		b.Fatalf("calibration: %+v, %v", st, err)
	}
	return n / time.Since(start).Seconds()
}
