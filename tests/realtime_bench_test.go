package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
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
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	graphql "github.com/graph-gophers/graphql-go"

	"github.com/threefactor/framework/gateway"
	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/benchfig"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/graphqlhttp"
	"github.com/threefactor/framework/lib/identity"
	"github.com/threefactor/framework/lib/provision"
	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/realtime/fanout"
	"github.com/threefactor/framework/lib/realtime/localws"
	"github.com/threefactor/framework/lib/realtime/store"
	"github.com/threefactor/framework/lib/realtime/wsclient"
	"github.com/threefactor/framework/lib/topology"
)

var benchApp atomic.Int64

// benchStore provisions a fresh app's framework tables.
func benchStore(b testing.TB) (*store.Store, *dynamodb.Client) {
	b.Helper()
	cfg := emulatortest.Config(b)
	topo := topology.Topology{App: fmt.Sprintf("rtbench%d-%d", os.Getpid()%10000, benchApp.Add(1))}
	if _, err := provision.Apply(context.Background(), cfg, topo); err != nil {
		b.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg)
	st, err := store.New(db, store.Config{
		ConnectionsTable: topo.TableName(topology.ConnectionsTable), SubscriptionsTable: topo.TableName(topology.SubscriptionsTable),
	})
	if err != nil {
		b.Fatal(err)
	}
	return st, db
}

