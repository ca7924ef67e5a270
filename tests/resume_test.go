package tests

// Realtime resume against the dev runtime (in this process, on the test
// emulator): cursors on every push, after, snapshot first, pushes that
// change nothing selected left out, RESYNC_REQUIRED, and authorization
// during catch-up.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/gateway"
	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/devapp"
	"github.com/threefactor/framework/lib/devapp/devapptest"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/identity/devissuer"
	"github.com/threefactor/framework/lib/realtime/wsclient"
)

const resumeWatch = `subscription($id: ID!, $after: String) { orderUpdated(id: $id, after: $after) { id status driverId } }`

// inProcess is the reference app on a dev runtime in this process.
type inProcess struct {
	*devapptest.Stack
	*devStack // alice's HTTP client
}

func startInProcess(t testing.TB, opts ...devapptest.Options) *inProcess {
	t.Helper()
	s := devapptest.Start(t, fooddelivery.App, opts...)
	return &inProcess{Stack: s, devStack: &devStack{url: s.GraphQLURL(), token: s.Token(t, "alice")}}
}

func (s *inProcess) dial(t testing.TB, token string) *wsclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := wsclient.Dial(ctx, wsclient.Config{URL: s.WebSocketURL(), ConnectionParams: wsclient.Bearer(token)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// step is one push as a client holds it.
type step struct {
	Status, Driver, Cursor string
	Raw                    string
}

func (st step) String() string {
	if st.Driver != "" && st.Status == "DRIVER_ASSIGNED" {
		return st.Status + "(" + st.Driver + ")"
	}
	return st.Status
}

func watch(t testing.TB, c *wsclient.Client, id, after string) *wsclient.Subscription {
	t.Helper()
	vars := map[string]any{"id": id}
	if after != "" {
		vars["after"] = after
	}
	sub, err := c.Subscribe(context.Background(), wsclient.Request{Query: resumeWatch, Variables: vars})
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

func nextStep(t testing.TB, sub *wsclient.Subscription) step {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := sub.Next(ctx)
	if err != nil {
		t.Fatalf("next: %v", err)
	}
	var d struct {
		OrderUpdated struct {
			Status   string
			DriverID *string
		}
	}
	var ext struct{ Cursor string }
	if err := json.Unmarshal(r.Data, &d); err != nil || len(r.Errors) > 0 {
		t.Fatalf("push %s: %v", r.Raw, err)
	}
	if err := json.Unmarshal(r.Extensions, &ext); err != nil || ext.Cursor == "" {
		t.Fatalf("push without a cursor: %s", r.Raw)
	}
	st := step{Status: d.OrderUpdated.Status, Cursor: ext.Cursor, Raw: string(r.Raw)}
	if d.OrderUpdated.DriverID != nil {
		st.Driver = *d.OrderUpdated.DriverID
	}
	return st
}

// stepsUntil reads pushes until one satisfies last.
func stepsUntil(t testing.TB, sub *wsclient.Subscription, last func(step) bool) []step {
	t.Helper()
	var out []step
	for {
		st := nextStep(t, sub)
		out = append(out, st)
		if last(st) {
			return out
		}
	}
}

func is(status string) func(step) bool { return func(s step) bool { return s.Status == status } }

func statuses(steps []step) string { return fmt.Sprint(steps) }

// setDriver writes the order's driver directly in its table: a change
// from outside the workflow (no route reacts to it).
func setDriver(t *testing.T, id, attr, value string) {
	t.Helper()
	if err := writeAttr(dynamodb.NewFromConfig(emulatortest.Config(t)), id, attr, value); err != nil {
		t.Fatal(err)
	}
}

func writeAttr(db *dynamodb.Client, id, attr, value string) error {
	_, err := db.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName:                 aws.String(fooddelivery.App.Topology().TableName(orders.OrdersTable)),
		Key:                       map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}},
		UpdateExpression:          aws.String("SET #a = :v"),
		ExpressionAttributeNames:  map[string]string{"#a": attr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberS{Value: value}},
	})
	return err
}

