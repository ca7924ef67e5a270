package eventlog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/threefactor/framework/lib/benchfig"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/eventlog/eventlogtest"
	"github.com/threefactor/framework/lib/topology"
)

// benchTopology declares the orders table of the sample stream record.
var benchTopology = topology.Topology{App: "bench", Tables: []topology.Table{
	{Name: "orders", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true},
}}

// benchEvent is a realistic change: an order's MODIFY with both images.
func benchEvent(b *testing.B) change.Event {
	raw, err := os.ReadFile("testdata/order-modify.json")
	if err != nil {
		b.Fatal(err)
	}
	var rec events.DynamoDBEventRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		b.Fatal(err)
	}
	e, err := change.FromDynamoDB(rec, "orders")
	if err != nil {
		b.Fatal(err)
	}
	e.ApproximateAt = time.Now().UTC().Truncate(time.Second) // within any retention
	return e
}

func nth(e change.Event, i int) change.Event {
	e.ID = fmt.Sprintf("%s-%d", e.ID, i)
	e.SequenceNumber = fmt.Sprintf("1111%020d", i)
	return e
}

func perOpMicros(b *testing.B, ops int) float64 {
	return float64(b.Elapsed().Microseconds()) / float64(ops)
}

// BenchmarkFileWriteChange is the file store's cost of logging one
// change (one call per change, as a consumer logs each message), against
// the bare append of the same line to a file.
func BenchmarkFileWriteChange(b *testing.B) {
	e := benchEvent(b)
	ctx := context.Background()
	b.Run("store", func(b *testing.B) {
		st, err := eventlog.OpenFileStore(b.TempDir(), eventlog.FileConfig{Topology: benchTopology})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		i := 0
		for b.Loop() {
			if err := st.WriteChanges(ctx, nth(e, i)); err != nil {
				b.Fatal(err)
			}
			i++
		}
		benchfig.Record("eventlog_append_us", perOpMicros(b, i), "us")
	})
	b.Run("baseline_bare_append", func(b *testing.B) {
		f, err := os.OpenFile(filepath.Join(b.TempDir(), "bare.jsonl"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		line, _ := json.Marshal(eventlog.Change{Event: e})
		line = append(line, '\n')
		i := 0
		for b.Loop() {
			if _, err := f.Write(line); err != nil {
				b.Fatal(err)
			}
			i++
		}
		benchfig.Record("eventlog_append_baseline_bare_write_us", perOpMicros(b, i), "us")
	})
	b.Run("store_batch10", func(b *testing.B) {
		st, err := eventlog.OpenFileStore(b.TempDir(), eventlog.FileConfig{Topology: benchTopology})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		i := 0
		batch := make([]change.Event, 10)
		for b.Loop() {
			for j := range batch {
				batch[j] = nth(e, i+j)
			}
			if err := st.WriteChanges(ctx, batch...); err != nil {
				b.Fatal(err)
			}
			i += len(batch)
		}
		benchfig.Record("eventlog_append_batch10_us", perOpMicros(b, i), "us")
	})
}

// BenchmarkFileTopicAppend is the file store's cost of giving a change a
// position in a topic.
func BenchmarkFileTopicAppend(b *testing.B) {
	e := benchEvent(b)
	st, err := eventlog.OpenFileStore(b.TempDir(), eventlog.FileConfig{Topology: benchTopology})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	i := 0
	for b.Loop() {
		if _, err := st.Append(ctx, "order:ord-1001", nth(e, i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
	benchfig.Record("eventlog_topic_append_us", perOpMicros(b, i), "us")
}

// BenchmarkDynamoWriteChanges is the DynamoDB store's cost per change on
// the emulator, in batches of 10 (an SQS batch), against a bare PutItem
// of the same item per change, in the same run.
func BenchmarkDynamoWriteChanges(b *testing.B) {
	e := benchEvent(b)
	ctx := context.Background()
	db, table := newTable(b)
	st := dynamoStore(b, db, table, eventlogtest.Settings{Topology: benchTopology})
	b.Run("store_batch10", func(b *testing.B) {
		i := 0
		batch := make([]change.Event, 10)
		for b.Loop() {
			for j := range batch {
				batch[j] = nth(e, i+j)
			}
			if err := st.WriteChanges(ctx, batch...); err != nil {
				b.Fatal(err)
			}
			i += len(batch)
		}
		benchfig.Record("eventlog_dynamodb_write_us", perOpMicros(b, i), "us")
	})
	b.Run("baseline_putitem", func(b *testing.B) {
		data, _ := json.Marshal(eventlog.Change{Event: e})
		i := 0
		for b.Loop() {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
				"pk":   &types.AttributeValueMemberS{Value: fmt.Sprintf("bare#%d", i)},
				"sk":   &types.AttributeValueMemberS{Value: "change"},
				"data": &types.AttributeValueMemberS{Value: string(data)},
			}})
			if err != nil {
				b.Fatal(err)
			}
			i++
		}
		benchfig.Record("eventlog_dynamodb_baseline_putitem_us", perOpMicros(b, i), "us")
	})
}
