// Package lambda runs the app's deployment artifacts for real: each
// function's bootstrap, built as `make build` builds it (for the host),
// under AWS's runtime interface emulator, with exactly the environment
// the synthesized template gives it, signed with the keys of an IAM user
// that carries its execution role's statements on an emulator enforcing
// IAM, and invoked with the events of the triggers the template wires to
// it. `make test-lambda` runs it.
package lambda

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/coder/websocket"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/benchfig"
	"github.com/threefactor/framework/lib/cfn"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/devruntime"
	"github.com/threefactor/framework/lib/emulator"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/identity"
	"github.com/threefactor/framework/lib/identity/devissuer"
	"github.com/threefactor/framework/lib/lambdarun"
	"github.com/threefactor/framework/lib/realtime/localws"
	"github.com/threefactor/framework/lib/topology"
)

func TestMain(m *testing.M) {
	// The plain emulator (TestDevRunsBinaries) starts on first use; the
	// IAM-enforcing one is setup's.
	code := emulatortest.Main(m)
	benchfig.Print(os.Stdout)
	if shared != nil {
		shared.stop()
	}
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	os.Exit(code)
}

// fns are the functions of the run, started once by TestBinaries.
var fns = map[string]*lambdarun.Function{}

func (e *env) stop() {
	if e.stopRT != nil {
		e.stopRT()
		<-e.rtDone
	}
	if e.ws != nil {
		e.ws.Close()
	}
	for _, f := range fns {
		_ = f.Close()
	}
}

// start runs function name's binary under the runtime interface emulator
// with env as its environment, its user's keys and the proxy to the
// emulator as its endpoint.
func (e *env) start(ctx context.Context, name string, env map[string]string) (*lambdarun.Function, error) {
	sf := e.stack.Functions[name]
	return lambdarun.Start(ctx, lambdarun.Config{
		Name: name, Bootstrap: e.art.bootstrap[name], Emulator: e.art.emulator,
		Env: env, Region: emulator.Region, Credentials: e.users[name], Endpoint: e.proxy.URL(),
		Timeout: sf.Timeout, MemoryMB: sf.MemoryMB,
	})
}

// TestBinaries runs every function binary with its template's
// environment and permissions, wired to its triggers as the template
// wires it, then the reference workflow through them, then shows that a
// grant taken away fails the same run with AccessDenied naming the action.
func TestBinaries(t *testing.T) {
	t.Parallel()
	e := setup(t)
	t.Logf("setup: %s", strings.Join(e.timings, ", "))
	t.Logf("the emulator users' policies: moto checks resources only for SQS among the services the functions call, so for the others these statements' resources were widened to * (resource scoping stays the template tests'); iam:PassRole is left out (moto never checks it):\n  %s",
		strings.Join(e.widened, "\n  "))
	for _, n := range e.stack.Notes {
		t.Log(n)
	}

	t.Run("every Lambda of the app has a binary and a function in the template", func(t *testing.T) {
		want := fooddelivery.App.Lambdas()
		if got := sortedNames(e.stack.Functions); !slices.Equal(got, want) {
			t.Fatalf("template functions %v, want the app's Lambdas %v", got, want)
		}
		for _, name := range want {
			if _, err := os.Stat(e.art.bootstrap[name]); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			sf := e.stack.Functions[name]
			if len(sf.Mappings) == 0 && len(sf.APIs) == 0 {
				t.Errorf("%s: nothing in the template invokes it", name)
			}
		}
	})
	if t.Failed() {
		return
	}

	t.Run("start", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, name := range sortedNames(e.stack.Functions) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				env := e.stack.Functions[name].Env
				if name == topology.FanOutFunction {
					// A test-only variant of the template's environment:
					// a change with more than pushThreshold subscriptions
					// takes the push queue, so that a few sockets reach
					// the push worker's binary (testLargeAudience).
					env = clone(env)
					env[topology.EnvPushQueueThreshold] = strconv.Itoa(pushThreshold)
				}
				f, err := e.start(ctx, name, env)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Error(err)
					return
				}
				fns[name] = f
			}()
		}
		wg.Wait()
	})
	if t.Failed() {
		return
	}
	defer reportOutput(t)
	e.wire(t)

	t.Run("workflow", func(t *testing.T) { testWorkflow(t, e) })
	t.Run("a large audience is pushed by the push worker's binary", func(t *testing.T) { testLargeAudience(t, e) })
	t.Run("every binary answers its trigger's events", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, name := range sortedNames(fns) {
			f := fns[name]
			if f.ColdStart() == 0 {
				// A function the workflow does not reach: an (empty)
				// event of its first trigger.
				t.Logf("%s: not reached by the workflow; invoking it with an event of its trigger", name)
				if err := e.trigger(ctx, f); err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
			}
			// Its cold start: the emulator's start to that first answer.
			d := f.ColdStart()
			benchfig.Record("lambda_cold_start_ms_"+name, float64(d.Microseconds())/1000, "ms")
		}
	})
	t.Run("SQS batch answers name the failed messages", func(t *testing.T) { testBatchFailures(t, e) })
	t.Run("a grant taken away is AccessDenied naming the action", func(t *testing.T) {
		// A call the binary makes, and one its event source mapping makes
		// with the function's role.
		for _, tt := range []struct {
			function, action string
			// stuck: the order cannot move without the grant. A receive
			// already in flight when validateorder loses its grant may
			// still deliver the order's message.
			stuck bool
		}{
			{"router", "events:PutEvents", true},
			{"validateorder", "sqs:ReceiveMessage", false},
		} {
			t.Run(tt.function+" without "+tt.action, func(t *testing.T) { testMissingGrant(t, e, tt.function, tt.action, tt.stuck) })
		}
	})
}

