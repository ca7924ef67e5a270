package capacity

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Quotas are the account and service limits of one Region that the
// reference workflow meets, each a rate (or a count of concurrent
// executions). DefaultQuotas gives AWS's defaults in us-east-1.
type Quotas struct {
	// APIGatewayRPS is API Gateway's throttle per account and Region,
	// shared by HTTP APIs, WebSocket APIs (client messages) and WebSocket
	// callback APIs (PostToConnection).
	APIGatewayRPS float64
	// WebSocketConnectsPerS is new WebSocket connections a second per
	// account and Region.
	WebSocketConnectsPerS float64
	// LambdaConcurrency is concurrent executions per account and Region.
	LambdaConcurrency float64
	// PutEventsPerS is EventBridge PutEvents calls a second (each up to
	// ten entries); InvocationsPerS is rule matches delivered to targets.
	PutEventsPerS   float64
	InvocationsPerS float64
	// PartitionWritesPerS is the write units a second one DynamoDB
	// partition takes; a stream shard follows a partition.
	PartitionWritesPerS float64
	// TableWritesPerS is the write units a second one on-demand table
	// takes (the per-table quota). A new table takes TableWarmWritesPerS
	// at once (its warm throughput) and more as DynamoDB sees higher peaks.
	TableWritesPerS, TableWarmWritesPerS float64
	// SQSMappingConcurrency is how many concurrent invocations one SQS
	// event source mapping scales to by default.
	SQSMappingConcurrency float64
}

// DefaultQuotas are AWS's defaults in us-east-1.
func DefaultQuotas() Quotas {
	return Quotas{
		APIGatewayRPS:         10000,
		WebSocketConnectsPerS: 500,
		LambdaConcurrency:     1000,
		PutEventsPerS:         10000,
		InvocationsPerS:       18750,
		PartitionWritesPerS:   1000,
		TableWritesPerS:       40000,
		TableWarmWritesPerS:   4000,
		SQSMappingConcurrency: 1250,
	}
}

// Prices are US East (N. Virginia) list prices, in dollars.
type Prices struct {
	LambdaRequest   float64 // per request
	LambdaGBSecond  float64 // per GB-second, arm64
	HTTPRequest     float64 // per HTTP API request (512 KB increments)
	WSMessage       float64 // per WebSocket message (32 KB increments), in or out
	WSConnectionMin float64 // per connection minute
	WriteUnit       float64 // per DynamoDB on-demand write request unit
	ReadUnit        float64 // per DynamoDB on-demand read request unit
	Event           float64 // per EventBridge custom event (64 KB chunks)
	SQSRequest      float64 // per standard SQS request (64 KB chunks)
	SQSFIFORequest  float64 // per FIFO SQS request
}

// DefaultPrices are the list prices in us-east-1, past the free tiers.
func DefaultPrices() Prices {
	return Prices{
		LambdaRequest:   0.20 / 1e6,
		LambdaGBSecond:  0.0000133334,
		HTTPRequest:     1.00 / 1e6,
		WSMessage:       1.00 / 1e6,
		WSConnectionMin: 0.25 / 1e6,
		WriteUnit:       0.625 / 1e6,
		ReadUnit:        0.125 / 1e6,
		Event:           1.00 / 1e6,
		SQSRequest:      0.40 / 1e6,
		SQSFIFORequest:  0.50 / 1e6,
	}
}

// Workload is what one order of the reference workflow (place, validate,
// pay, process payment, approve, assign a driver, watched by its customer
// and its restaurant) does, counted from the app's code.
type Workload struct {
	// Mutations are HTTP API requests: placeOrder and payOrder.
	Mutations float64
	// Changes are writes to the orders table, each a stream record and a
	// change event: placed, validated, payment intent, paid, approved,
	// driver assigned.
	Changes float64
	// WriteUnits per change (an order item is 1 to 2 KB).
	WriteUnits float64
	// Deliveries are the changes routes deliver to functions.
	Deliveries float64
	// IdempotencyWrites and Reads are per delivery.
	IdempotencyWrites, Reads float64
	// Topics per change, and Subscribers per change (the customer's
	// orderUpdated and the restaurant staff's restaurantOrderUpdated).
	Topics, Subscribers float64
	// Connects are WebSocket connections opened per order; ClientMessages
	// the messages each sends (connection_init, subscribe, complete);
	// ServerMessages the frames posted besides pushes (connection_ack);
	// StoreWrites the connection and subscription writes over its life;
	// ConnectedMinutes how long it stays open.
	Connects, ClientMessages, ServerMessages, StoreWrites, ConnectedMinutes float64
	// EventLog write units: per change, per delivery, per push.
	LogPerChange, LogPerDelivery, LogPerPush float64
}

