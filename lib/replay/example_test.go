package replay_test

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/replay"
	"github.com/threefactor/framework/lib/topology"
)

// A logged image becomes the item it was: key attributes of their
// declared types, the rest as JSON gives them.
func ExampleItemFromImage() {
	lines, _ := shop.Table("lines")
	item, err := replay.ItemFromImage(lines, []byte(`{"order":"o1","n":3,"sku":"pizza","qty":2,"gift":false}`))
	if err != nil {
		panic(err)
	}
	fmt.Printf("%T %T %T\n", item["order"], item["n"], item["gift"])
	// Output: *types.AttributeValueMemberS *types.AttributeValueMemberN *types.AttributeValueMemberBOOL
}

// Restore the state of the local log into another environment's empty
// tables, then hold the tables to the log's state.
func ExampleRestore() {
	ctx := context.Background()
	var topo topology.Topology // the app's: app.Topology()
	log, err := eventlog.OpenFileReader(eventlog.LocalDir(".dev"), eventlog.FileConfig{Topology: topo})
	if err != nil {
		panic(err)
	}
	var db *dynamodb.Client // the target environment's
	res, err := replay.Restore(ctx, log, db, replay.RestoreOptions{Topology: topo, Tables: map[string]string{"orders": "staging-orders"}})
	if err != nil {
		panic(err)
	}
	got, _ := replay.DigestTables(ctx, db, map[string]string{"orders": "staging-orders"})
	fmt.Println(res.Items, "items; as logged:", got.Equal(res.Expected))
}
