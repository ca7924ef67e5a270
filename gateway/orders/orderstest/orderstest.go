// Package orderstest gives tests of the order store, the resolvers and the
// functions the food-delivery tables on the emulator, under names unique
// to the test (lib/app/apptest), so tests share one emulator without
// seeing each other's items.
package orderstest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/app/apptest"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/topology"
)

// CreateTables creates the given tables of the app (app or framework
// tables, by logical name) under names unique to t, and returns logical ->
// physical names. The tables are deleted when t ends.
func CreateTables(t testing.TB, logical ...string) map[string]string {
	t.Helper()
	env := apptest.Tables(t, fooddelivery.App.Topology(), logical...)
	names := map[string]string{}
	for _, name := range logical {
		names[name] = env[topology.TableEnv(name)]
	}
	return names
}

// NewStore creates the orders and restaurants tables for t, seeds the demo
// restaurants, and returns a store over them.
func NewStore(t testing.TB, db *dynamodb.Client) *orders.Store {
	t.Helper()
	names := CreateTables(t, orders.OrdersTable, orders.RestaurantsTable)
	s := orders.NewStore(db, orders.Tables{Orders: names[orders.OrdersTable], Restaurants: names[orders.RestaurantsTable]})
	if _, err := orders.Seed(context.Background(), s, orders.SeedRestaurants); err != nil {
		t.Fatalf("seed: %v", err)
	}
	return s
}

// Change is a change event about order id, as a route delivers it; the
// handlers read the order itself, so keys are what matter.
func Change(eventID, id string) change.Change[orders.Order] {
	keys, _ := json.Marshal(map[string]string{"id": id})
	return change.Change[orders.Order]{Event: change.Event{ID: eventID, Table: orders.OrdersTable, Operation: topology.Modify, Keys: keys}}
}