// ReferenceWorkload is the food-delivery workflow as the app runs it.
func ReferenceWorkload() Workload {
	return Workload{
		Mutations: 2, Changes: 6, WriteUnits: 2, Deliveries: 4,
		IdempotencyWrites: 2, Reads: 1,
		Topics: 2, Subscribers: 2,
		Connects: 1, ClientMessages: 3, ServerMessages: 1, StoreWrites: 8, ConnectedMinutes: 10,
		LogPerChange: 4, LogPerDelivery: 1, LogPerPush: 1,
	}
}

// Pushes are the posts per order.
func (w Workload) Pushes() float64 { return w.Changes * w.Subscribers }

// Settings are the deployment's own knobs.
type Settings struct {
	// StreamBatch is the stream mappings' batch size; Parallelization
	// their parallelization factor.
	StreamBatch, Parallelization int
	// RouterConcurrency is router.Config.Concurrency; ItemConcurrency is
	// fanout.Config.ItemConcurrency.
	RouterConcurrency, ItemConcurrency int
	// QueueBatch is a route's SQS batch size.
	QueueBatch int
	// Memory of each Lambda, MB.
	GraphQLMB, RealtimeMB, RouterMB, FanOutMB, FunctionMB int
}

// DefaultSettings are infra/stack's.
func DefaultSettings() Settings {
	return Settings{
		StreamBatch: 100, Parallelization: 1, RouterConcurrency: 10, ItemConcurrency: 16, QueueBatch: 10,
		GraphQLMB: 512, RealtimeMB: 512, RouterMB: 256, FanOutMB: 512, FunctionMB: 256,
	}
}

// ServiceTimes are how long each unit of work takes: CPU measured by `make
// bench` (on the development machine, x86; Lambda's arm64 is taken as
// equal, and scaled by the vCPU share the memory buys), and AWS call
// latencies that no local run measures (assumed; `threefactor load`
// measures the end-to-end ones).
type ServiceTimes struct {
	// CPU per unit, at one full vCPU.
	GraphQLCPU  time.Duration // one mutation through the GraphQL handler
	RealtimeCPU time.Duration // one WebSocket message (token verified at init)
	RouterCPU   time.Duration // one stream record to its EventBridge entry
	ConsumeCPU  time.Duration // one SQS message through a function's batch runtime
	PushCPU     time.Duration // one push: the stored operation and a signed call

	// AWS calls.
	DynamoWrite, DynamoRead, PutEvents, PostToConnection time.Duration
	// StreamWait is the time a record waits for its mapping's poll;
	// BusToQueue from PutEvents to the message in the queue; QueueWait
	// for the SQS mapping's poll.
	StreamWait, BusToQueue, QueueWait time.Duration
}

// Sources of the default service times.
var ServiceTimeSources = map[string]string{
	"GraphQLCPU":       Bench("graphql_ours_ns_per_op") + " (114 µs)",
	"RealtimeCPU":      Bench("jwt_verify_us") + " (12 µs) and the protocol's handling, taken as 100 µs in all",
	"RouterCPU":        Bench("router_ns_per_record") + " (17 µs)",
	"ConsumeCPU":       Bench("consume_ns_per_message") + " (28 µs)",
	"PushCPU":          Bench("mgmt_sign_us") + " (22 µs) and the stored operation's run, taken as 60 µs in all",
	"DynamoWrite":      Assumed("DynamoDB's single-digit-millisecond writes, taken as 6 ms"),
	"DynamoRead":       Assumed("taken as 4 ms"),
	"PutEvents":        Assumed("20 ms a call, the figure BenchmarkShardThroughput holds its double to"),
	"PostToConnection": Assumed("20 ms a call"),
	"StreamWait":       Assumed("half of a 250 ms poll interval"),
	"BusToQueue":       Assumed("EventBridge to SQS, 100 ms"),
	"QueueWait":        Assumed("an SQS mapping's long poll, busy: 20 ms"),
}

