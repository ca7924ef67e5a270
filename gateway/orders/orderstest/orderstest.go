// Package orderstest creates the food-delivery tables on the emulator for
// tests, with names unique to the test, so tests of the store, resolvers
// and functions share one emulator without seeing each other's items.
package orderstest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	appevents "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/topology"
)

// CreateTables creates the given tables of the app's topology (app or
// framework tables, by logical name) under names unique to t, and returns
// logical -> physical names. The tables are deleted when t ends.
func CreateTables(t testing.TB, db *dynamodb.Client, logical ...string) map[string]string {
	t.Helper()
	ctx := context.Background()
	suffix := strings.ToLower(orders.NewID(""))[:10]
	names := map[string]string{}
	for _, name := range logical {
		tb, ok := appevents.Topology.Table(name)
		if !ok {
			t.Fatalf("no table %q in the topology", name)
		}
		phys := fmt.Sprintf("t-%s-%s", name, suffix)
		if _, err := db.CreateTable(ctx, createInput(tb, phys)); err != nil {
			t.Fatalf("create table %s: %v", phys, err)
		}
		names[name] = phys
		t.Cleanup(func() {
			_, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(phys)})
		})
	}
	return names
}

func createInput(tb topology.Table, phys string) *dynamodb.CreateTableInput {
	attrs := map[string]types.ScalarAttributeType{}
	keySchema := func(pk topology.Key, sk *topology.Key) []types.KeySchemaElement {
		attrs[pk.Name] = types.ScalarAttributeType(pk.Type)
		ks := []types.KeySchemaElement{{AttributeName: aws.String(pk.Name), KeyType: types.KeyTypeHash}}
		if sk != nil {
			attrs[sk.Name] = types.ScalarAttributeType(sk.Type)
			ks = append(ks, types.KeySchemaElement{AttributeName: aws.String(sk.Name), KeyType: types.KeyTypeRange})
		}
		return ks
	}
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(phys),
		BillingMode: types.BillingModePayPerRequest,
		KeySchema:   keySchema(tb.PartitionKey, tb.SortKey),
	}
	for _, ix := range tb.Indexes {
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
			IndexName:  aws.String(ix.Name),
			KeySchema:  keySchema(ix.PartitionKey, ix.SortKey),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		})
	}
	for n, typ := range attrs {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String(n), AttributeType: typ})
	}
	return in
}

// NewStore creates the orders and restaurants tables for t, seeds the demo
// restaurants, and returns a store over them.
func NewStore(t testing.TB, db *dynamodb.Client) *orders.Store {
	t.Helper()
	names := CreateTables(t, db, appevents.Orders, appevents.Restaurants)
	s := orders.NewStore(db, orders.Tables{Orders: names[appevents.Orders], Restaurants: names[appevents.Restaurants]})
	if _, err := orders.Seed(context.Background(), s, orders.SeedRestaurants); err != nil {
		t.Fatalf("seed: %v", err)
	}
	return s
}

// Change is a change event about order id, as a route delivers it; the
// handlers read the order itself, so keys are what matter.
func Change(eventID, id string) change.Change[orders.Order] {
	keys, _ := json.Marshal(map[string]string{"id": id})
	return change.Change[orders.Order]{Event: change.Event{ID: eventID, Table: appevents.Orders, Operation: topology.Modify, Keys: keys}}
}