// load writes subscriptions concurrently, 25 per BatchWriteItem.
func load(b testing.TB, st *store.Store, subs []store.Subscription) {
	b.Helper()
	const workers = 8
	chunk := (len(subs) + workers - 1) / workers
	chunk = (chunk + 24) / 25 * 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for start := 0; start < len(subs); start += chunk {
		part := subs[start:min(start+chunk, len(subs))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := st.PutSubscriptions(context.Background(), part); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

const benchQuery = `subscription Watch($id: ID!) { orderUpdated(id: $id) { id status totalCents } }`

// watchers are n subscriptions to the order topicID, each as its
// customer (benchCustomer), as connections that signed in store them.
func watchers(topicID string, n int, connPrefix string) []store.Subscription {
	session, err := realtime.Session(&identity.Identity{Subject: benchCustomer})
	if err != nil {
		panic(err)
	}
	subs := make([]store.Subscription, n)
	for i := range subs {
		subs[i] = store.Subscription{
			Topic: gateway.OrderTopic(topicID), ConnectionID: fmt.Sprintf("%s%06d=", connPrefix, i), ID: "1",
			Query: benchQuery, OperationName: "Watch", Variables: map[string]any{"id": topicID}, Session: session,
		}
	}
	return subs
}

// benchCustomer owns the benchmark's orders.
const benchCustomer = "alice"

// countingSink stands in for a WebSocket: it counts the frames the local
// Management API delivers.
type countingSink struct{ frames *atomic.Int64 }

func (s countingSink) Send(context.Context, []byte) error { s.frames.Add(1); return nil }
func (s countingSink) Close(int, string)                  {}

// matchedStore serves subscriptions already looked up, so that the
// fan-out benchmark times the pushes and not the emulator's Query (moto's
// Query sorts the whole table on every page; DynamoDB's reads only the
// topic's partition). Deletions and queue marks go to the real store.
type matchedStore struct {
	*store.Store
	subs map[string][]store.Subscription
}

func (m matchedStore) Audience(_ context.Context, topic string) (store.Audience, error) {
	return store.Audience{Subscriptions: m.subs[topic]}, nil
}

// BenchmarkFanout10k measures one change fanned out to 10,000 subscribers
// of one order: the stored operation run on the app's schema (once: the
// 10,000 operations are identical) and 10,000 PostToConnection calls over
// real HTTP to the local Management API, 64 in flight, each delivered to
// a registered in-memory sink instead of an open WebSocket. The lookup of
// the 10,000 subscriptions (a paginated Query on the emulator) is timed
// apart, once, as fanout_10k_lookup_ms. The baseline is the same push
// path for a single subscriber.
var (
	fanoutOnce  sync.Once
	fanoutSetup struct {
		mgmt    *apigatewaymanagementapi.Client
		matched matchedStore
		schema  *graphql.Schema
		frames  atomic.Int64
	}
)

func BenchmarkFanout10k(b *testing.B) {
	ctx := context.Background()
	const n = 10000
	// Loading and looking up 10,000 subscriptions on the emulator takes a
	// while: once per test binary. The Management API server lives as
	// long as the binary.
	fanoutOnce.Do(func() {
		cfg := emulatortest.Config(b)
		st, db := benchStore(b)
		front, err := localws.New(localws.Config{Credentials: cfg.Credentials, Handler: func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{StatusCode: 200}, nil
		}})
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(front.Management())
		big, one := watchers("ord_bench_10k", n, "big"), watchers("ord_bench_1", 1, "one")
		for _, s := range append(append([]store.Subscription(nil), big...), one...) {
			front.Register(s.ConnectionID, countingSink{&fanoutSetup.frames})
		}
		load(b, st, append(big, one...))
		matched := matchedStore{Store: st, subs: map[string][]store.Subscription{}}
		for _, id := range []string{"ord_bench_10k", "ord_bench_1"} {
			start := time.Now()
			subs, err := st.SubscriptionsFor(ctx, gateway.OrderTopic(id))
			if err != nil {
				b.Fatal(err)
			}
			if id == "ord_bench_10k" {
				benchfig.Record("fanout_10k_lookup_ms", float64(time.Since(start).Microseconds())/1000, "ms")
			}
			matched.subs[gateway.OrderTopic(id)] = subs
		}
		schema, err := gateway.NewSchema(gateway.Deps{Store: orders.NewStore(db, orders.Tables{Orders: "unused", Restaurants: "unused"})}, graphqlhttp.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) { t.MaxIdleConnsPerHost = 128 })
		fanoutSetup.mgmt = apigatewaymanagementapi.NewFromConfig(cfg, func(o *apigatewaymanagementapi.Options) {
			o.BaseEndpoint = aws.String(srv.URL)
			o.HTTPClient = httpClient
		})
		fanoutSetup.matched, fanoutSetup.schema = matched, schema
	})
	if fanoutSetup.schema == nil {
		b.Fatal("setup failed")
	}
	schema, matched, mgmt := fanoutSetup.schema, fanoutSetup.matched, fanoutSetup.mgmt
	framesBefore := fanoutSetup.frames.Load()
	var topics atomic.Value
	f, err := fanout.New(fanout.Config{
		Schema: schema, Store: matched, Management: mgmt, Concurrency: 64,
		Topics: func(change.Event) []string { return []string{topics.Load().(string)} },
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	publish := func(id string, want int) time.Duration {
		topics.Store(gateway.OrderTopic(id))
		ev := change.Event{ID: "e-" + id, Table: "orders", Operation: topology.Modify, Changed: []string{"status"},
			Keys: json.RawMessage(`{"id":"` + id + `"}`),
			New:  json.RawMessage(`{"id":"` + id + `","customerId":"` + benchCustomer + `","status":"PAID","restaurantId":"r-pizza","items":[],"totalCents":1800,"payments":[],"createdAt":"x","updatedAt":"x"}`)}
		start := time.Now()
		stats, err := f.Publish(ctx, ev)
		d := time.Since(start)
		if err != nil || stats.Pushed != want {
			b.Fatalf("publish %s: %+v, %v; want %d pushed", id, stats, err, want)
		}
		return d
	}
	var total, base time.Duration
	b.ResetTimer()
	for range b.N {
		base += publish("ord_bench_1", 1)
		total += publish("ord_bench_10k", n)
	}
	b.StopTimer()
	if got := fanoutSetup.frames.Load() - framesBefore; got != int64(b.N*(n+1)) {
		b.Fatalf("%d frames delivered, want %d", got, b.N*(n+1))
	}
	perRun := total / time.Duration(b.N)
	benchfig.Record("fanout_10k_total_ms", float64(perRun.Microseconds())/1000, "ms")
	benchfig.Record("fanout_10k_pushes_per_s", n/perRun.Seconds(), "pushes/s")
	benchfig.Record("fanout_1_total_ms", float64((base/time.Duration(b.N)).Microseconds())/1000, "ms")
}

var (
	matchOnce  sync.Once
	matchSetup struct {
		small, large     *store.Store
		smallDB, largeDB *dynamodb.Client
	}
)

// BenchmarkMatchCost compares finding the 10 subscriptions of a topic
// among 100,000 stored subscriptions with finding them when only those 10
// are stored. The store matches with one Query on the topic's partition,
// so the items DynamoDB reads (and bills) are the same 10 either way:
// match_cost_ratio_100k_vs_10 is the ratio of the Query's ScannedCount.
// The baseline, match_scan_cost_ratio_100k_vs_10, is what matching by a
// Scan with a filter would read. match_time_ratio_100k_vs_10_moto is the
// wall-time ratio on the emulator, which is not DynamoDB's: moto's Query
// sorts the whole table on every call, so its time grows with the table.
func BenchmarkMatchCost(b *testing.B) {
	ctx := context.Background()
	// Loading takes a while: once per test binary, however often the
	// benchmark function runs.
	matchOnce.Do(func() {
		matchSetup.small, matchSetup.smallDB = benchStore(b)
		matchSetup.large, matchSetup.largeDB = benchStore(b)
		hot := watchers("ord_hot", 10, "hot")
		load(b, matchSetup.small, hot)
		all := append([]store.Subscription(nil), hot...)
		for i := range 99990 {
			all = append(all, store.Subscription{Topic: gateway.OrderTopic(fmt.Sprintf("ord_cold_%d", i%9999)), ConnectionID: fmt.Sprintf("cold%06d=", i), ID: "1", Query: benchQuery})
		}
		start := time.Now()
		load(b, matchSetup.large, all)
		b.Logf("loaded %d subscriptions in %s", len(all), time.Since(start))
	})
	small, smallDB, large, largeDB := matchSetup.small, matchSetup.smallDB, matchSetup.large, matchSetup.largeDB
	if small == nil {
		b.Fatal("setup failed")
	}
	scanned := func(db *dynamodb.Client, name string, scan bool) int32 {
		topic := &types.AttributeValueMemberS{Value: gateway.OrderTopic("ord_hot")}
		var total int32
		var next map[string]types.AttributeValue
		for {
			var scannedCount int32
			if scan {
				out, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: &name, FilterExpression: aws.String("topic = :t"),
					ExpressionAttributeValues: map[string]types.AttributeValue{":t": topic}, ExclusiveStartKey: next})
				if err != nil {
					b.Fatal(err)
				}
				scannedCount, next = out.ScannedCount, out.LastEvaluatedKey
			} else {
				out, err := db.Query(ctx, &dynamodb.QueryInput{TableName: &name, KeyConditionExpression: aws.String("topic = :t"),
					ExpressionAttributeValues: map[string]types.AttributeValue{":t": topic}, ExclusiveStartKey: next})
				if err != nil {
					b.Fatal(err)
				}
				scannedCount, next = out.ScannedCount, out.LastEvaluatedKey
			}
			total += scannedCount
			if len(next) == 0 {
				return total
			}
		}
	}
	smallName, largeName := small.SubscriptionsTable(), large.SubscriptionsTable()
	qs, ql := scanned(smallDB, smallName, false), scanned(largeDB, largeName, false)
	ss, sl := scanned(smallDB, smallName, true), scanned(largeDB, largeName, true)
	measure := func(st *store.Store) time.Duration {
		start := time.Now()
		subs, err := st.SubscriptionsFor(ctx, gateway.OrderTopic("ord_hot"))
		d := time.Since(start)
		if err != nil || len(subs) != 10 {
			b.Fatalf("match: %d, %v; want 10", len(subs), err)
		}
		return d
	}
	measure(small)
	measure(large)
	var ts, tl time.Duration
	b.ResetTimer()
	for range b.N {
		ts += measure(small)
		tl += measure(large)
	}
	b.StopTimer()
	benchfig.Record("match_cost_ratio_100k_vs_10", float64(ql)/float64(qs), "x")
	benchfig.Record("match_scan_cost_ratio_100k_vs_10", float64(sl)/float64(ss), "x")
	benchfig.Record("match_10_of_10_us", float64((ts / time.Duration(b.N)).Microseconds()), "us")
	benchfig.Record("match_10_of_100k_us", float64((tl / time.Duration(b.N)).Microseconds()), "us")
	benchfig.Record("match_time_ratio_100k_vs_10_moto", float64(tl)/float64(ts), "x")
}

// BenchmarkPushLatency measures, in the dev runtime (cmd/dev), the time
// from sending a payOrder mutation over HTTP to the orderUpdated result its
// write produced arriving at a subscriber (wsclient, the framework's Go
// client, on the runtime's WebSocket): HTTP mutation, DynamoDB write,
// the fan-out's stream reader woken by the write, fan-out, Management
// API, socket. The baseline is the mutation's own round trip, in the same
// run: push_latency_p50_ms minus push_latency_baseline_mutation_p50_ms is
// what realtime adds to a write.
func BenchmarkPushLatency(b *testing.B) {
	ctx := context.Background()
	s := startDev(b)
	samples := max(b.N, 30)

	c, err := wsclient.Dial(ctx, wsclient.Config{URL: "ws" + strings.TrimPrefix(s.url, "http"), ConnectionParams: wsclient.Bearer(s.token)})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var mu sync.Mutex
	arrived := map[string]time.Time{} // order id -> first result with a payment intent
	settled := map[string]bool{}      // order id -> its last step (DRIVER_ASSIGNED) pushed
	live := map[string]bool{}         // order id -> its snapshot arrived: the subscription is live
	// One order more than samples: the first payment warms the path up
	// (the fan-out's first push, connections to the emulator) unmeasured.
	ids := make([]string, samples+1)
	for i := range ids {
		o, err := s.placeOrder(ctx, "r-pizza", map[string]any{"menuItemId": "tiramisu", "quantity": 1})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = o.ID
		sub, err := c.Subscribe(ctx, wsclient.Request{
			Query:     `subscription($id: ID!) { orderUpdated(id: $id) { id status paymentIntent { id } } }`,
			Variables: map[string]any{"id": o.ID},
		})
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			for {
				r, err := sub.Next(ctx)
				if err != nil {
					return
				}
				now := time.Now()
				var d struct {
					OrderUpdated struct {
						ID            string
						Status        string
						PaymentIntent *struct{ ID string }
					}
				}
				if json.Unmarshal(r.Data, &d) != nil {
					continue
				}
				o := d.OrderUpdated
				mu.Lock()
				if _, ok := arrived[o.ID]; !ok && o.PaymentIntent != nil {
					arrived[o.ID] = now
				}
				settled[o.ID] = settled[o.ID] || o.Status == "DRIVER_ASSIGNED"
				live[o.ID] = true
				mu.Unlock()
			}
		}()
	}
	for _, id := range ids {
		rtWaitFor(b, 2*time.Minute, "order "+id+" validated", func() bool { return s.mustOrder(b, id).Status == "VALIDATED" })
		// What is timed is a push to a live subscription, not the
		// subscription's start: its snapshot first.
		rtWaitFor(b, 2*time.Minute, "the snapshot of "+id, func() bool { mu.Lock(); defer mu.Unlock(); return live[id] })
	}
	lat := make([]time.Duration, 0, samples)
	mut := make([]time.Duration, 0, samples)
	b.ResetTimer()
	for i, id := range ids {
		start := time.Now()
		if _, err := s.payOrder(ctx, id, 550); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		var at time.Time
		rtWaitFor(b, time.Minute, "result for "+id, func() bool {
			mu.Lock()
			defer mu.Unlock()
			at = arrived[id]
			return !at.IsZero()
		})
		if i > 0 {
			mut, lat = append(mut, took), append(lat, at.Sub(start))
		}
		// The payment sets off the rest of the order's workflow (PAID,
		// APPROVED, DRIVER_ASSIGNED): the next sample starts when that is
		// done, so each times one write's push, not a queue behind the
		// previous order's writes.
		rtWaitFor(b, time.Minute, "order "+id+" settled", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return settled[id]
		})
	}
	b.StopTimer()
	pct := func(ds []time.Duration, p float64) float64 {
		s := append([]time.Duration(nil), ds...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return float64(s[int(p*float64(len(s)-1)+0.5)].Microseconds()) / 1000
	}
	benchfig.Record("push_latency_p50_ms", pct(lat, 0.50), "ms")
	benchfig.Record("push_latency_p99_ms", pct(lat, 0.99), "ms")
	benchfig.Record("push_latency_baseline_mutation_p50_ms", pct(mut, 0.50), "ms")
}