// DefaultServiceTimes are the measured CPU times of the development
// machine (docs/scale.md gives the run) and the assumed AWS latencies.
func DefaultServiceTimes() ServiceTimes {
	return ServiceTimes{
		GraphQLCPU: 114 * time.Microsecond, RealtimeCPU: 100 * time.Microsecond,
		RouterCPU: 17 * time.Microsecond, ConsumeCPU: 28 * time.Microsecond, PushCPU: 60 * time.Microsecond,
		DynamoWrite: 6 * time.Millisecond, DynamoRead: 4 * time.Millisecond,
		PutEvents: 20 * time.Millisecond, PostToConnection: 20 * time.Millisecond,
		StreamWait: 125 * time.Millisecond, BusToQueue: 100 * time.Millisecond, QueueWait: 20 * time.Millisecond,
	}
}

// Model is one deployment: its quotas, prices, workload, settings and
// service times.
type Model struct {
	Quotas   Quotas
	Prices   Prices
	Workload Workload
	Settings Settings
	Times    ServiceTimes
}

// Reference is the model of the reference app deployed with the defaults.
func Reference() Model {
	return Model{Quotas: DefaultQuotas(), Prices: DefaultPrices(), Workload: ReferenceWorkload(),
		Settings: DefaultSettings(), Times: DefaultServiceTimes()}
}

// fullVCPU is the memory at which Lambda gives a function one vCPU.
const fullVCPU = 1769.0

// cpu is the wall time of cpu at one vCPU on a function of memoryMB.
func cpu(d time.Duration, memoryMB int) time.Duration {
	return time.Duration(float64(d) * math.Max(1, fullVCPU/float64(memoryMB)))
}

// Durations are each Lambda's billed duration per invocation.
type Durations struct {
	GraphQL, Realtime, Function time.Duration
	// RouterBatch and FanOutRecord: a router invocation of a full batch,
	// the fan-out's time for one record.
	RouterBatch, FanOutRecord time.Duration
}

// Durations derives the invocations' durations from the service times.
func (m Model) Durations() Durations {
	t, s, w := m.Times, m.Settings, m.Workload
	calls := int(math.Ceil(float64(s.StreamBatch) / 10))
	rounds := int(math.Ceil(float64(calls) / float64(max(1, s.RouterConcurrency))))
	return Durations{
		// A mutation reads the order (payOrder) or the menu (placeOrder) and writes once.
		GraphQL:  cpu(t.GraphQLCPU, s.GraphQLMB) + t.DynamoRead + t.DynamoWrite,
		Realtime: cpu(t.RealtimeCPU, s.RealtimeMB) + t.DynamoWrite,
		// A step: claim and settle its idempotency record, read, write.
		Function:     cpu(t.ConsumeCPU, s.FunctionMB) + time.Duration(w.IdempotencyWrites)*t.DynamoWrite + time.Duration(w.Reads)*t.DynamoRead + t.DynamoWrite,
		RouterBatch:  cpu(time.Duration(s.StreamBatch)*t.RouterCPU, s.RouterMB) + time.Duration(rounds)*t.PutEvents,
		FanOutRecord: cpu(time.Duration(w.Subscribers)*t.PushCPU, s.FanOutMB) + t.DynamoRead + t.PostToConnection,
	}
}

// The stages.
const (
	StageAPIGateway  = "API Gateway requests (HTTP, WebSocket messages, PostToConnection)"
	StageConnects    = "WebSocket connects"
	StageConcurrency = "Lambda concurrency"
	StageOrders      = "orders table writes"
	StageRouter      = "router, per stream shard"
	StageFanOut      = "fan-out, per stream shard"
	StagePutEvents   = "EventBridge PutEvents"
	StageInvocations = "EventBridge invocations (route and event-log targets)"
	StageMappings    = "function SQS mappings"
	StageIdempotency = "idempotency table writes"
	StageEventLog    = "event-log table writes"
)

// Stage is one limit the workflow meets, at one order rate.
type Stage struct {
	Name string
	// Load and Capacity in Unit a second; Utilization is their ratio.
	Load, Capacity, Utilization float64
	Unit                        string
	// Limit names what bounds Capacity; Move the setting or quota request
	// that raises it; Source where Capacity comes from.
	Limit, Move, Source string
	// Latency is the time the stage adds to an order's step at this load
	// (its service time over 1-ρ); zero when the stage is a quota with no
	// service time of its own. +Inf when saturated.
	Latency time.Duration
}