// TestResumeAfterDisconnect is the proof: a subscriber that
// disconnects after VALIDATED while the order is paid, approved and
// assigned reconnects with after and receives PAID, APPROVED and
// DRIVER_ASSIGNED once each, in order, then live changes; a subscriber
// that stays receives the snapshot first and every step once (VALIDATED
// once, though payOrder wrote the order: nothing it selects changed).
func TestResumeAfterDisconnect(t *testing.T) {
	ctx := context.Background()
	s := startInProcess(t)
	o, err := s.placeOrder(ctx, "r-pizza", map[string]any{"menuItemId": "margherita", "quantity": 2})
	if err != nil {
		t.Fatal(err)
	}
	stay := watch(t, s.dial(t, s.token), o.ID, "")
	mobile := s.dial(t, s.token)
	first := stepsUntil(t, watch(t, mobile, o.ID, ""), is("VALIDATED"))
	if first[0].Status != "PLACED" && first[0].Status != "VALIDATED" {
		t.Fatalf("the snapshot is %s, want the order as it is", first[0])
	}
	cursor := first[len(first)-1].Cursor
	if err := mobile.Close(); err != nil {
		t.Fatal(err)
	}

	if _, err := s.payOrder(ctx, o.ID, 1800); err != nil {
		t.Fatal(err)
	}
	// Reconnect while the workflow runs: what it missed comes from the
	// log, the rest live, with nothing lost or repeated at the seam.
	rtWaitFor(t, 2*time.Minute, "the order paid", func() bool { return s.mustOrder(t, o.ID).Status != "VALIDATED" })
	resumed := watch(t, s.dial(t, s.token), o.ID, cursor)
	got := stepsUntil(t, resumed, is("DRIVER_ASSIGNED"))
	if len(got) != 3 || got[0].Status != "PAID" || got[1].Status != "APPROVED" {
		t.Fatalf("resumed with after: %v, want PAID, APPROVED, DRIVER_ASSIGNED once each", got)
	}
	// The audit trail holds the catch-up's pushes like the fan-out's:
	// PAID, committed while the client was away, was pushed by the
	// catch-up, once, to the resumed subscription.
	rtWaitFor(t, time.Minute, "the catch-up push of PAID in the event log", func() bool {
		return len(pushesOf(t, s, o.ID, "status", "PAID", isCatchUp)) == 1
	})
	if p := pushesOf(t, s, o.ID, "status", "PAID", isCatchUp)[0]; p.Outcome != eventlog.Pushed || p.CausedBy != "alice" || p.CorrelationID == "" {
		t.Fatalf("the catch-up push of PAID: %+v", p)
	}

	// Then live: a change nothing selected sees is not pushed; the next one is.
	setDriver(t, o.ID, "note", "ring twice")
	setDriver(t, o.ID, "driverId", "drv-live")
	if live := nextStep(t, resumed); live.Driver != "drv-live" {
		t.Fatalf("after the catch-up: %v (%s), want the live driver change", live, live.Raw)
	}

	all := stepsUntil(t, stay, func(st step) bool { return st.Driver == "drv-live" })
	want := "[VALIDATED PAID APPROVED DRIVER_ASSIGNED(" + got[2].Driver + ") DRIVER_ASSIGNED(drv-live)]"
	if all[0].Status == "PLACED" {
		want = "[PLACED " + want[1:]
	}
	if statuses(all) != want {
		t.Fatalf("the subscriber that stayed got %v, want %s", all, want)
	}
	seen := map[string]bool{}
	for _, st := range all {
		if seen[st.Cursor] {
			t.Fatalf("cursor %s on two pushes: %v", st.Cursor, all)
		}
		seen[st.Cursor] = true
	}
}

// pushesOf is the pushes keep accepts of the changes that set order id's
// attribute attr to value, from the in-process stack's event log.
func pushesOf(t *testing.T, s *inProcess, id, attr, value string, keep func(eventlog.Push) bool) []eventlog.Push {
	t.Helper()
	h, recs := history(t, s.EventLog, id)
	var out []eventlog.Push
	for _, c := range h {
		var n, o map[string]any
		_ = json.Unmarshal(c.New, &n)
		_ = json.Unmarshal(c.Old, &o)
		if n[attr] != value || o[attr] == value {
			continue
		}
		for _, p := range recs[c.ID].Pushes {
			if keep(p) {
				out = append(out, p)
			}
		}
	}
	return out
}

func isCatchUp(p eventlog.Push) bool { return p.CatchUp }

