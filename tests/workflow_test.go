package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/benchfig"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/identity/devissuer"
	"github.com/threefactor/framework/tests/harness"
)

func TestMain(m *testing.M) {
	code := emulatortest.Main(m)
	benchfig.Print(os.Stdout)
	os.Exit(code)
}

// devStack is a running `dev` process (what `make dev` runs) on the
// test's emulator.
type devStack struct {
	*harness.Dev
	url string // http://127.0.0.1:PORT/graphql
	log string
	// token is alice's, from the process's issuer: every request sends it.
	token string
}

// startDev starts the dev process with extra environment and waits until
// it serves; it is stopped when t ends. Only one runs at a time: they
// share the emulator's resources.
func startDev(t testing.TB, env ...string) *devStack {
	t.Helper()
	d := harness.StartDev(t, harness.FreeAddr(t), env...)
	return &devStack{Dev: d, url: "http://" + d.Addr + "/graphql", log: d.Log, token: d.Token(t, devissuer.Options{})}
}

type gqlError struct {
	Message    string
	Extensions struct{ Code string }
}

// do runs one GraphQL operation over HTTP as alice and decodes data into
// out.
func (s *devStack) do(ctx context.Context, query string, vars map[string]any, out any) error {
	return s.doAs(ctx, s.token, query, vars, out)
}