// Prediction is the model at one order rate.
type Prediction struct {
	OrdersPerS float64
	// Stages, the most utilized first.
	Stages []Stage
	// Saturation is the lowest order rate at which a stage is fully used,
	// and FirstLimit that stage (as it is at that rate): the first limit
	// the load reaches as it grows. Zero when nothing saturates below
	// MaxRate.
	Saturation float64
	FirstLimit Stage
	// Shards is the orders table's stream shards (one per partition).
	Shards int
	// Concurrency is the Lambda executions the load keeps busy.
	Concurrency float64
	// PlaceToAssigned is the time from a placeOrder request to the
	// DRIVER_ASSIGNED push, the customer answering VALIDATED with
	// payOrder at once; MutationLatency a mutation's; PushLatency from a
	// write to its push.
	PlaceToAssigned, MutationLatency, PushLatency time.Duration
}

// queue is a service time at utilization u: one queue, S/(1-ρ).
func queue(s time.Duration, u float64) time.Duration {
	if u >= 1 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(float64(s) / (1 - u))
}

// MaxRate bounds the search for the saturation rate, in orders a second.
const MaxRate = 1e7

// Predict is the model at ordersPerS, with the rate at which it saturates.
func (m Model) Predict(ordersPerS float64) Prediction {
	p := m.at(ordersPerS)
	full := func(r float64) bool { return m.at(r).Stages[0].Utilization >= 1 }
	if full(MaxRate) {
		lo, hi := 0.0, MaxRate
		// Below lo nothing is full; the per-shard loads are not monotone
		// in the rate (shards split), so step up before bisecting.
		for r := 1.0; r < MaxRate; r *= 1.25 {
			if full(r) {
				hi = r
				break
			}
			lo = r
		}
		for hi-lo > 0.5 {
			if mid := (lo + hi) / 2; full(mid) {
				hi = mid
			} else {
				lo = mid
			}
		}
		p.Saturation, p.FirstLimit = hi, m.at(hi).Stages[0]
	}
	return p
}