// TestResumeRefused: a cursor the log cannot resume from is one error
// with RESYNC_REQUIRED, never a silent gap.
func TestResumeRefused(t *testing.T) {
	ctx := context.Background()
	s := startInProcess(t)
	a, err := s.placeOrder(ctx, "r-pizza", map[string]any{"menuItemId": "margherita", "quantity": 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.placeOrder(ctx, "r-pizza", map[string]any{"menuItemId": "margherita", "quantity": 1})
	if err != nil {
		t.Fatal(err)
	}
	c := s.dial(t, s.token)
	ofA := nextStep(t, watch(t, c, a.ID, "")).Cursor
	for name, after := range map[string]string{
		"malformed":        "not-a-cursor",
		"forged":           ofA[:len(ofA)-2] + "AA",
		"another order's":  ofA,
		"empty":            "",
		"a truncated one":  ofA[:10],
		"a well-formed 0s": "AQAAAAAAAAAAAAAAAAAAAAA",
	} {
		id := b.ID
		if name == "forged" || name == "a truncated one" {
			id = a.ID
		}
		if name == "empty" {
			continue // an empty after is no cursor: covered by the snapshot tests
		}
		sub := watch(t, c, id, after)
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		_, err := sub.Next(ctx)
		cancel()
		var gqlErrs wsclient.GraphQLErrors
		if !errors.As(err, &gqlErrs) || len(gqlErrs) != 1 || gqlErrs[0].Extensions["code"] != "RESYNC_REQUIRED" {
			t.Fatalf("%s cursor: %v, want one RESYNC_REQUIRED error", name, err)
		}
	}
}

// TestResumeExpiredCursor: a cursor older than the log's retention is
// RESYNC_REQUIRED. The log's clock is moved past its retention.
func TestResumeExpiredCursor(t *testing.T) {
	ctx := context.Background()
	var skew atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	s := startInProcess(t, devapptest.Options{Wire: func(o *devapp.Options) {
		l, err := eventlog.OpenFileStore(eventlog.LocalDir(t.TempDir()), eventlog.FileConfig{
			Topology: fooddelivery.App.Topology(), Retention: time.Hour, Now: clock, Logger: devapptest.Logger(),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		o.EventLog = l
	}})
	o, err := s.placeOrder(ctx, "r-pizza", map[string]any{"menuItemId": "margherita", "quantity": 1})
	if err != nil {
		t.Fatal(err)
	}
	c := s.dial(t, s.token)
	live := watch(t, c, o.ID, "")
	cursor := stepsUntil(t, live, is("VALIDATED"))[0].Cursor
	setDriver(t, o.ID, "driverId", "drv-x")
	stepsUntil(t, live, func(st step) bool { return st.Driver == "drv-x" })
	// Within the retention the cursor resumes.
	if st := stepsUntil(t, watch(t, c, o.ID, cursor), func(st step) bool { return st.Driver == "drv-x" }); len(st) > 2 {
		t.Fatalf("resumed within the retention: %v", st)
	}
	skew.Store(int64(2 * time.Hour))
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err = watch(t, c, o.ID, cursor).Next(ctx)
	var gqlErrs wsclient.GraphQLErrors
	if !errors.As(err, &gqlErrs) || len(gqlErrs) != 1 || gqlErrs[0].Extensions["code"] != "RESYNC_REQUIRED" {
		t.Fatalf("a cursor past the retention: %v, want RESYNC_REQUIRED", err)
	}
	if !strings.Contains(gqlErrs[0].Message, "query the current state") {
		t.Fatalf("the message does not say to re-query: %q", gqlErrs[0].Message)
	}
}

const staffResume = `subscription($r: ID!, $after: String) { restaurantOrderUpdated(restaurantId: $r, after: $after) { id status paymentIntent { id } payments { id } } }`

// TestResumeAuthorization: authorization holds during catch-up. Staff
// resuming their restaurant's topic get the orders without payment
// details (the payment intent payOrder recorded is not even a push for
// them); a customer cannot resume another's order with its cursor, nor
// staff another restaurant's topic. (The sushi restaurant's: the other
// tests' orders are the pizza one's.)
func TestResumeAuthorization(t *testing.T) {
	ctx := context.Background()
	s := startInProcess(t)
	mint := func(o devissuer.Options) string {
		tok, err := s.Issuer.Mint(o)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	ownStaff := mint(devissuer.Options{Subject: "sam-staff", Groups: []string{gateway.StaffGroup},
		Claims: map[string]any{"custom:" + gateway.RestaurantAttribute: "r-sushi"}})
	otherStaff := mint(devissuer.Options{Subject: "pat-staff", Groups: []string{gateway.StaffGroup},
		Claims: map[string]any{"custom:" + gateway.RestaurantAttribute: "r-pizza"}})

	staffConn := s.dial(t, ownStaff)
	sub, err := staffConn.Subscribe(ctx, wsclient.Request{Query: staffResume, Variables: map[string]any{"r": "r-sushi"}})
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.placeOrder(ctx, "r-sushi", map[string]any{"menuItemId": "miso-soup", "quantity": 2})
	if err != nil {
		t.Fatal(err)
	}
	type staffView struct {
		RestaurantOrderUpdated struct {
			ID, Status    string
			PaymentIntent *struct{ ID string }
			Payments      []struct{ ID string }
		}
	}
	read := func(sub *wsclient.Subscription) (staffView, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		r, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var v staffView
		var ext struct{ Cursor string }
		if err := json.Unmarshal(r.Data, &v); err != nil || json.Unmarshal(r.Extensions, &ext) != nil || ext.Cursor == "" {
			t.Fatalf("push %s", r.Raw)
		}
		return v, ext.Cursor
	}
	var cursor string
	for {
		v, c := read(sub)
		if v.RestaurantOrderUpdated.ID == o.ID {
			cursor = c
			break
		}
	}
	_ = staffConn.Close()

	rtWaitFor(t, 2*time.Minute, "the order validated", func() bool { return s.mustOrder(t, o.ID).Status == "VALIDATED" })
	if _, err := s.payOrder(ctx, o.ID, s.mustOrder(t, o.ID).TotalCents); err != nil {
		t.Fatal(err)
	}
	rtWaitFor(t, 2*time.Minute, "the order assigned", func() bool { return s.mustOrder(t, o.ID).Status == "DRIVER_ASSIGNED" })

	resumed, err := s.dial(t, ownStaff).Subscribe(ctx, wsclient.Request{Query: staffResume, Variables: map[string]any{"r": "r-sushi", "after": cursor}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) == 0 || got[len(got)-1] != "DRIVER_ASSIGNED" {
		v, _ := read(resumed)
		ov := v.RestaurantOrderUpdated
		if ov.ID != o.ID {
			continue // another test's order of the restaurant
		}
		if ov.PaymentIntent != nil || len(ov.Payments) > 0 {
			t.Fatalf("staff got payment details through the catch-up: %+v", ov)
		}
		got = append(got, ov.Status)
	}
	if fmt.Sprint(got) != "[VALIDATED PAID APPROVED DRIVER_ASSIGNED]" {
		t.Fatalf("staff resumed: %v, want VALIDATED PAID APPROVED DRIVER_ASSIGNED once each", got)
	}

	refused := func(token, query string, vars map[string]any, code string) {
		t.Helper()
		sub, err := s.dial(t, token).Subscribe(ctx, wsclient.Request{Query: query, Variables: vars})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		_, err = sub.Next(ctx)
		var gqlErrs wsclient.GraphQLErrors
		if !errors.As(err, &gqlErrs) || gqlErrs[0].Extensions["code"] != code {
			t.Fatalf("%v: %v, want %s", vars, err, code)
		}
	}
	// alice's cursor of her order, used by bob.
	aliceCursor := nextStep(t, watch(t, s.dial(t, s.token), o.ID, "")).Cursor
	refused(mint(devissuer.Options{Subject: "bob"}), resumeWatch, map[string]any{"id": o.ID, "after": aliceCursor}, "NOT_FOUND")
	refused(otherStaff, staffResume, map[string]any{"r": "r-sushi", "after": cursor}, "FORBIDDEN")
}

// TestResumeSeamUnderLoad: a client that drops its connection again and
// again while its order keeps changing, resuming each time from the last
// cursor it received, sees every change once, in order.
func TestResumeSeamUnderLoad(t *testing.T) {
	ctx := context.Background()
	s := startInProcess(t)
	o, err := s.placeOrder(ctx, "r-pizza", map[string]any{"menuItemId": "margherita", "quantity": 1})
	if err != nil {
		t.Fatal(err)
	}
	rtWaitFor(t, 2*time.Minute, "the order validated", func() bool { return s.mustOrder(t, o.ID).Status == "VALIDATED" })
	const changes = 40
	// The snapshot first, then the changes begin.
	c := s.dial(t, s.token)
	snapshot := nextStep(t, watch(t, c, o.ID, ""))
	_ = c.Close()
	writer := make(chan error, 1)
	db := dynamodb.NewFromConfig(emulatortest.Config(t))
	go func() {
		for i := range changes {
			if err := writeAttr(db, o.ID, "driverId", fmt.Sprintf("drv-%03d", i)); err != nil {
				writer <- err
				return
			}
			time.Sleep(15 * time.Millisecond) // spread the writes over the reconnects
		}
		writer <- nil
	}()
	var (
		got    []string
		cursor = snapshot.Cursor
	)
	for round := 0; len(got) == 0 || got[len(got)-1] != fmt.Sprintf("drv-%03d", changes-1); round++ {
		c := s.dial(t, s.token)
		sub := watch(t, c, o.ID, cursor)
		for range round%4 + 1 {
			st := nextStep(t, sub)
			cursor = st.Cursor
			if st.Driver != "" {
				got = append(got, st.Driver)
			}
			if st.Driver == fmt.Sprintf("drv-%03d", changes-1) {
				break
			}
		}
		_ = c.Close()
	}
	if err := <-writer; err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range changes {
		want = append(want, fmt.Sprintf("drv-%03d", i))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("across reconnects got %v, want every change once in order", got)
	}
}

// failingManagement makes the local Management API answer 500 to every
// post while it is armed.
type failingManagement struct{ armed atomic.Bool }

func (f *failingManagement) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && f.armed.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Amzn-ErrorType", "InternalServerErrorException")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"message":"injected failure"}`))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// TestKeptPushArrivesLater: pushes whose delivery attempts all fail (the
// local Management API made to fail) are kept for the connection and
// arrive later, in order, with nothing duplicated: with the next push,
// or when the client is next heard from (a ping).
func TestKeptPushArrivesLater(t *testing.T) {
	ctx := context.Background()
	fm := &failingManagement{}
	s := startInProcess(t, devapptest.Options{Wire: func(o *devapp.Options) { o.ManagementMiddleware = fm.wrap }})
	st := realtimeStore(t)
	o, err := s.placeOrder(ctx, "r-pizza", map[string]any{"menuItemId": "margherita", "quantity": 2})
	if err != nil {
		t.Fatal(err)
	}
	rtWaitFor(t, 2*time.Minute, "the order validated", func() bool { return s.mustOrder(t, o.ID).Status == "VALIDATED" })
	c := s.dial(t, s.token)
	sub := watch(t, c, o.ID, "")
	if st := nextStep(t, sub); st.Status != "VALIDATED" {
		t.Fatalf("snapshot %v", st)
	}
	kept := func() bool {
		subs, err := st.SubscriptionsFor(ctx, gateway.OrderTopic(o.ID))
		return err == nil && len(subs) == 1 && len(subs[0].Pending) > 0
	}

	fm.armed.Store(true)
	if _, err := s.payOrder(ctx, o.ID, 1800); err != nil {
		t.Fatal(err)
	}
	rtWaitFor(t, 2*time.Minute, "a push kept", kept)
	fm.armed.Store(false)
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	got := stepsUntil(t, sub, is("DRIVER_ASSIGNED"))
	if len(got) != 3 || got[0].Status != "PAID" || got[1].Status != "APPROVED" {
		t.Fatalf("after the failures: %v, want PAID APPROVED DRIVER_ASSIGNED once each", got)
	}
	// The audit trail has each kept push twice: kept, then delivered.
	keptThenDelivered := func(attr, value string) {
		t.Helper()
		var ps []eventlog.Push
		rtWaitFor(t, time.Minute, "the push records of "+value, func() bool {
			ps = pushesOf(t, s, o.ID, attr, value, func(eventlog.Push) bool { return true })
			return len(ps) >= 2
		})
		if len(ps) != 2 || ps[0].Outcome != eventlog.Kept || ps[0].Redelivered || ps[1].Outcome != eventlog.Pushed || !ps[1].Redelivered ||
			ps[1].SubscriptionID != ps[0].SubscriptionID || ps[1].CorrelationID != ps[0].CorrelationID || ps[1].CorrelationID == "" {
			t.Fatalf("push records of %s: %+v, want it kept, then redelivered", value, ps)
		}
	}
	keptThenDelivered("status", "PAID")

	// A kept push with nothing after it: the client's next ping brings it.
	fm.armed.Store(true)
	setDriver(t, o.ID, "driverId", "drv-kept")
	rtWaitFor(t, 2*time.Minute, "the driver change kept", kept)
	fm.armed.Store(false)
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if st := nextStep(t, sub); st.Driver != "drv-kept" {
		t.Fatalf("after the ping: %v", st)
	}
	rtWaitFor(t, time.Minute, "nothing kept any more", func() bool { return !kept() })
	keptThenDelivered("driverId", "drv-kept")
}
