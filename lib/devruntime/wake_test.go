package devruntime

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/threefactor/framework/lib/emulator/emulatortest"
)

// neverPoll is a poll interval no test outlives: a record that arrives
// was woken for, not polled for.
const neverPoll = time.Hour

// Writes made through Runtime.AWS, by every write operation, reach the
// reader without its polling, in order, once each, and the checkpoint
// follows them.
func TestWritesThroughRuntimeWakeStreamReaders(t *testing.T) {
	rt := newRuntime(t, "rtwake")
	rt.cfg.StreamPollInterval = neverPoll
	var rec recorder
	var seqs []string
	var mu sync.Mutex
	rt.StreamReader("test", "items", func(_ context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range ev.Records {
			rec.add(r)
			seqs = append(seqs, r.Change.SequenceNumber)
		}
		return events.DynamoDBEventResponse{}, nil
	})
	run(t, rt)
	ctx := context.Background()
	db := dynamodb.NewFromConfig(rt.AWS())
	table := aws.String(rt.Resources().Tables["items"].Name)
	key := func(id string) map[string]ddbtypes.AttributeValue {
		return map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: id}}
	}
	steps := []struct {
		name string
		ids  []string
		do   func() error
	}{
		{"PutItem", []string{"put"}, func() error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: key("put")})
			return err
		}},
		{"UpdateItem", []string{"put"}, func() error {
			_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: table, Key: key("put"),
				UpdateExpression: aws.String("SET #s = :s"), ExpressionAttributeNames: map[string]string{"#s": "status"},
				ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":s": &ddbtypes.AttributeValueMemberS{Value: "DONE"}}})
			return err
		}},
		{"DeleteItem", []string{"put"}, func() error {
			_, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: table, Key: key("put")})
			return err
		}},
		{"BatchWriteItem", []string{"b1", "b2"}, func() error {
			_, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]ddbtypes.WriteRequest{
				*table: {{PutRequest: &ddbtypes.PutRequest{Item: key("b1")}}, {PutRequest: &ddbtypes.PutRequest{Item: key("b2")}}},
			}})
			return err
		}},
		{"TransactWriteItems", []string{"t1"}, func() error {
			_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
				{Put: &ddbtypes.Put{TableName: table, Item: key("t1")}},
			}})
			return err
		}},
		{"ExecuteStatement", []string{"p1"}, func() error {
			_, err := db.ExecuteStatement(ctx, &dynamodb.ExecuteStatementInput{Statement: aws.String(fmt.Sprintf(`INSERT INTO "%s" VALUE {'id': 'p1'}`, *table))})
			return err
		}},
	}
	want := map[string]int{}
	for _, s := range steps {
		for _, id := range s.ids {
			want[id]++
		}
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		waitFor(t, s.name+" woken for", func() bool {
			for id, n := range want {
				if rec.n(id) < n {
					return false
				}
			}
			return true
		})
	}
	mu.Lock()
	defer mu.Unlock()
	for id, n := range want {
		if got := rec.n(id); got != n {
			t.Errorf("%s delivered %d times, want %d", id, got, n)
		}
	}
	for i := 1; i < len(seqs); i++ {
		if len(seqs[i]) == len(seqs[i-1]) && seqs[i] <= seqs[i-1] {
			t.Errorf("sequence %s after %s: out of order", seqs[i], seqs[i-1])
		}
	}
	shards, err := dynamodbstreams.NewFromConfig(rt.AWS()).DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(rt.Resources().Tables["items"].StreamARN)})
	if err != nil {
		t.Fatal(err)
	}
	shard := aws.ToString(shards.StreamDescription.Shards[0].ShardId)
	waitFor(t, "the checkpoint at the last record", func() bool {
		cp, err := rt.cps.load(ctx, "test", shard)
		return err == nil && cp.Seq == seqs[len(seqs)-1]
	})
}