// at is the model at ordersPerS.
func (m Model) at(ordersPerS float64) Prediction {
	q, w, s, t := m.Quotas, m.Workload, m.Settings, m.Times
	d := m.Durations()
	r := ordersPerS
	p := Prediction{OrdersPerS: r}

	changes := r * w.Changes
	wru := changes * w.WriteUnits
	p.Shards = max(1, int(math.Ceil(wru/q.PartitionWritesPerS)))
	perShard := changes / float64(p.Shards)

	// Lambda concurrency, by Little's law: arrivals × duration.
	queueBatch := math.Min(float64(s.QueueBatch), math.Max(1, r*w.Deliveries*d.Function.Seconds()))
	conc := map[string]float64{
		"graphql":  r * w.Mutations * d.GraphQL.Seconds(),
		"realtime": r * (w.ClientMessages + 2*w.Connects) * d.Realtime.Seconds(),
		// A function invocation handles its batch's messages at once.
		"functions": r * w.Deliveries / queueBatch * d.Function.Seconds(),
		"router":    changes / float64(s.StreamBatch) * d.RouterBatch.Seconds(),
		"fanout":    changes * d.FanOutRecord.Seconds() / float64(max(1, s.ItemConcurrency)),
	}
	for _, c := range conc {
		p.Concurrency += c
	}
	// A shard's readers: batches one after another per parallelization
	// slot; the router publishes a batch in rounds of calls, the fan-out
	// pushes ItemConcurrency records at once.
	routerShard := RouterShard(s.StreamBatch, s.RouterConcurrency, t.PutEvents, cpu(t.RouterCPU, s.RouterMB)) * float64(s.Parallelization)
	fanoutShard := float64(s.ItemConcurrency*s.Parallelization) / d.FanOutRecord.Seconds()

	apiLoad := r * (w.Mutations + w.Connects*w.ClientMessages + w.Pushes() + w.ServerMessages)
	eventsPerCall := math.Min(10, math.Max(1, perShard*t.StreamWait.Seconds()*2))
	add := func(st Stage, service time.Duration) {
		st.Utilization = st.Load / st.Capacity
		if service > 0 {
			st.Latency = queue(service, st.Utilization)
		}
		p.Stages = append(p.Stages, st)
	}
	add(Stage{Name: StageAPIGateway, Unit: "requests",
		Load: apiLoad, Capacity: q.APIGatewayRPS, Limit: "account throttle per Region",
		Move: "Service Quotas: API Gateway throttle quota (L-8A5B8E43)", Source: SrcAPIGatewayQuotas}, 0)
	add(Stage{Name: StageConnects, Unit: "connections",
		Load: r * w.Connects, Capacity: q.WebSocketConnectsPerS, Limit: "new connections per second per account",
		Move: "Service Quotas: WebSocket new connections (L-9ED1E49A); or keep one socket per customer, not per order", Source: SrcWebSocketQuotas}, 0)
	add(Stage{Name: StageConcurrency, Unit: "executions",
		Load: p.Concurrency, Capacity: q.LambdaConcurrency, Limit: "concurrent executions per account",
		Move: "Service Quotas: Lambda concurrent executions", Source: SrcLambdaQuotas}, 0)
	tableMove := fmt.Sprintf("Service Quotas: DynamoDB table-level write throughput; pre-warm a new table past %.0f (WarmThroughput)", q.TableWarmWritesPerS)
	add(Stage{Name: StageOrders, Unit: "write units",
		Load: wru, Capacity: q.TableWritesPerS, Limit: "on-demand write units per table", Move: tableMove, Source: SrcDynamoDBQuotas}, t.DynamoWrite)
	add(Stage{Name: StageRouter, Unit: "records",
		Load: perShard, Capacity: routerShard, Limit: "one batch at a time per parallelization slot, Concurrency PutEvents calls in flight",
		Move: "topology.Table.ParallelizationFactor (up to 10); router.Config.Concurrency", Source: Bench("router_shard_events_per_s")}, d.RouterBatch)
	add(Stage{Name: StageFanOut, Unit: "records",
		Load: perShard, Capacity: fanoutShard, Limit: "ItemConcurrency records at once per parallelization slot",
		Move: "topology.Table.ParallelizationFactor; fanout.Config.ItemConcurrency", Source: SrcLambdaStreamParams}, d.FanOutRecord)
	add(Stage{Name: StagePutEvents, Unit: "calls",
		Load: changes / eventsPerCall, Capacity: q.PutEventsPerS, Limit: "PutEvents calls per second per account",
		Move: "Service Quotas: EventBridge PutEvents throttle", Source: SrcEventBridgeQuotas}, t.PutEvents)
	add(Stage{Name: StageInvocations, Unit: "invocations",
		Load: r * (w.Deliveries + w.Changes), Capacity: q.InvocationsPerS, Limit: "invocations per second per account",
		Move: "Service Quotas: EventBridge invocations throttle", Source: SrcEventBridgeQuotas}, t.BusToQueue)
	add(Stage{Name: StageMappings, Unit: "executions",
		Load: conc["functions"] / math.Max(1, w.Deliveries), Capacity: q.SQSMappingConcurrency,
		Limit: "concurrency one SQS mapping scales to", Move: "a mapping's MaximumConcurrency; AWS Support for more",
		Source: SrcLambdaSQSScaling}, d.Function)
	add(Stage{Name: StageIdempotency, Unit: "write units",
		Load: r * w.Deliveries * w.IdempotencyWrites, Capacity: q.TableWritesPerS, Limit: "on-demand write units per table",
		Move: tableMove, Source: SrcDynamoDBQuotas}, t.DynamoWrite)
	add(Stage{Name: StageEventLog, Unit: "write units",
		Load: r * (w.Changes*w.LogPerChange + w.Deliveries*w.LogPerDelivery + w.Pushes()*w.LogPerPush), Capacity: q.TableWritesPerS,
		Limit: "on-demand write units per table (its indexes' writes counted with it)", Move: tableMove, Source: SrcDynamoDBQuotas}, 0)
	sort.SliceStable(p.Stages, func(i, j int) bool { return p.Stages[i].Utilization > p.Stages[j].Utilization })

	lat := func(name string) time.Duration {
		for _, st := range p.Stages {
			if st.Name == name {
				return st.Latency
			}
		}
		return 0
	}
	sat := func(ds ...time.Duration) time.Duration {
		var sum time.Duration
		for _, d := range ds {
			if d == time.Duration(math.MaxInt64) || sum > time.Duration(math.MaxInt64)-d {
				return time.Duration(math.MaxInt64)
			}
			sum += d
		}
		return sum
	}
	p.MutationLatency = d.GraphQL
	hop := sat(t.StreamWait, lat(StageRouter), lat(StageInvocations), t.QueueWait, lat(StageMappings))
	p.PushLatency = sat(t.StreamWait, lat(StageFanOut))
	// place, validate, the VALIDATED push and payOrder, then payment,
	// approval and assignment, and the DRIVER_ASSIGNED push.
	p.PlaceToAssigned = sat(p.MutationLatency, hop, p.PushLatency, p.MutationLatency, hop, hop, hop, p.PushLatency)
	return p
}

