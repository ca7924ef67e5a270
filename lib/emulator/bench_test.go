package emulator_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/threefactor/framework/lib/benchfig"
	"github.com/threefactor/framework/lib/emulator"
)

func TestMain(m *testing.M) { os.Exit(benchfig.Main(m)) }

// BenchmarkRequests times DynamoDB requests on the emulator this package
// starts and, as the baseline in the same run, on moto_server as
// installed: a GetItem, and a Query of one partition (10 items) in a
// table of 10,000 items. What a request costs on the emulator is what
// every call of a dev runtime waits behind, since DynamoDB requests run
// one at a time there.
func BenchmarkRequests(b *testing.B) {
	ctx := context.Background()
	ours, err := emulator.Start(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	defer ours.Close()
	moto, err := emulator.StartMoto(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer moto.Close()
	for _, s := range []struct {
		name   string
		server *emulator.Server
	}{{"emulator", ours}, {"emulator_moto", moto}} {
		cfg, err := emulator.Config(ctx, s.server.Endpoint())
		if err != nil {
			b.Fatal(err)
		}
		db := dynamodb.NewFromConfig(cfg)
		createTable(b, db, "big", true)
		for start := 0; start < 10_000; start += 25 {
			reqs := make([]types.WriteRequest, 0, 25)
			for i := start; i < start+25; i++ {
				reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
					"pk": str(fmt.Sprintf("p%d", i/10)), "sk": num(i % 10), "tag": str("t"), "body": str("some text of an item"),
				}}})
			}
			if _, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{"big": reqs}}); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(s.name, func(b *testing.B) {
			n := max(b.N, 50)
			var get, query time.Duration
			for i := range n {
				key := map[string]types.AttributeValue{"pk": str(fmt.Sprintf("p%d", i%1000)), "sk": num(i % 10)}
				start := time.Now()
				if _, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("big"), Key: key}); err != nil {
					b.Fatal(err)
				}
				get += time.Since(start)
				start = time.Now()
				out, err := db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("big"), KeyConditionExpression: aws.String("pk = :p"),
					ExpressionAttributeValues: map[string]types.AttributeValue{":p": key["pk"]}})
				if err != nil || len(out.Items) != 10 {
					b.Fatalf("query: %v, %d items", err, len(out.Items))
				}
				query += time.Since(start)
			}
			benchfig.Record(s.name+"_getitem_us", float64(get.Microseconds())/float64(n), "us")
			benchfig.Record(s.name+"_query_of_10k_items_us", float64(query.Microseconds())/float64(n), "us")
		})
	}
}
