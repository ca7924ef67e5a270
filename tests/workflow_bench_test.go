package tests

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/benchfig"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
)

// placeOrderSamples is how many placeOrder requests a run measures, at
// least; b.N when larger.
const placeOrderSamples = 200

// BenchmarkPlaceOrder measures placeOrder over HTTP against the dev stack
// on the emulator: request to response, one at a time after a warm-up.
// The baseline, measured in the same run and interleaved with it so both
// see the same background load (the workflow the orders set off), is a
// bare DynamoDB PutItem of a similar item on the same emulator: the one
// write placeOrder makes, without GraphQL, HTTP or the restaurant read.
//
//	go test ./tests -run '^$' -bench PlaceOrder
func BenchmarkPlaceOrder(b *testing.B) {
	s := startDev(b)
	ctx := context.Background()
	db := dynamodb.NewFromConfig(emulatortest.Config(b))
	table := "bench-putitem-" + orders.NewID("")[:8]
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
	}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})

	put := func() error {
		item, err := attributevalue.MarshalMap(orders.Order{
			ID: orders.NewID("ord_"), Status: orders.Placed, RestaurantID: "r-pizza",
			Items: []orders.Item{{MenuItemID: "margherita", Quantity: 1}}, Payments: []orders.Payment{},
			CorrelationID: "bench", CreatedAt: time.Now().UTC().Format(time.RFC3339Nano), UpdatedAt: "x",
		})
		if err != nil {
			return err
		}
		_, err = db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item, ConditionExpression: aws.String("attribute_not_exists(id)")})
		return err
	}
	place := func() error {
		o, err := s.placeOrder(ctx, "r-pizza", item("margherita", 1))
		if err == nil && o.Status != "PLACED" {
			err = fmt.Errorf("placed order is %s", o.Status)
		}
		return err
	}
	for i := 0; i < 20; i++ { // warm-up: connections, caches, JIT of the emulator's paths
		if err := place(); err != nil {
			b.Fatal(err)
		}
		if err := put(); err != nil {
			b.Fatal(err)
		}
	}

	n := max(b.N, placeOrderSamples)
	placeLat := make([]time.Duration, 0, n)
	putLat := make([]time.Duration, 0, n)
	b.ResetTimer()
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if err := place(); err != nil {
			b.Fatal(err)
		}
		placeLat = append(placeLat, time.Since(t0))
		b.StopTimer()
		t0 = time.Now()
		if err := put(); err != nil {
			b.Fatal(err)
		}
		putLat = append(putLat, time.Since(t0))
		b.StartTimer()
	}
	b.StopTimer()
	p50, p99 := percentile(placeLat, 50), percentile(placeLat, 99)
	base := percentile(putLat, 50)
	b.ReportMetric(p50, "p50-ms")
	b.ReportMetric(p99, "p99-ms")
	b.ReportMetric(base, "putitem-p50-ms")
	b.ReportMetric(float64(n), "samples")
	benchfig.Record("place_order_p50_ms", p50, "ms")
	benchfig.Record("place_order_p99_ms", p99, "ms")
	benchfig.Record("place_order_baseline_putitem_p50_ms", base, "ms")
}

// percentile is the p-th percentile (nearest rank) in milliseconds.
func percentile(ds []time.Duration, p int) float64 {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := (p*len(s) + 99) / 100
	if rank < 1 {
		rank = 1
	}
	return float64(s[rank-1].Microseconds()) / 1000
}