// Cost is what a million orders cost, by service, in dollars.
type Cost struct {
	Lines []CostLine
	Total float64
}

// CostLine is one service's part.
type CostLine struct {
	Service, What string
	Dollars       float64
	Source        string
}

// CostPerMillionOrders prices a million orders at ordersPerS (the rate
// sets how full the batches are, and so how many invocations there are).
func (m Model) CostPerMillionOrders(ordersPerS float64) Cost {
	w, s, pr := m.Workload, m.Settings, m.Prices
	d := m.Durations()
	const n = 1e6
	queueBatch := math.Min(float64(s.QueueBatch), math.Max(1, ordersPerS*w.Deliveries*d.Function.Seconds()))
	streamBatch := math.Min(float64(s.StreamBatch), math.Max(1, ordersPerS*w.Changes*m.Times.StreamWait.Seconds()*2))
	gbs := func(inv float64, dur time.Duration, mb int) float64 { return inv * dur.Seconds() * float64(mb) / 1024 }
	invocations := map[string]float64{
		"graphql":   n * w.Mutations,
		"realtime":  n * (w.ClientMessages + 2*w.Connects),
		"functions": n * w.Deliveries / queueBatch,
		"router":    n * w.Changes / streamBatch,
		"fanout":    n * w.Changes / streamBatch,
	}
	var inv float64
	for _, v := range invocations {
		inv += v
	}
	routerDur := time.Duration(float64(d.RouterBatch) * streamBatch / float64(s.StreamBatch))
	gb := gbs(invocations["graphql"], d.GraphQL, s.GraphQLMB) +
		gbs(invocations["realtime"], d.Realtime, s.RealtimeMB) +
		gbs(invocations["functions"], d.Function+time.Duration(queueBatch-1)*m.Times.DynamoWrite/10, s.FunctionMB) +
		gbs(invocations["router"], routerDur, s.RouterMB) +
		gbs(n*w.Changes, d.FanOutRecord, s.FanOutMB)
	wru := n * (w.Changes*w.WriteUnits + w.Deliveries*(w.IdempotencyWrites+1) + w.Connects*w.StoreWrites)
	logWRU := n * (w.Changes*w.LogPerChange + w.Deliveries*w.LogPerDelivery + w.Pushes()*w.LogPerPush)
	// Subscription lookups (one Query per topic, half a unit each) and the
	// functions' and mutations' reads.
	rru := n * (w.Changes*w.Topics*0.5 + w.Deliveries*w.Reads + w.Mutations)
	// SQS: EventBridge sends each delivery, the mapping receives and
	// deletes it in batches.
	sqsRequests := n * w.Deliveries * (1 + 2/queueBatch)
	lines := []CostLine{
		{"Lambda", fmt.Sprintf("%.1f M requests", inv/1e6), inv * pr.LambdaRequest, SrcLambdaPricing},
		{"Lambda", fmt.Sprintf("%.0f GB-s on arm64", gb), gb * pr.LambdaGBSecond, SrcLambdaPricing},
		{"API Gateway", fmt.Sprintf("%.0f M HTTP API requests", n*w.Mutations/1e6), n * w.Mutations * pr.HTTPRequest, SrcAPIGatewayPricing},
		{"API Gateway", fmt.Sprintf("%.0f M WebSocket messages", n*(w.ClientMessages+w.Pushes()+w.ServerMessages)/1e6), n * (w.ClientMessages + w.Pushes() + w.ServerMessages) * pr.WSMessage, SrcAPIGatewayPricing},
		{"API Gateway", fmt.Sprintf("%.0f M connection minutes", n*w.ConnectedMinutes/1e6), n * w.ConnectedMinutes * pr.WSConnectionMin, SrcAPIGatewayPricing},
		{"DynamoDB", fmt.Sprintf("%.0f M write units (orders, idempotency, connections)", wru/1e6), wru * pr.WriteUnit, SrcDynamoDBPricing},
		{"DynamoDB", fmt.Sprintf("%.0f M write units (event log)", logWRU/1e6), logWRU * pr.WriteUnit, SrcEventLogCost},
		{"DynamoDB", fmt.Sprintf("%.0f M read units", rru/1e6), rru * pr.ReadUnit, SrcDynamoDBPricing},
		{"EventBridge", fmt.Sprintf("%.0f M events", n*w.Changes/1e6), n * w.Changes * pr.Event, SrcEventBridgePricing},
		{"SQS", fmt.Sprintf("%.1f M requests", sqsRequests/1e6), sqsRequests * pr.SQSRequest, SrcSQSPricing},
	}
	c := Cost{Lines: lines}
	for _, l := range lines {
		c.Total += l.Dollars
	}
	return c
}