// A write from another process (a client without the runtime's
// middleware) still arrives, by polling.
func TestOutsideWritesArriveByPolling(t *testing.T) {
	rt := newRuntime(t, "rtoutside")
	var rec recorder
	rt.StreamReader("test", "items", func(_ context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		for _, r := range ev.Records {
			rec.add(r)
		}
		return events.DynamoDBEventResponse{}, nil
	})
	run(t, rt)
	outside := dynamodb.NewFromConfig(emulatortest.Config(t))
	_, err := outside.PutItem(context.Background(), &dynamodb.PutItemInput{
		TableName: aws.String(rt.Resources().Tables["items"].Name),
		Item:      map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: "cli"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the outside write", func() bool { return rec.n("cli") == 1 })
}

// blockingStream is an open, empty shard whose first GetRecords waits
// for release: a unit test of how wakes that arrive during a poll are
// counted, which the emulator's timing cannot pin down.
type blockingStream struct {
	fakeStream
	release chan struct{}
	mu      sync.Mutex
	calls   int
	entered chan int
}

func (b *blockingStream) GetRecords(ctx context.Context, in *dynamodbstreams.GetRecordsInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error) {
	b.mu.Lock()
	b.calls++
	n := b.calls
	b.mu.Unlock()
	b.entered <- n
	if n == 1 {
		<-b.release
	}
	return b.fakeStream.GetRecords(ctx, in, opts...)
}

func (b *blockingStream) n() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls
}

// A burst of writes while the reader polls costs it one more poll, not
// one per write.
func TestWakesCoalesce(t *testing.T) {
	rt := newRuntime(t, "rtcoalesce")
	rt.cfg.StreamPollInterval = neverPoll
	bs := &blockingStream{
		fakeStream: fakeStream{shards: []types.Shard{{ShardId: aws.String("s"), SequenceNumberRange: &types.SequenceNumberRange{StartingSequenceNumber: aws.String("100")}}}},
		release:    make(chan struct{}), entered: make(chan int, 16),
	}
	rt.streams = bs
	rt.StreamReader("test", "items", func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		return events.DynamoDBEventResponse{}, nil
	})
	run(t, rt)
	next := func(want int) {
		t.Helper()
		select {
		case n := <-bs.entered:
			if n != want {
				t.Fatalf("GetRecords call %d, want %d", n, want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no GetRecords call %d", want)
		}
	}
	next(1)
	name := rt.Resources().Tables["items"].Name
	for range 100 {
		rt.wakeReaders([]string{name})
	}
	close(bs.release)
	next(2) // the burst's one extra poll
	// Another table's write wakes nobody here.
	rt.wakeReaders([]string{"some-other-table"})
	// No third poll comes on its own: the 100 wakes were one. (A machine
	// too slow to make it within the window would hide a failure, never
	// make one.)
	time.Sleep(300 * time.Millisecond)
	if n := bs.n(); n != 2 {
		t.Fatalf("%d GetRecords calls after a burst of 100 wakes, want 2", n)
	}
	// A table named by its ARN is woken.
	rt.wakeReaders([]string{"arn:aws:dynamodb:us-east-1:123456789012:table/" + name})
	next(3)
}

// A reader with a WakeDelay polls that long after the wake, not before.
func TestWakeDelay(t *testing.T) {
	rt := newRuntime(t, "rtwakedelay")
	rt.cfg.StreamPollInterval = neverPoll
	bs := &blockingStream{
		fakeStream: fakeStream{shards: []types.Shard{{ShardId: aws.String("s"), SequenceNumberRange: &types.SequenceNumberRange{StartingSequenceNumber: aws.String("100")}}}},
		release:    make(chan struct{}), entered: make(chan int, 16),
	}
	rt.streams = bs
	const delay = 300 * time.Millisecond
	rt.StreamReader("test", "items", func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		return events.DynamoDBEventResponse{}, nil
	}, WakeDelay(delay))
	run(t, rt)
	select {
	case <-bs.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("no first poll")
	}
	woke := time.Now()
	rt.wakeReaders([]string{rt.Resources().Tables["items"].Name})
	close(bs.release)
	select {
	case <-bs.entered:
		if d := time.Since(woke); d < delay {
			t.Fatalf("polled %s after the wake, before its delay of %s", d, delay)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the wake was lost")
	}
}