// reportOutput prints the tail of each function's output when the test failed.
func reportOutput(t *testing.T) {
	if !t.Failed() {
		return
	}
	for _, name := range sortedNames(fns) {
		out := fns[name].Output()
		t.Logf("output of %s (last lines):\n%s", name, strings.Join(out[max(0, len(out)-40):], "\n"))
	}
}

// wire plays AWS's part as the template wires it, on the dev runtime:
// each event source mapping becomes a mapping that reads with the
// function's own keys (Lambda's mappings use the function's role), each
// HTTP API route a front door route, with the JWT authorizer (the local
// issuer's verifier) where the template has one, and the WebSocket API
// a front door at its stage's path with its Management API, which checks
// each call's signature with its caller's keys and its caller's
// statements as API Gateway does.
func (e *env) wire(t *testing.T) {
	t.Helper()
	rt := e.runtime
	verifier, err := identity.NewVerifier(e.issuer.VerifierConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range sortedNames(e.stack.Functions) {
		sf, f := e.stack.Functions[name], fns[name]
		read := devruntime.ReadWith(e.userConfig(t, name))
		for _, m := range sf.Mappings {
			switch {
			case m.Route != "":
				rt.QueueConsumer(m.Route, f.SQS, read)
			case m.Push:
				rt.PushConsumer(f.SQS, read)
			case m.Table != "":
				rt.StreamReader(name+"-"+m.Table, m.Table, f.DynamoDBStream, read)
			}
		}
		for _, api := range sf.APIs {
			switch api.Protocol {
			case "HTTP":
				// The front door serves a path for every method: its
				// routes' authorization must agree.
				auth := map[string]string{}
				for key, a := range api.Routes {
					_, path, _ := strings.Cut(key, " ")
					if prev, ok := auth[path]; ok && prev != a {
						t.Fatalf("%s: the routes of %s differ in authorization (%s, %s)", name, path, prev, a)
					}
					auth[path] = a
				}
				for _, path := range sortedNames(auth) {
					var authorizer devruntime.Authorizer
					switch auth[path] {
					case "JWT":
						authorizer = verifier
					case "NONE":
					default:
						t.Fatalf("%s: %s: authorization %s", name, path, auth[path])
					}
					rt.HandleHTTPAPI(path, f.HTTPAPI, authorizer)
				}
			case "WEBSOCKET":
				ws, err := localws.New(localws.Config{
					Handler: f.WebSocketAPI, Stage: api.Stage, Logger: slog.New(slog.DiscardHandler),
					Credentials: e.access.ManagementCredentials(), Region: emulator.Region,
				})
				if err != nil {
					t.Fatal(err)
				}
				e.ws = ws
				rt.HandleWebSocket("/"+api.Stage, ws)
				rt.Handle("/"+api.Stage+"/@connections/", e.access.AuthorizeManagement(ws.Management(), emulator.Region, emulator.AccountID, api.ID, api.Stage))
			default:
				t.Fatalf("%s: API protocol %q", name, api.Protocol)
			}
		}
	}
	token, err := e.issuer.Mint(devissuer.Options{Subject: "customer-1"})
	if err != nil {
		t.Fatal(err)
	}
	e.gql = &gqlClient{url: rt.URL() + topology.GraphQLPath, token: token}
}

type motoSchedule struct {
	Name      string `json:"name"`
	GroupName string `json:"group_name"`
	Target    struct {
		Arn string `json:"Arn"`
	} `json:"target"`
}

// motoSchedules are the EventBridge Scheduler schedules the emulator
// holds, from moto's model (/moto-api/data.json).
func (e *env) motoSchedules(t *testing.T) []motoSchedule {
	t.Helper()
	resp, err := http.Get(e.moto.Endpoint() + "/moto-api/data.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var data struct {
		Scheduler struct {
			Schedule []motoSchedule `json:"Schedule"`
		} `json:"scheduler"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&data); err != nil {
		t.Fatalf("moto's model: %v", err)
	}
	return data.Scheduler.Schedule
}

// wsStage is the stage of the template's WebSocket API.
func (e *env) wsStage() string {
	for _, sf := range e.stack.Functions {
		for _, api := range sf.APIs {
			if api.Protocol == "WEBSOCKET" {
				return api.Stage
			}
		}
	}
	return ""
}

// protected reports whether the template protects the HTTP API route key
// with a JWT authorizer.
func (e *env) protected(route string) bool {
	for _, sf := range e.stack.Functions {
		for _, api := range sf.APIs {
			if api.Protocol == "HTTP" && api.Routes[route] == "JWT" {
				return true
			}
		}
	}
	return false
}

// gqlClient runs GraphQL operations over HTTP.
type gqlClient struct {
	url string
	// token, when set, is sent as a bearer token.
	token string
}

func (c *gqlClient) do(ctx context.Context, query string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r struct {
		Data   json.RawMessage
		Errors []struct {
			Message    string
			Extensions struct{ Code string }
		}
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("%s (%s)", r.Errors[0].Message, r.Errors[0].Extensions.Code)
	}
	if len(r.Data) == 0 {
		return fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return json.Unmarshal(r.Data, out)
}

type order struct {
	ID         string
	Status     string
	TotalCents int
	Payments   []struct {
		ID          string
		AmountCents int
	}
	DriverID *string
	Reason   *string
}

const orderFields = `id status totalCents payments { id amountCents } driverId reason`

// placeOrder orders two margheritas and a tiramisu.
func (c *gqlClient) placeOrder(ctx context.Context) (order, error) {
	var out struct{ PlaceOrder order }
	err := c.do(ctx, `mutation($in: PlaceOrderInput!) { placeOrder(input: $in) { `+orderFields+` } }`,
		map[string]any{"in": map[string]any{"restaurantId": "r-pizza", "items": []any{
			map[string]any{"menuItemId": "margherita", "quantity": 2}, map[string]any{"menuItemId": "tiramisu", "quantity": 1},
		}}}, &out)
	return out.PlaceOrder, err
}

func (c *gqlClient) payOrder(ctx context.Context, id string, amount int) error {
	var out struct{ PayOrder order }
	return c.do(ctx, `mutation($in: PayOrderInput!) { payOrder(input: $in) { id status } }`,
		map[string]any{"in": map[string]any{"orderId": id, "amountCents": amount}}, &out)
}

func (c *gqlClient) order(ctx context.Context, id string) (order, error) {
	var out struct{ Order *order }
	if err := c.do(ctx, `query($id: ID!) { order(id: $id) { `+orderFields+` } }`, map[string]any{"id": id}, &out); err != nil {
		return order{}, err
	}
	if out.Order == nil {
		return order{}, fmt.Errorf("order %s not found", id)
	}
	return *out.Order, nil
}

// waitFor polls order(id) until it is in status want. It gives up at once
// when refused reports a refused call (the run cannot complete) or the
// order reached a status it cannot leave; the deadline only guards
// against a hang.
func (c *gqlClient) waitFor(ctx context.Context, id, want string, refused func() error) (order, error) {
	terminal := map[string]bool{"REJECTED": true, "PAYMENT_FAILED": true, "DRIVER_ASSIGNED": true}
	for {
		if refused != nil {
			if err := refused(); err != nil {
				return order{}, err
			}
		}
		o, err := c.order(ctx, id)
		if err != nil {
			return o, err
		}
		if o.Status == want {
			return o, nil
		}
		if terminal[o.Status] {
			return o, fmt.Errorf("order %s is %s (%v), want %s", id, o.Status, o.Reason, want)
		}
		select {
		case <-ctx.Done():
			return o, fmt.Errorf("order %s still %s, want %s: %w", id, o.Status, want, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// orderToDelivery places an order, waits for its validation, pays the
// total twice at once (a double-tapping client) and waits for a driver;
// watch, when set, runs once the order exists.
func (c *gqlClient) orderToDelivery(ctx context.Context, refused func() error, watch func(id string)) (order, error) {
	o, err := c.placeOrder(ctx)
	if err != nil {
		return o, fmt.Errorf("placeOrder: %w", err)
	}
	if o.Status != "PLACED" {
		return o, fmt.Errorf("placed order is %s", o.Status)
	}
	if watch != nil {
		watch(o.ID)
	}
	if o, err = c.waitFor(ctx, o.ID, "VALIDATED", refused); err != nil {
		return o, err
	}
	if o.TotalCents != 2*900+550 {
		return o, fmt.Errorf("total %d, want %d", o.TotalCents, 2*900+550)
	}
	var wg sync.WaitGroup
	payErrs := make([]error, 2)
	for i := range payErrs {
		wg.Add(1)
		go func() { defer wg.Done(); payErrs[i] = c.payOrder(ctx, o.ID, o.TotalCents) }()
	}
	wg.Wait()
	for _, err := range payErrs {
		if err != nil {
			return o, fmt.Errorf("payOrder: %w", err)
		}
	}
	return c.waitFor(ctx, o.ID, "DRIVER_ASSIGNED", refused)
}

func checkDelivered(t *testing.T, o order) {
	t.Helper()
	if o.Status != "DRIVER_ASSIGNED" || len(o.Payments) != 1 || o.Payments[0].AmountCents != o.TotalCents || o.DriverID == nil || *o.DriverID == "" {
		t.Errorf("order %s: %+v; want DRIVER_ASSIGNED with exactly one payment of the total and a driver", o.ID, o)
	}
}

// testWorkflow places an order over the graphql binary while a WebSocket
// client (the realtime binary behind the front door) watches it; the
// router binary turns the stream into events, each step's binary handles
// its queue, the fan-out binary pushes each change through the Management
// API. The order ends DRIVER_ASSIGNED with exactly one payment, although
// the client pays twice at once, and no call was refused.
func testWorkflow(t *testing.T, e *env) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if e.protected("POST /graphql") {
		// The template puts the JWT authorizer in front of the route: a
		// request without a token never reaches the function.
		anonymous := &gqlClient{url: e.gql.url}
		if _, err := anonymous.order(ctx, "ord_x"); err == nil || !strings.Contains(err.Error(), "status 401") {
			t.Errorf("a request without a token: %v, want API Gateway's 401", err)
		}
	}
	ws := dialWS(ctx, t, "ws"+strings.TrimPrefix(e.runtime.URL(), "http")+"/"+e.wsStage(), e.gql.token)
	o, err := e.gql.orderToDelivery(ctx, e.access.Err, func(id string) {
		ws.subscribe(t, "1", `subscription($id: ID!) { orderUpdated(id: $id) { id status } }`, map[string]any{"id": id})
	})
	if err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, o)
	// The realtime binary scheduled the close of the connection at its
	// token's expiry, with its own grant, in the stack's schedule group.
	// (Read from moto's own model: under IAM enforcement moto refuses
	// every signed GET of the Scheduler API, even the administrator's.)
	schedules := e.motoSchedules(t)
	for _, id := range e.tpl.tmpl.OfType(cfn.TypeScheduleGroup) {
		group, _ := e.tpl.tmpl.Resources[id].Properties["Name"].(string)
		found := false
		for _, s := range schedules {
			found = found || (s.GroupName == group && strings.HasSuffix(s.Target.Arn, ":function:"+topology.RealtimeFunction))
		}
		if !found {
			t.Errorf("no schedule in %s invoking the realtime function after a connection_init; the emulator holds %+v", group, schedules)
		}
	}
	seen := ws.awaitStatus(ctx, t, "1", "DRIVER_ASSIGNED")
	t.Logf("pushed to the subscriber: %v", seen)
	ws.close(t)
	if err := e.access.Err(); err != nil {
		t.Errorf("calls refused during the workflow: %v", err)
	}
}

// pushThreshold is the fan-out binary's push-queue threshold in this run:
// the workflow's one subscription is pushed from the stream, the three of
// testLargeAudience through the push queue.
const pushThreshold = 2

// lifecycle ranks an order's statuses in the order the workflow makes them.
var lifecycle = map[string]int{"PLACED": 0, "VALIDATED": 1, "PAID": 2, "APPROVED": 3, "DRIVER_ASSIGNED": 4}

// testLargeAudience watches an order with more subscriptions than the
// fan-out's threshold, on two connections: the fan-out binary hands each
// change to the push queue (FIFO, grouped by connection) and the push
// worker's binary, invoked by the queue's event source mapping with its
// own keys, posts them through the Management API with its own grant.
// Every subscription sees the order reach DRIVER_ASSIGNED, its statuses in
// commit order.
func testLargeAudience(t *testing.T, e *env) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url := "ws" + strings.TrimPrefix(e.runtime.URL(), "http") + "/" + e.wsStage()
	a, b := dialWS(ctx, t, url, e.gql.token), dialWS(ctx, t, url, e.gql.token)
	const q = `subscription($id: ID!) { orderUpdated(id: $id) { id status } }`
	subs := []struct {
		ws *wsClient
		id string
	}{{a, "a1"}, {a, "a2"}, {b, "b1"}}
	if len(subs) <= pushThreshold {
		t.Fatalf("%d subscriptions do not exceed the threshold %d", len(subs), pushThreshold)
	}
	o, err := e.gql.orderToDelivery(ctx, e.access.Err, func(id string) {
		for _, s := range subs {
			s.ws.subscribe(t, s.id, q, map[string]any{"id": id})
		}
		// orderUpdated starts with a snapshot, sent as its catch-up ends:
		// once each has it, the three are live, and the payment's
		// changes go to all three through the push queue.
		for _, s := range subs {
			s.ws.await(t, "the snapshot of "+s.id, func(m map[string]any) bool { return m["id"] == s.id && m["type"] == "next" })
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, o)
	for _, s := range subs {
		seen := s.ws.awaitStatus(ctx, t, s.id, "DRIVER_ASSIGNED")
		for i := 1; i < len(seen); i++ {
			if lifecycle[seen[i]] < lifecycle[seen[i-1]] {
				t.Errorf("subscription %s saw %v: not in commit order", s.id, seen)
			}
		}
		t.Logf("subscription %s: %v", s.id, seen)
	}
	a.close(t)
	b.close(t)
	if fns[topology.PushFunction].ColdStart() == 0 {
		t.Errorf("the push worker's binary was never invoked; the fan-out's output:\n%s", strings.Join(fns[topology.FanOutFunction].Output(), "\n"))
	}
	if err := e.access.Err(); err != nil {
		t.Errorf("calls refused: %v", err)
	}
}

// testBatchFailures invokes process-payment's binary with an SQS batch of
// two messages: a change event whose charge fails transiently (the
// provider set to always fail, a test-only variant of the template's
// environment) and a body that is no change event at all. The answer
// names the first for redelivery; the second, which no retry can fix,
// went to the route's dead-letter queue with the function's own keys.
func testBatchFailures(t *testing.T, e *env) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const name = "processpayment"
	env := clone(e.stack.Functions[name].Env)
	env["PAYMENT_FAILURE_RATE"] = "1"
	f, err := e.start(ctx, name, env)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	// An order waiting for its payment, written directly: as an INSERT of
	// a VALIDATED order it matches no route.
	now := time.Now().UTC().Format(time.RFC3339Nano)
	o := orders.Order{
		ID: "ord_batchfailures", Status: orders.Validated, RestaurantID: "r-pizza", TotalCents: 1000,
		Items:         []orders.Item{{MenuItemID: "margherita", Quantity: 1}},
		PaymentIntent: &orders.PaymentIntent{ID: "pi_batchfailures", AmountCents: 1000, CreatedAt: now},
		Payments:      []orders.Payment{}, CreatedAt: now, UpdatedAt: now,
	}
	item, err := attributevalue.MarshalMap(o)
	if err != nil {
		t.Fatal(err)
	}
	table := e.res.Tables[fooddelivery.Orders].Name
	if _, err := dynamodb.NewFromConfig(e.admin).PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatal(err)
	}
	image, _ := json.Marshal(o)
	detail, err := change.Event{
		ID: "batchfailures-1", Table: fooddelivery.Orders, Operation: topology.Modify,
		Keys: json.RawMessage(`{"id":"` + o.ID + `"}`), New: image, Changed: []string{"paymentIntent"},
		SequenceNumber: "1", ApproximateAt: time.Now(),
	}.Detail()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{
		"version": "0", "id": "batchfailures-envelope", "detail-type": topology.DetailType,
		"source": fooddelivery.App.Topology().EventSource(), "time": now, "region": emulator.Region,
		"resources": []string{}, "detail": json.RawMessage(detail),
	})
	route := e.res.Routes["process-payment"]
	ev := events.SQSEvent{Records: []events.SQSMessage{
		sqsRecord("msg-transient", string(body), route.QueueARN),
		sqsRecord("msg-poison", "this is not a change event", route.QueueARN),
	}}
	resp, err := f.SQS(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, item := range resp.BatchItemFailures {
		failed = append(failed, item.ItemIdentifier)
	}
	if !slices.Equal(failed, []string{"msg-transient"}) {
		t.Errorf("batch item failures %v, want [msg-transient] (the provider failed it transiently; the poison message went to the DLQ)", failed)
	}
	q := sqs.NewFromConfig(e.admin)
	var bodies []string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !slices.Contains(bodies, "this is not a change event"); {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(route.DLQURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
		}
	}
	if !slices.Contains(bodies, "this is not a change event") {
		t.Errorf("dead-letter queue of process-payment holds %q, want the poison message", bodies)
	}
	if err := e.access.Err(); err != nil {
		t.Errorf("calls refused: %v", err)
	}
}

func sqsRecord(id, body, queueARN string) events.SQSMessage {
	return events.SQSMessage{
		MessageId: id, ReceiptHandle: "rh-" + id, Body: body, EventSource: "aws:sqs", EventSourceARN: queueARN, AWSRegion: emulator.Region,
		Attributes: map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": fmt.Sprint(time.Now().UnixMilli())},
	}
}

// testMissingGrant takes the statement allowing action away from the
// user of function name, as a template lacking that grant would, and
// places an order: the function (or its mapping) is refused, the refusal
// names the function and the action, and (stuck) the order stays PLACED.
// Given the grant back, the mapping's retry carries the order on: the
// grant was all that was missing.
func testMissingGrant(t *testing.T, e *env, name, action string, stuck bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sf := e.stack.Functions[name]
	var kept, removed []lambdarun.Statement
	for _, s := range sf.Statements {
		if slices.Contains(s.Action, action) {
			removed = append(removed, s)
		} else {
			kept = append(kept, s)
		}
	}
	if len(removed) == 0 {
		t.Fatalf("no statement of %s's role grants %s", name, action)
	}
	// What the removed statements allowed, as the emulator names it.
	doc, _, err := lambdarun.EmulatorPolicy(removed)
	if err != nil {
		t.Fatal(err)
	}
	setPolicy := func(stmts []lambdarun.Statement) {
		t.Helper()
		doc, _, err := lambdarun.EmulatorPolicy(stmts)
		if err != nil {
			t.Fatal(err)
		}
		if err := emulator.PutUserPolicy(ctx, e.admin, userName(name), rolePolicy, doc); err != nil {
			t.Fatal(err)
		}
	}
	setPolicy(kept)
	restored := false
	defer func() {
		if !restored {
			setPolicy(sf.Statements)
		}
	}()
	before := len(e.access.Denials())

	o, err := e.gql.placeOrder(ctx)
	if err != nil {
		t.Fatalf("placeOrder: %v", err)
	}
	// The refusal of action; before it, the function may be refused other
	// actions of the statements it lost (a call in flight), nothing else.
	var denial lambdarun.Denial
	for seen := before; denial.Action != action; {
		ds := e.access.Denials()
		for ; seen < len(ds) && denial.Action != action; seen++ {
			denial = ds[seen]
			t.Logf("refused: %v", denial)
			if denial.Principal != name || !strings.Contains(doc, `"`+denial.Action+`"`) {
				t.Fatalf("refused %s to %s, want only what %s lost (%s)", denial.Action, denial.Principal, name, doc)
			}
		}
		if denial.Action == action {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s was never refused %s after losing it", name, action)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if now, err := e.gql.order(ctx, o.ID); stuck && (err != nil || now.Status != "PLACED") {
		t.Errorf("order is %s (%v) without %s's grant, want PLACED", now.Status, err, name)
	}

	setPolicy(sf.Statements)
	restored = true
	n := len(e.access.Denials())
	ctx2, cancel2 := context.WithTimeout(ctx, time.Minute)
	defer cancel2()
	if _, err := e.gql.waitFor(ctx2, o.ID, "VALIDATED", nil); err != nil {
		t.Fatalf("after the grant came back: %v", err)
	}
	// Calls made just before the policy changed back may still be refused
	// what the statements allowed; nothing else is.
	for _, d := range e.access.Denials()[n:] {
		if d.Principal != name || !strings.Contains(doc, `"`+d.Action+`"`) {
			t.Errorf("refused after the grant came back: %v", d)
		}
	}
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// wsClient is a graphql-transport-ws client.
type wsClient struct {
	c   *websocket.Conn
	ctx context.Context
	mu  sync.Mutex
	in  []map[string]any
	got chan struct{}
}

// dialWS connects and initializes with token, as connection_init carries
// it on the WebSocket API.
func dialWS(ctx context.Context, t *testing.T, url, token string) *wsClient {
	t.Helper()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatalf("WebSocket %s: %v", url, err)
	}
	w := &wsClient{c: c, ctx: ctx, got: make(chan struct{}, 1)}
	go w.read()
	w.send(t, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}})
	w.await(t, "connection_ack", func(m map[string]any) bool { return m["type"] == "connection_ack" })
	return w
}

func (w *wsClient) read() {
	for {
		_, b, err := w.c.Read(context.Background())
		if err != nil {
			return
		}
		var m map[string]any
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		w.mu.Lock()
		w.in = append(w.in, m)
		w.mu.Unlock()
		select {
		case w.got <- struct{}{}:
		default:
		}
	}
}

func (w *wsClient) send(t *testing.T, m map[string]any) {
	t.Helper()
	b, _ := json.Marshal(m)
	if err := w.c.Write(w.ctx, websocket.MessageText, b); err != nil {
		t.Fatalf("WebSocket write: %v", err)
	}
}

func (w *wsClient) subscribe(t *testing.T, id, query string, vars map[string]any) {
	t.Helper()
	w.send(t, map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": query, "variables": vars}})
}

// await waits for a message matching match; the deadline only guards
// against a hang.
func (w *wsClient) await(t *testing.T, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	for i := 0; ; {
		w.mu.Lock()
		for ; i < len(w.in); i++ {
			if match(w.in[i]) {
				m := w.in[i]
				w.mu.Unlock()
				return m
			}
		}
		w.mu.Unlock()
		select {
		case <-w.got:
		case <-time.After(100 * time.Millisecond):
		case <-w.ctx.Done():
			t.Fatalf("WebSocket: no %s; received %v", what, w.messages())
		}
	}
}

func (w *wsClient) messages() []map[string]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]map[string]any(nil), w.in...)
}

// awaitStatus waits for a push of subscription id with the order in
// status, and returns the statuses pushed until then.
func (w *wsClient) awaitStatus(ctx context.Context, t *testing.T, id, status string) []string {
	t.Helper()
	w.await(t, "a push of "+status, func(m map[string]any) bool {
		return m["id"] == id && m["type"] == "next" && pushedStatus(m) == status
	})
	var seen []string
	for _, m := range w.messages() {
		if m["id"] == id && m["type"] == "next" {
			seen = append(seen, pushedStatus(m))
		}
	}
	return seen
}

func pushedStatus(m map[string]any) string {
	p, _ := m["payload"].(map[string]any)
	d, _ := p["data"].(map[string]any)
	o, _ := d["orderUpdated"].(map[string]any)
	s, _ := o["status"].(string)
	return s
}

func (w *wsClient) close(t *testing.T) {
	t.Helper()
	if err := w.c.Close(websocket.StatusNormalClosure, "done"); err != nil {
		t.Logf("WebSocket close: %v", err)
	}
}