// RouterShard is the change events a second one stream shard's router
// publishes with one parallelization slot: batches of batch records, each
// record taking perRecord of CPU, published in PutEvents calls of ten
// entries, concurrency calls in flight, each taking call.
func RouterShard(batch, concurrency int, call, perRecord time.Duration) float64 {
	calls := int(math.Ceil(float64(batch) / 10))
	rounds := int(math.Ceil(float64(calls) / float64(max(1, concurrency))))
	per := time.Duration(batch)*perRecord + time.Duration(rounds)*call
	return float64(batch) / per.Seconds()
}

// HotTopic is the time to push one change to n subscribers through a
// Management API that takes rate calls a second after a burst, when the
// workers could post capacity calls a second; the change is handed to the
// push queue in enqueue, and the last push takes post.
func HotTopic(n int, rate float64, burst int, capacity float64, enqueue, post time.Duration) time.Duration {
	through := math.Min(rate, capacity)
	rest := math.Max(0, float64(n-burst))
	if capacity < rate {
		rest = float64(n)
	}
	return enqueue + time.Duration(rest/through*float64(time.Second)) + post
}

// QuotaRequest is a limit raised so that a rate fits.
type QuotaRequest struct {
	Stage    string
	From, To float64
	Move     string
}

// Provisioned is m with every limit the rate would use beyond headroom
// (for example 0.7) raised to load/headroom, as the quota requests and
// settings it lists would: the deployment that runs ordersPerS. Stages
// bounded by a setting (a shard's readers) take the parallelization
// factor, up to 10.
func (m Model) Provisioned(ordersPerS, headroom float64) (Model, []QuotaRequest) {
	out := m
	var reqs []QuotaRequest
	for _, st := range m.at(ordersPerS).Stages {
		if st.Utilization <= headroom {
			continue
		}
		want := st.Load / headroom
		raise := func(f *float64) {
			reqs = append(reqs, QuotaRequest{st.Name, *f, math.Ceil(want), st.Move})
			*f = math.Ceil(want)
		}
		switch st.Name {
		case StageAPIGateway:
			raise(&out.Quotas.APIGatewayRPS)
		case StageConnects:
			raise(&out.Quotas.WebSocketConnectsPerS)
		case StageConcurrency:
			raise(&out.Quotas.LambdaConcurrency)
		case StageOrders, StageIdempotency, StageEventLog:
			if want > out.Quotas.TableWritesPerS {
				raise(&out.Quotas.TableWritesPerS)
			}
		case StagePutEvents:
			raise(&out.Quotas.PutEventsPerS)
		case StageInvocations:
			raise(&out.Quotas.InvocationsPerS)
		case StageMappings:
			raise(&out.Quotas.SQSMappingConcurrency)
		case StageRouter, StageFanOut:
			f := min(10, int(math.Ceil(float64(out.Settings.Parallelization)*st.Utilization/headroom)))
			if f > out.Settings.Parallelization {
				reqs = append(reqs, QuotaRequest{st.Name, float64(out.Settings.Parallelization), float64(f), st.Move})
				out.Settings.Parallelization = f
			}
		}
	}
	return out, reqs
}
