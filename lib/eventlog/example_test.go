package eventlog_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/topology"
)

var exampleTopology = topology.Topology{App: "shop", Tables: []topology.Table{
	{Name: "orders", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true},
}}

// The local log: the dev runtime writes it, the CLI reads an item's
// history from another process.
func ExampleOpenFileStore() {
	dir, _ := os.MkdirTemp("", "eventlog")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	w, err := eventlog.OpenFileStore(dir, eventlog.FileConfig{Topology: exampleTopology})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for i, status := range []string{"PLACED", "VALIDATED", "PAID"} {
		err := w.WriteChanges(ctx, change.Event{
			ID: fmt.Sprintf("ev-%d", i), Table: "orders", Operation: topology.Modify,
			Keys:           json.RawMessage(`{"id":"ord_1"}`),
			New:            json.RawMessage(`{"id":"ord_1","status":"` + status + `"}`),
			SequenceNumber: fmt.Sprintf("1000000000000000000000%d", i),
			ApproximateAt:  at.Add(time.Duration(i) * time.Second),
			CorrelationID:  "req-1",
		})
		if err != nil {
			log.Fatal(err)
		}
	}

	r, err := eventlog.OpenFileReader(dir, eventlog.FileConfig{Topology: exampleTopology})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	item, err := eventlog.ParseItemKey(exampleTopology, "orders/ord_1")
	if err != nil {
		log.Fatal(err)
	}
	history, err := r.ItemHistory(ctx, item)
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range history {
		fmt.Println(c.Item, c.ID, string(c.New))
	}
	// Output:
	// orders/ord_1 ev-0 {"id":"ord_1","status":"PLACED"}
	// orders/ord_1 ev-1 {"id":"ord_1","status":"VALIDATED"}
	// orders/ord_1 ev-2 {"id":"ord_1","status":"PAID"}
}

// The cloud log in a Lambda: the table's name comes from the environment
// the stack sets.
func ExampleNewDynamoStore() {
	ctx := context.Background()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	cfg, err := eventlog.DynamoConfigFromEnv(os.Getenv, exampleTopology)
	if err != nil {
		log.Fatal(err)
	}
	st, err := eventlog.NewDynamoStore(dynamodb.NewFromConfig(awsCfg), cfg)
	if err != nil {
		log.Fatal(err)
	}
	trace, err := st.Trace(ctx, "req-1")
	if err != nil {
		log.Fatal(err)
	}
	for _, step := range trace {
		fmt.Println(step.At.Format(time.RFC3339), step.Kind())
	}
}

// Realtime resume: a subscription's cursor is a topic position; the
// changes after it come from the log, or the client must start over.
func ExampleLog_Read() {
	dir, _ := os.MkdirTemp("", "eventlog")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	l, err := eventlog.OpenFileStore(dir, eventlog.FileConfig{Topology: exampleTopology})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	cursor, _ := l.Head(ctx, "order:ord_1") // given with the snapshot
	for i := range 2 {
		e := change.Event{ID: fmt.Sprintf("ev-%d", i), Table: "orders", Operation: topology.Modify,
			Keys: json.RawMessage(`{"id":"ord_1"}`), SequenceNumber: fmt.Sprintf("20000000000000000000%d", i)}
		if _, err := l.Append(ctx, "order:ord_1", e); err != nil { // by the fan-out, before pushing
			log.Fatal(err)
		}
	}

	missed, err := l.Read(ctx, "order:ord_1", cursor, 100)
	switch {
	case errors.Is(err, eventlog.ErrExpired):
		fmt.Println("RESYNC_REQUIRED")
	case err != nil:
		log.Fatal(err)
	}
	for _, m := range missed {
		fmt.Println(m.Event.ID, m.Position-cursor)
	}
	// Output:
	// ev-0 1
	// ev-1 2
}
