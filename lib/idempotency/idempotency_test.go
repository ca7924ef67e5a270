package idempotency

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/consumer"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/topology"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

var (
	tableOnce sync.Once
	tableName string
	tableErr  error
)

// testTable creates the framework's idempotency table, as declared in
// topology.FrameworkTables, once per test binary.
func testTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	client := dynamodb.NewFromConfig(emulatortest.Config(t))
	tableOnce.Do(func() {
		ctx := context.Background()
		decl := topology.FrameworkTables()[0]
		if decl.Name != topology.IdempotencyTable {
			tableErr = fmt.Errorf("first framework table is %s", decl.Name)
			return
		}
		tableName = fmt.Sprintf("idem-test-%d", time.Now().UnixNano())
		_, tableErr = client.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName:            aws.String(tableName),
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(decl.PartitionKey.Name), AttributeType: types.ScalarAttributeTypeS}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(decl.PartitionKey.Name), KeyType: types.KeyTypeHash}},
			BillingMode:          types.BillingModePayPerRequest,
		})
		if tableErr != nil {
			return
		}
		_, tableErr = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName:               aws.String(tableName),
			TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(decl.TTLAttribute), Enabled: aws.Bool(true)},
		})
	})
	if tableErr != nil {
		t.Fatal(tableErr)
	}
	return client, tableName
}

func quiet() Option { return WithLogger(slog.New(slog.DiscardHandler)) }

func TestFirstRunThenDuplicate(t *testing.T) {
	client, table := testTable(t)
	s := New(client, table, quiet())
	ctx := context.Background()
	runs := 0
	fn := func(ctx context.Context) ([]byte, error) {
		runs++
		return []byte(fmt.Sprintf(`{"charge":"ch_%d"}`, runs)), nil
	}
	first, err := s.Do(ctx, "processpayment", "ev-1", fn)
	if err != nil || string(first) != `{"charge":"ch_1"}` {
		t.Fatalf("first: %s, %v", first, err)
	}
	again, err := s.Do(ctx, "processpayment", "ev-1", fn)
	if err != nil || string(again) != string(first) {
		t.Fatalf("duplicate: %s, %v", again, err)
	}
	if runs != 1 {
		t.Errorf("ran %d times", runs)
	}
	// Another scope is other work.
	if other, err := s.Do(ctx, "assigndriver", "ev-1", fn); err != nil || string(other) != `{"charge":"ch_2"}` {
		t.Errorf("other scope: %s, %v", other, err)
	}

	out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "processpayment#ev-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	st := out.Item["status"].(*types.AttributeValueMemberS).Value
	exp := out.Item["expiresAt"].(*types.AttributeValueMemberN).Value
	if _, lease := out.Item["leaseUntil"]; st != "COMPLETED" || lease {
		t.Errorf("record %v", out.Item)
	}
	var expSec int64
	fmt.Sscan(exp, &expSec)
	if d := time.Until(time.Unix(expSec, 0)); d < 6*24*time.Hour || d > 8*24*time.Hour {
		t.Errorf("expiresAt %s is %s away, want about 7 days", exp, d)
	}
}

func TestEmptyResult(t *testing.T) {
	client, table := testTable(t)
	s := New(client, table, quiet())
	runs := 0
	for range 2 {
		res, err := s.Do(context.Background(), "f", "ev-empty", func(ctx context.Context) ([]byte, error) { runs++; return nil, nil })
		if err != nil || len(res) != 0 {
			t.Fatalf("%q, %v", res, err)
		}
	}
	if runs != 1 {
		t.Errorf("ran %d times", runs)
	}
}

func TestConcurrentDuplicatesRunOnce(t *testing.T) {
	client, table := testTable(t)
	s := New(client, table, quiet())
	var runs atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	results := make([]string, 20)
	errs := make([]error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.Do(context.Background(), "f", "ev-concurrent", func(ctx context.Context) ([]byte, error) {
				runs.Add(1)
				<-release // hold the lease while the others try
				return []byte("done"), nil
			})
			results[i], errs[i] = string(res), err
		}()
	}
	// Let every goroutine try while the first holds the lease, then let
	// it finish.
	deadline := time.Now().Add(30 * time.Second)
	for runs.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := runs.Load(); n != 1 {
		t.Fatalf("ran %d times, want once", n)
	}
	done, busy := 0, 0
	for i := range 20 {
		switch {
		case errs[i] == nil && results[i] == "done":
			done++
		case errors.Is(errs[i], ErrInProgress):
			busy++
		default:
			t.Errorf("call %d: %q, %v", i, results[i], errs[i])
		}
	}
	if done < 1 {
		t.Errorf("%d calls returned the result", done)
	}
	// The in-progress ones are retried later and find the result.
	if res, err := s.Do(context.Background(), "f", "ev-concurrent", func(ctx context.Context) ([]byte, error) {
		return nil, errors.New("must not run")
	}); err != nil || string(res) != "done" {
		t.Errorf("retry after completion: %q, %v", res, err)
	}
	t.Logf("%d got the result, %d were told to retry", done, busy)
}

