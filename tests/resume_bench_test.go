package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
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

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/gateway"
	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/benchfig"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/graphqlhttp"
	"github.com/threefactor/framework/lib/realtime/fanout"
	"github.com/threefactor/framework/lib/realtime/localws"
	"github.com/threefactor/framework/lib/realtime/store"
	"github.com/threefactor/framework/lib/topology"
)

// topic1k is one order topic with 1,000 subscribers (and one with a
// single subscriber), fanned out through the whole path: the change
// appended to the topic's log (a file store), the subscriptions looked up
// in the store on the emulator, the stored operation run on the app's
// schema, and a PostToConnection per subscriber over real HTTP to the
// local Management API, which hands each frame to its connection's sink.
type topic1k struct {
	f      *fanout.Fanout
	topics atomic.Value
	mu     sync.Mutex
	frames map[string][]string // connection -> frames
	seq    atomic.Int64
	lookup time.Duration // one Query of the 1,000 rows, on the emulator
}

// With matched, the fan-out is served the topic's rows as one lookup
// found them (timed as lookup): on the emulator a Query of 1,000 rows
// takes seconds (moto sorts the table on every call), which would hide the
// fan-out's own cost; on DynamoDB it reads the topic's partition.
func newTopic1k(t testing.TB, matched bool) *topic1k {
	ctx := context.Background()
	cfg := emulatortest.Config(t)
	st, _ := benchStore(t)
	x := &topic1k{frames: map[string][]string{}}
	front, err := localws.New(localws.Config{Credentials: cfg.Credentials, Handler: func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		return events.APIGatewayProxyResponse{StatusCode: 200}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(front.Management())
	t.Cleanup(srv.Close)
	subs := append(watchers("ord_1k", 1000, "k"), watchers("ord_1k_one", 1, "u")...)
	for _, s := range subs {
		front.Register(s.ConnectionID, frameSink{x, s.ConnectionID})
	}
	load(t, st, subs)
	log, err := eventlog.OpenFileStore(eventlog.LocalDir(t.TempDir()), eventlog.FileConfig{Topology: fooddelivery.App.Topology(), Logger: devNull()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = log.Close() })
	schema, err := gateway.NewSchema(gateway.Deps{Store: orders.NewStore(dynamodb.NewFromConfig(cfg), orders.Tables{Orders: "unused", Restaurants: "unused"})}, graphqlhttp.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	// As the fan-out's client on AWS: connections kept for the 64 posts
	// in flight.
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) { t.MaxIdleConnsPerHost = 128 })
	mgmt := apigatewaymanagementapi.NewFromConfig(cfg, func(o *apigatewaymanagementapi.Options) {
		o.BaseEndpoint, o.HTTPClient = aws.String(srv.URL), httpClient
	})
	start := time.Now()
	rows, err := st.SubscriptionsFor(ctx, gateway.OrderTopic("ord_1k"))
	if err != nil {
		t.Fatal(err)
	}
	x.lookup = time.Since(start)
	one, err := st.SubscriptionsFor(ctx, gateway.OrderTopic("ord_1k_one"))
	if err != nil {
		t.Fatal(err)
	}
	var subStore fanoutStore = st
	if matched {
		subStore = matchedStore{Store: st, subs: map[string][]store.Subscription{gateway.OrderTopic("ord_1k"): rows, gateway.OrderTopic("ord_1k_one"): one}}
	}
	x.f, err = fanout.New(fanout.Config{
		Schema: schema, Store: subStore, Management: mgmt, Log: log, Concurrency: 64,
		Topics: func(change.Event) []string { return []string{x.topics.Load().(string)} },
		Logger: devNull(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// fanoutStore is what the fan-out needs of a store: the store itself, or
// matchedStore over it.
type fanoutStore interface {
	Audience(ctx context.Context, topic string) (store.Audience, error)
	MarkQueued(ctx context.Context, topics, ids []string) error
	MarkDone(ctx context.Context, topics []string, id string) error
	Nudge(ctx context.Context, sub store.Subscription) (bool, uint64, error)
	DeleteConnection(ctx context.Context, connectionID string) error
	DeleteSubscription(ctx context.Context, sub store.Subscription) error
	AddPending(ctx context.Context, sub store.Subscription, ps ...store.Pending) (int, error)
	TakePending(ctx context.Context, sub store.Subscription, lease time.Duration) ([]store.Pending, error)
	DonePending(ctx context.Context, sub store.Subscription, delivered int) error
	Pushed(ctx context.Context, topic string) (uint64, error)
	SetPushed(ctx context.Context, topic string, position uint64) error
}

func devNull() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

type frameSink struct {
	x    *topic1k
	conn string
}

func (s frameSink) Send(_ context.Context, b []byte) error {
	s.x.mu.Lock()
	s.x.frames[s.conn] = append(s.x.frames[s.conn], string(b))
	s.x.mu.Unlock()
	return nil
}
func (frameSink) Close(int, string) {}

// publish pushes one change of order id and returns how long it took.
func (x *topic1k) publish(t testing.TB, id string, want int) time.Duration {
	x.topics.Store(gateway.OrderTopic(id))
	n := x.seq.Add(1)
	ev := change.Event{ID: fmt.Sprintf("e-%s-%d", id, n), Table: "orders", Operation: topology.Modify, Changed: []string{"status"},
		Keys: json.RawMessage(`{"id":"` + id + `"}`),
		New:  json.RawMessage(fmt.Sprintf(`{"id":"%s","customerId":"%s","status":"PAID","restaurantId":"r-pizza","items":[],"totalCents":%d,"payments":[],"createdAt":"x","updatedAt":"x"}`, id, benchCustomer, n))}
	start := time.Now()
	stats, err := x.f.Publish(context.Background(), ev)
	d := time.Since(start)
	if err != nil || stats.Pushed != want || stats.Matched != want {
		t.Fatalf("publish %s: %+v, %v; want %d pushed", id, stats, err, want)
	}
	return d
}

// TestFanout1kExactlyOnce: one change to a topic with 1,000 subscribers
// reaches every one of them exactly once, with its cursor.
func TestFanout1kExactlyOnce(t *testing.T) {
	x := newTopic1k(t, false)
	x.publish(t, "ord_1k", 1000)
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.frames) != 1000 {
		t.Fatalf("%d connections got a push, want 1000", len(x.frames))
	}
	var cursor string
	for conn, fs := range x.frames {
		if len(fs) != 1 {
			t.Fatalf("%s got %d pushes: %v", conn, len(fs), fs)
		}
		i := strings.Index(fs[0], `"cursor":"`)
		if i < 0 || !strings.Contains(fs[0], `"status":"PAID"`) {
			t.Fatalf("%s got %s", conn, fs[0])
		}
		if c := fs[0][i:]; cursor == "" {
			cursor = c
		} else if c != cursor {
			t.Fatalf("one change, two cursors: %s and %s", cursor, c)
		}
	}
}

// BenchmarkFanout1kTopic: fanout_1k_topic_pushes_per_s, one change to the
// 1,000 subscribers of one topic through the whole path (see topic1k),
// the lookup timed apart (fanout_1k_topic_lookup_ms, moto's); baseline
// fanout_1k_topic_baseline_1_sub_ms, the same path for a topic with one
// subscriber. TestFanout1kExactlyOnce holds that each subscriber gets
// exactly one push, with the lookup on the emulator.
func BenchmarkFanout1kTopic(b *testing.B) {
	x := newTopic1k(b, true)
	var total, base time.Duration
	b.ResetTimer()
	for range b.N {
		base += x.publish(b, "ord_1k_one", 1)
		total += x.publish(b, "ord_1k", 1000)
	}
	b.StopTimer()
	per := total / time.Duration(b.N)
	benchfig.Record("fanout_1k_topic_ms", float64(per.Microseconds())/1000, "ms")
	benchfig.Record("fanout_1k_topic_pushes_per_s", 1000/per.Seconds(), "pushes/s")
	benchfig.Record("fanout_1k_topic_baseline_1_sub_ms", float64((base/time.Duration(b.N)).Microseconds())/1000, "ms")
	benchfig.Record("fanout_1k_topic_lookup_ms", float64(x.lookup.Microseconds())/1000, "ms")
}

// BenchmarkResumeCatchup: resume_catchup_ms, on the dev runtime, from
// dialing and subscribing with after to the last of the 100 changes the
// subscriber missed arriving on its socket (read from the topic's log,
// run as the subscriber, posted in order). Baseline
// resume_subscribe_snapshot_ms: a subscribe without after on the same
// connection, to its first push (the snapshot).
func BenchmarkResumeCatchup(b *testing.B) {
	ctx := context.Background()
	s := startInProcess(b)
	o, err := s.placeOrder(ctx, "r-pizza", map[string]any{"menuItemId": "margherita", "quantity": 1})
	if err != nil {
		b.Fatal(err)
	}
	rtWaitFor(b, 2*time.Minute, "the order validated", func() bool { return s.mustOrder(b, o.ID).Status == "VALIDATED" })
	db := dynamodb.NewFromConfig(emulatortest.Config(b))
	live := watch(b, s.dial(b, s.token), o.ID, "")
	cursor := nextStep(b, live).Cursor
	for j := range 100 {
		if err := writeAttr(db, o.ID, "driverId", fmt.Sprintf("drv-%03d", j)); err != nil {
			b.Fatal(err)
		}
	}
	// The fan-out has appended all of them once the live subscriber has
	// the last; each run resumes from the cursor before them.
	stepsUntil(b, live, func(st step) bool { return st.Driver == "drv-099" })
	var catchup, snapshot time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		c := s.dial(b, s.token)
		got := stepsUntil(b, watch(b, c, o.ID, cursor), func(st step) bool { return st.Driver == "drv-099" })
		catchup += time.Since(start)
		if len(got) != 100 {
			b.Fatalf("caught up with %d pushes, want 100", len(got))
		}
		start = time.Now()
		nextStep(b, watch(b, c, o.ID, ""))
		snapshot += time.Since(start)
		_ = c.Close()
	}
	b.StopTimer()
	benchfig.Record("resume_catchup_ms", float64((catchup/time.Duration(b.N)).Microseconds())/1000, "ms")
	benchfig.Record("resume_subscribe_snapshot_ms", float64((snapshot/time.Duration(b.N)).Microseconds())/1000, "ms")
}