// doAs runs one GraphQL operation over HTTP with token and decodes data
// into out; the first GraphQL error is the error.
func (s *devStack) doAs(ctx context.Context, token, query string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r struct {
		Data   json.RawMessage
		Errors []gqlError
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("%s (%s)", r.Errors[0].Message, r.Errors[0].Extensions.Code)
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

const orderSelection = `id status totalCents payments { id amountCents } driverId reason`

func (s *devStack) placeOrder(ctx context.Context, restaurant string, items ...map[string]any) (order, error) {
	var out struct{ PlaceOrder order }
	err := s.do(ctx, `mutation($in: PlaceOrderInput!) { placeOrder(input: $in) { `+orderSelection+` } }`,
		map[string]any{"in": map[string]any{"restaurantId": restaurant, "items": items}}, &out)
	return out.PlaceOrder, err
}

func (s *devStack) payOrder(ctx context.Context, id string, amount int) (order, error) {
	var out struct{ PayOrder order }
	err := s.do(ctx, `mutation($in: PayOrderInput!) { payOrder(input: $in) { `+orderSelection+` } }`,
		map[string]any{"in": map[string]any{"orderId": id, "amountCents": amount}}, &out)
	return out.PayOrder, err
}

func (s *devStack) order(ctx context.Context, id string) (order, error) {
	var out struct{ Order *order }
	if err := s.do(ctx, `query($id: ID!) { order(id: $id) { `+orderSelection+` } }`, map[string]any{"id": id}, &out); err != nil {
		return order{}, err
	}
	if out.Order == nil {
		return order{}, fmt.Errorf("order %s not found", id)
	}
	return *out.Order, nil
}

// terminal statuses: an order in one of them moves no further.
var terminal = map[string]bool{"REJECTED": true, "PAYMENT_FAILED": true, "DRIVER_ASSIGNED": true}

// waitFor polls order(id) until it is in status want, or fails when it
// reaches another status it cannot leave. The deadline only guards
// against a hang; no assertion is about speed.
func (s *devStack) waitFor(ctx context.Context, id, want string) (order, error) {
	for {
		o, err := s.order(ctx, id)
		if err != nil {
			return o, err
		}
		if o.Status == want {
			return o, nil
		}
		if terminal[o.Status] || (want == "VALIDATED" && o.Status != "PLACED") {
			return o, fmt.Errorf("order %s is %s (reason %v), want %s", id, o.Status, deref(o.Reason), want)
		}
		select {
		case <-ctx.Done():
			return o, fmt.Errorf("order %s still %s, want %s: %w", id, o.Status, want, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func item(id string, qty int) map[string]any {
	return map[string]any{"menuItemId": id, "quantity": qty}
}

// orderToDelivery places an order of two margheritas and a tiramisu, waits
// for validation, pays the total (twice at once, as a double-tapping
// client would), and waits for a driver.
func orderToDelivery(ctx context.Context, s *devStack) (order, error) {
	o, err := s.placeOrder(ctx, "r-pizza", item("margherita", 2), item("tiramisu", 1))
	if err != nil {
		return o, fmt.Errorf("place: %w", err)
	}
	if o.Status != "PLACED" {
		return o, fmt.Errorf("placed order is %s", o.Status)
	}
	if o, err = s.waitFor(ctx, o.ID, "VALIDATED"); err != nil {
		return o, err
	}
	if o.TotalCents != 2*900+550 {
		return o, fmt.Errorf("total %d, want %d", o.TotalCents, 2*900+550)
	}
	var wg sync.WaitGroup
	payErrs := make([]error, 2)
	for i := range payErrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, payErrs[i] = s.payOrder(ctx, o.ID, o.TotalCents)
		}()
	}
	wg.Wait()
	for _, err := range payErrs {
		if err != nil {
			return o, fmt.Errorf("pay: %w", err)
		}
	}
	return s.waitFor(ctx, o.ID, "DRIVER_ASSIGNED")
}

func checkDelivered(t *testing.T, o order) {
	t.Helper()
	if o.Status != "DRIVER_ASSIGNED" || len(o.Payments) != 1 || o.Payments[0].AmountCents != o.TotalCents ||
		o.DriverID == nil || *o.DriverID == "" {
		t.Errorf("order %s: %+v; want DRIVER_ASSIGNED with exactly one payment of the total and a driver", o.ID, o)
	}
}

// deliverAll places n orders at once and drives them all to delivery the
// way n clients would, but with one poller: it sweeps the orders still on
// their way, pays each once it is VALIDATED, and stops when every order
// has reached an end. Polling one order at a time keeps the load on the
// emulator from the test itself small.
func deliverAll(ctx context.Context, t *testing.T, s *devStack, n int) []order {
	t.Helper()
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var o order
			o, errs[i] = s.placeOrder(ctx, "r-pizza", item("margherita", 2), item("tiramisu", 1))
			ids[i] = o.ID
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("place order %d: %v", i, err)
		}
	}
	done := map[string]order{}
	paid := map[string]bool{}
	for len(done) < n {
		for _, id := range ids {
			if _, ok := done[id]; ok {
				continue
			}
			o, err := s.order(ctx, id)
			if err != nil {
				t.Fatalf("order %s: %v", id, err)
			}
			switch {
			case o.Status == "VALIDATED" && !paid[id]:
				if _, err := s.payOrder(ctx, id, o.TotalCents); err != nil {
					t.Fatalf("pay %s: %v", id, err)
				}
				paid[id] = true
			case terminal[o.Status]:
				done[id] = o
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d orders reached an end: %v", len(done), n, ctx.Err())
		case <-time.After(300 * time.Millisecond):
		}
	}
	out := make([]order, 0, n)
	for _, id := range ids {
		out = append(out, done[id])
	}
	return out
}

// chargesPerOrder counts the provider ledger's captured charges per order:
// what was actually taken from the client, recorded or not.
// causedBy is the subject the order item records as its last writer's.
func causedBy(t *testing.T, id string) string {
	t.Helper()
	return storedOrder(t, id).CausedBy
}

// storedOrder is the order item as the table holds it.
func storedOrder(t *testing.T, id string) orders.Order {
	t.Helper()
	o, err := orders.NewStore(dynamodb.NewFromConfig(emulatortest.Config(t)), orders.Tables{
		Orders: fooddelivery.App.Topology().TableName(fooddelivery.Orders),
	}).Order(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// chargesPerOrder counts the provider ledger's charges per order on the
// package's emulator.
func chargesPerOrder(t *testing.T) map[string]int {
	t.Helper()
	return chargesOf(t, emulatortest.Config(t))
}

// checkSeeded asserts the dev process seeded the two demo restaurants,
// once: the workflow tests start dev more than once on one emulator.
func checkSeeded(t *testing.T, s *devStack) {
	t.Helper()
	var out struct {
		Restaurants []struct {
			ID   string
			Menu []struct{ ID string }
		}
	}
	if err := s.do(context.Background(), `{ restaurants { id menu { id } } }`, nil, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Restaurants) != 2 || out.Restaurants[0].ID != "r-pizza" || out.Restaurants[1].ID != "r-sushi" || len(out.Restaurants[0].Menu) == 0 {
		t.Fatalf("restaurants %+v, want r-pizza and r-sushi with menus", out.Restaurants)
	}
}

func TestWorkflow(t *testing.T) {
	s := startDev(t)
	checkSeeded(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	t.Run("order to delivery", func(t *testing.T) {
		o, err := orderToDelivery(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		checkDelivered(t, o)
		if n := chargesPerOrder(t)[o.ID]; n != 1 {
			t.Fatalf("provider captured %d charges for %s, want 1", n, o.ID)
		}
	})

	t.Run("wrong amount fails the payment", func(t *testing.T) {
		o, err := s.placeOrder(ctx, "r-sushi", item("miso-soup", 1))
		if err != nil {
			t.Fatal(err)
		}
		if o, err = s.waitFor(ctx, o.ID, "VALIDATED"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.payOrder(ctx, o.ID, o.TotalCents-1); err != nil {
			t.Fatal(err)
		}
		o, err = s.waitFor(ctx, o.ID, "PAYMENT_FAILED")
		if err != nil {
			t.Fatal(err)
		}
		if len(o.Payments) != 0 || !strings.Contains(deref(o.Reason), "does not match the order total") {
			t.Fatalf("failed order %+v: want no payment and a reason", o)
		}
		if n := chargesPerOrder(t)[o.ID]; n != 0 {
			t.Fatalf("declined order was charged %d times", n)
		}
	})

	t.Run("bad item is rejected", func(t *testing.T) {
		o, err := s.placeOrder(ctx, "r-sushi", item("miso-soup", 1), item("margherita", 1))
		if err != nil {
			t.Fatal(err)
		}
		o, err = s.waitFor(ctx, o.ID, "REJECTED")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(deref(o.Reason), `"margherita" is not on the menu`) || o.TotalCents != 0 {
			t.Fatalf("rejected order %+v", o)
		}
		if _, err := s.payOrder(ctx, o.ID, 300); err == nil || !strings.Contains(err.Error(), "FAILED_PRECONDITION") {
			t.Fatalf("paying a rejected order: err = %v, want FAILED_PRECONDITION", err)
		}
	})

	t.Run("every write records who caused it", func(t *testing.T) {
		// Each customer's order records them from the placement through
		// every step its changes cause (the steps run in their causal
		// chain). Bob's attempt to pay alice's order writes nothing: to
		// him it does not exist.
		bob := s.as(s.Token(t, devissuer.Options{Subject: "bob"}))
		for _, c := range []struct {
			who     *devStack
			subject string
		}{{s, "alice"}, {bob, "bob"}} {
			o, err := c.who.placeOrder(ctx, "r-pizza", item("margherita", 1))
			if err != nil {
				t.Fatal(err)
			}
			if o, err = c.who.waitFor(ctx, o.ID, "VALIDATED"); err != nil {
				t.Fatal(err)
			}
			if got := causedBy(t, o.ID); got != c.subject {
				t.Fatalf("validated order: causedBy %q, want %s", got, c.subject)
			}
			if c.subject == "alice" {
				if _, err := bob.payOrder(ctx, o.ID, o.TotalCents); err == nil || !strings.Contains(err.Error(), "NOT_FOUND") {
					t.Fatalf("bob paying alice's order: err = %v, want NOT_FOUND", err)
				}
				if got := storedOrder(t, o.ID); got.PaymentIntent != nil || got.CausedBy != "alice" {
					t.Fatalf("bob's payOrder wrote alice's order: %+v", got)
				}
			}
			if _, err := c.who.payOrder(ctx, o.ID, o.TotalCents); err != nil {
				t.Fatal(err)
			}
			if _, err := c.who.waitFor(ctx, o.ID, "DRIVER_ASSIGNED"); err != nil {
				t.Fatal(err)
			}
			if got := causedBy(t, o.ID); got != c.subject {
				t.Fatalf("delivered order: causedBy %q, want %s", got, c.subject)
			}
		}
	})

	t.Run("100 concurrent orders", func(t *testing.T) {
		results := deliverAll(ctx, t, s, 100)
		charges := chargesPerOrder(t)
		for _, o := range results {
			checkDelivered(t, o)
			if c := charges[o.ID]; c != 1 {
				t.Errorf("order %s: provider captured %d charges, want 1", o.ID, c)
			}
		}
	})

	// Nothing in that run was the user's code going wrong: the dev
	// runtime printed no warning, the SDK's least of all.
	checkNoWarnings(t, s.Output(t))
}

// With the provider failing half the time (before or after capturing),
// every order is still paid exactly once.
func TestWorkflowFlakyProvider(t *testing.T) {
	s := startDev(t, "PAYMENT_FAILURE_RATE=0.5")
	checkSeeded(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	// 20 orders: the chance that the provider never fails once is 2^-20.
	const n = 20
	results := make([]order, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = orderToDelivery(ctx, s)
		}()
	}
	wg.Wait()
	charges := chargesPerOrder(t)
	for i := range results {
		if errs[i] != nil {
			t.Errorf("order %d: %v", i, errs[i])
			continue
		}
		checkDelivered(t, results[i])
		if c := charges[results[i].ID]; c != 1 {
			t.Errorf("order %s: provider captured %d charges, want 1", results[i].ID, c)
		}
	}
	// The provider did fail, and the failures were retried.
	b, err := os.ReadFile(s.log)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("provider unavailable; will retry")); n == 0 {
		t.Fatal("the provider never failed: the test proved nothing about retries")
	} else {
		t.Logf("%d transient provider failures retried", n)
	}
}

// An invalid PAYMENT_FAILURE_RATE stops the dev process at startup with a
// message that names it.
func TestInvalidFailureRate(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(harness.DevBinary(t), "-state-dir", filepath.Join(dir, "state"))
	cmd.Env = append(os.Environ(), "DEV_ADDR="+harness.FreeAddr(t), "PAYMENT_FAILURE_RATE=lots")
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("dev kept running with an invalid rate:\n%s", out)
	}
	if err == nil || !strings.Contains(string(out), `PAYMENT_FAILURE_RATE="lots"`) {
		t.Fatalf("exit %v, output:\n%s\nwant a failure naming PAYMENT_FAILURE_RATE", err, out)
	}
}