func TestFailureThenRetryRunsAgain(t *testing.T) {
	client, table := testTable(t)
	s := New(client, table, quiet())
	ctx := context.Background()
	boom := errors.New("provider timeout")
	runs := 0
	_, err := s.Do(ctx, "f", "ev-fail", func(ctx context.Context) ([]byte, error) { runs++; return nil, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	res, err := s.Do(ctx, "f", "ev-fail", func(ctx context.Context) ([]byte, error) { runs++; return []byte("ok"), nil })
	if err != nil || string(res) != "ok" || runs != 2 {
		t.Fatalf("retry: %q, %v, runs %d", res, err, runs)
	}
	// A panic releases the claim too.
	func() {
		defer func() { _ = recover() }()
		_, _ = s.Do(ctx, "f", "ev-panic", func(ctx context.Context) ([]byte, error) { panic("bug") })
	}()
	if res, err := s.Do(ctx, "f", "ev-panic", func(ctx context.Context) ([]byte, error) { return []byte("fixed"), nil }); err != nil || string(res) != "fixed" {
		t.Errorf("after panic: %q, %v", res, err)
	}
}

// A delivery that dies while it holds the lease blocks duplicates only
// until the lease runs out; then a new attempt runs, and the late first
// one cannot overwrite the new holder's record.
func TestExpiredLeaseLetsNewAttemptRun(t *testing.T) {
	client, table := testTable(t)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s := New(client, table, quiet(), WithClock(clock), WithLease(30*time.Second))
	ctx := context.Background()

	started := make(chan struct{})
	finish := make(chan struct{})
	firstDone := make(chan []byte)
	go func() {
		res, _ := s.Do(ctx, "f", "ev-crash", func(ctx context.Context) ([]byte, error) {
			close(started)
			<-finish // stuck, as if the process had died
			return []byte("late"), nil
		})
		firstDone <- res
	}()
	<-started
	if _, err := s.Do(ctx, "f", "ev-crash", func(ctx context.Context) ([]byte, error) {
		return nil, errors.New("must not run")
	}); !errors.Is(err, ErrInProgress) {
		t.Fatalf("within the lease: %v, want ErrInProgress", err)
	}
	advance(31 * time.Second)
	res, err := s.Do(ctx, "f", "ev-crash", func(ctx context.Context) ([]byte, error) { return []byte("second"), nil })
	if err != nil || string(res) != "second" {
		t.Fatalf("after the lease: %q, %v", res, err)
	}
	close(finish)
	if late := <-firstDone; string(late) != "late" {
		t.Errorf("late first delivery returned %q", late)
	}
	res, err = s.Do(ctx, "f", "ev-crash", func(ctx context.Context) ([]byte, error) { return nil, errors.New("must not run") })
	if err != nil || string(res) != "second" {
		t.Errorf("stored result %q, %v; want the second attempt's", res, err)
	}
}

func TestLeaseFollowsDeadline(t *testing.T) {
	s := New(nil, "t", quiet())
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if d := s.leaseFor(ctx); d < 80*time.Second || d > 90*time.Second {
		t.Errorf("lease %s for a 90s deadline", d)
	}
	if d := s.leaseFor(context.Background()); d != time.Minute {
		t.Errorf("lease %s without a deadline", d)
	}
	if d := New(nil, "t", WithLease(5*time.Second)).leaseFor(ctx); d != 5*time.Second {
		t.Errorf("fixed lease %s", d)
	}
}

// The middleware makes a consumer's handler run once per event id, however
// often SQS delivers the message.
func TestMiddlewareWithConsumer(t *testing.T) {
	client, table := testTable(t)
	s := New(client, table, quiet())
	runs := map[string]int{}
	fail := true
	c, err := consumer.NewEvent(func(ctx context.Context, e change.Event) error {
		runs[e.ID]++
		if e.ID == "ev-m2" && fail {
			return errors.New("transient")
		}
		return nil
	}, consumer.Config{Function: fmt.Sprint("fn-", time.Now().UnixNano()), Middleware: []consumer.Middleware{Middleware(s, "")},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	msg := func(id string) events.SQSMessage {
		return events.SQSMessage{MessageId: "m-" + id, Body: `{"id":"x","detail-type":"Change","source":"s","detail":{"id":"` + id +
			`","table":"orders","operation":"INSERT","keys":{"id":"1"},"new":{"id":"1"},"sequenceNumber":"1","approximateCreationTime":"2026-11-23T00:00:00Z"}}`}
	}
	batch := events.SQSEvent{Records: []events.SQSMessage{msg("ev-m1"), msg("ev-m2"), msg("ev-m1")}}
	resp, err := c.Handle(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m-ev-m2" {
		t.Fatalf("failures %+v", resp.BatchItemFailures)
	}
	fail = false
	if resp, err = c.Handle(context.Background(), batch); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivery: %+v, %v", resp, err)
	}
	if runs["ev-m1"] != 1 || runs["ev-m2"] != 2 {
		t.Errorf("runs %v: want ev-m1 once, ev-m2 twice (failed, then retried)", runs)
	}
}

// stripItem hides the item DynamoDB returns with a failed condition, as
// implementations that ignore ReturnValuesOnConditionCheckFailure do.
type stripItem struct{ *dynamodb.Client }

func (c stripItem) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	out, err := c.Client.PutItem(ctx, in, opts...)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return out, &types.ConditionalCheckFailedException{Message: ccf.Message}
	}
	return out, err
}

func TestWithoutItemOnConditionFailure(t *testing.T) {
	client, table := testTable(t)
	s := New(stripItem{client}, table, quiet())
	ctx := context.Background()
	release := make(chan struct{})
	started := make(chan struct{})
	done := make(chan error)
	go func() {
		_, err := s.Do(ctx, "f", "ev-strip", func(ctx context.Context) ([]byte, error) {
			close(started)
			<-release
			return []byte("r"), nil
		})
		done <- err
	}()
	<-started
	if _, err := s.Do(ctx, "f", "ev-strip", func(ctx context.Context) ([]byte, error) { return nil, nil }); !errors.Is(err, ErrInProgress) {
		t.Errorf("while running: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	res, err := s.Do(ctx, "f", "ev-strip", func(ctx context.Context) ([]byte, error) { return nil, errors.New("must not run") })
	if err != nil || string(res) != "r" {
		t.Errorf("after completion: %q, %v", res, err)
	}
}
