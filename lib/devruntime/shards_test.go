package devruntime

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// fakeStream is a stream whose shards are fixed: a unit test of shard
// lineage and skipping, which the emulator (one shard per table) cannot
// show. Checkpoints still go to the emulator.
type fakeStream struct {
	shards  []types.Shard
	records map[string][]types.Record // by shard id
}

func (f *fakeStream) DescribeStream(context.Context, *dynamodbstreams.DescribeStreamInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error) {
	return &dynamodbstreams.DescribeStreamOutput{StreamDescription: &types.StreamDescription{Shards: f.shards}}, nil
}

func (f *fakeStream) GetShardIterator(_ context.Context, in *dynamodbstreams.GetShardIteratorInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error) {
	return &dynamodbstreams.GetShardIteratorOutput{ShardIterator: aws.String(aws.ToString(in.ShardId) + "|" + aws.ToString(in.SequenceNumber))}, nil
}

func (f *fakeStream) GetRecords(_ context.Context, in *dynamodbstreams.GetRecordsInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error) {
	shard, after, _ := strings.Cut(aws.ToString(in.ShardIterator), "|")
	var out []types.Record
	for _, r := range f.records[shard] {
		if after == "" || aws.ToString(r.Dynamodb.SequenceNumber) > after {
			out = append(out, r)
		}
	}
	next := aws.String("more")
	for _, s := range f.shards {
		if aws.ToString(s.ShardId) == shard && s.SequenceNumberRange.EndingSequenceNumber != nil && len(out) == 0 {
			next = nil // a closed shard read to its end
		}
	}
	return &dynamodbstreams.GetRecordsOutput{Records: out, NextShardIterator: next}, nil
}

func rec(id, seq string) types.Record {
	return types.Record{
		EventID: aws.String("ev-" + id), EventName: types.OperationTypeInsert,
		Dynamodb: &types.StreamRecord{
			Keys:           map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}},
			SequenceNumber: aws.String(seq),
		},
	}
}

func TestStreamReaderReadsParentShardBeforeChild(t *testing.T) {
	rt := newRuntime(t, "rtshards")
	rt.streams = &fakeStream{
		// The child is listed first; it must still wait for its parent.
		shards: []types.Shard{
			{ShardId: aws.String("child"), ParentShardId: aws.String("parent"), SequenceNumberRange: &types.SequenceNumberRange{StartingSequenceNumber: aws.String("200")}},
			{ShardId: aws.String("parent"), SequenceNumberRange: &types.SequenceNumberRange{StartingSequenceNumber: aws.String("100"), EndingSequenceNumber: aws.String("101")}},
		},
		records: map[string][]types.Record{
			"parent": {rec("p1", "100"), rec("p2", "101")},
			"child":  {rec("c1", "200")},
		},
	}
	var mu sync.Mutex
	var order []string
	rt.StreamReader("test", "items", func(_ context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range ev.Records {
			order = append(order, r.Change.Keys["id"].String())
		}
		return events.DynamoDBEventResponse{}, nil
	})
	run(t, rt)
	waitFor(t, "three records", func() bool { mu.Lock(); defer mu.Unlock(); return len(order) >= 3 })
	mu.Lock()
	got := strings.Join(order, ",")
	mu.Unlock()
	if got != "p1,p2,c1" {
		t.Errorf("delivery order %s, want p1,p2,c1", got)
	}
	cp, err := rt.cps.load(context.Background(), "test", "parent")
	if err != nil || !cp.Done || cp.Seq != "101" {
		t.Errorf("parent checkpoint %+v %v, want done at 101", cp, err)
	}
}

func TestStreamReaderSkipsAfterMaxAttempts(t *testing.T) {
	rt := newRuntime(t, "rtskip")
	rt.cfg.StreamMaxAttempts = 3
	rt.streams = &fakeStream{
		shards:  []types.Shard{{ShardId: aws.String("s"), SequenceNumberRange: &types.SequenceNumberRange{StartingSequenceNumber: aws.String("100")}}},
		records: map[string][]types.Record{"s": {rec("ok1", "100"), rec("bad", "101"), rec("ok2", "102")}},
	}
	var mu sync.Mutex
	seen := map[string]int{}
	rt.StreamReader("test", "items", func(_ context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range ev.Records {
			id := r.Change.Keys["id"].String()
			seen[id]++
			if id == "bad" {
				return events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{{ItemIdentifier: r.Change.SequenceNumber}}}, nil
			}
		}
		return events.DynamoDBEventResponse{}, nil
	})
	run(t, rt)
	waitFor(t, "ok2 after the poison record", func() bool { mu.Lock(); defer mu.Unlock(); return seen["ok2"] > 0 })
	mu.Lock()
	defer mu.Unlock()
	if seen["ok1"] != 1 || seen["bad"] != 3 {
		t.Errorf("deliveries %v, want ok1 once and bad 3 times (StreamMaxAttempts)", seen)
	}
}
