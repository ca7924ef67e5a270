package emulator_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
)

// A DynamoDB transaction on the emulator is all or nothing, as on
// DynamoDB, with the emulator's lighter rollback: one that is cancelled
// leaves every item it named (updated, put, deleted) as it was and adds
// no stream record; one that goes through writes them all, each with its
// stream record.
func TestTransactionsAreAllOrNothing(t *testing.T) {
	ctx := context.Background()
	cfg := startEmulator(t)
	db, streams := dynamodb.NewFromConfig(cfg), dynamodbstreams.NewFromConfig(cfg)
	out, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String("tx"), BillingMode: types.BillingModePayPerRequest,
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS},
		},
		StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages},
	})
	if err != nil {
		t.Fatal(err)
	}
	key := func(pk, sk string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: sk}}
	}
	item := func(pk, sk, n string) map[string]types.AttributeValue {
		it := key(pk, sk)
		it["n"] = &types.AttributeValueMemberN{Value: n}
		return it
	}
	for _, it := range []map[string]types.AttributeValue{item("a", "1", "1"), item("a", "2", "2"), item("b", "1", "7")} {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("tx"), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	records := func() int {
		t.Helper()
		d, err := streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: out.TableDescription.LatestStreamArn})
		if err != nil {
			t.Fatal(err)
		}
		it, err := streams.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
			StreamArn: out.TableDescription.LatestStreamArn, ShardId: d.StreamDescription.Shards[0].ShardId, ShardIteratorType: "TRIM_HORIZON",
		})
		if err != nil {
			t.Fatal(err)
		}
		r, err := streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil {
			t.Fatal(err)
		}
		return len(r.Records)
	}
	state := func() map[string]string {
		t.Helper()
		got := map[string]string{}
		for _, k := range [][2]string{{"a", "1"}, {"a", "2"}, {"a", "3"}, {"b", "1"}} {
			o, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("tx"), Key: key(k[0], k[1]), ConsistentRead: aws.Bool(true)})
			if err != nil {
				t.Fatal(err)
			}
			if n, ok := o.Item["n"].(*types.AttributeValueMemberN); ok {
				got[k[0]+k[1]] = n.Value
			}
		}
		return got
	}
	transaction := func(checkN string) error {
		_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Update: &types.Update{TableName: aws.String("tx"), Key: key("a", "1"), UpdateExpression: aws.String("SET n = n + :one"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}}}},
			{Put: &types.Put{TableName: aws.String("tx"), Item: item("a", "3", "3"), ConditionExpression: aws.String("attribute_not_exists(pk)")}},
			{Delete: &types.Delete{TableName: aws.String("tx"), Key: key("a", "2")}},
			{ConditionCheck: &types.ConditionCheck{TableName: aws.String("tx"), Key: key("b", "1"), ConditionExpression: aws.String("n = :n"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":n": &types.AttributeValueMemberN{Value: checkN}}}},
		}})
		return err
	}
	before, streamed := state(), records()

	var canceled *types.TransactionCanceledException
	if err := transaction("8"); !errors.As(err, &canceled) {
		t.Fatalf("a transaction whose last condition fails: %v, want TransactionCanceledException", err)
	}
	if got := state(); len(got) != len(before) || got["a1"] != "1" || got["a2"] != "2" || got["b1"] != "7" {
		t.Fatalf("after a cancelled transaction: %v, want %v", got, before)
	}
	if n := records(); n != streamed {
		t.Fatalf("a cancelled transaction left %d stream records", n-streamed)
	}

	if err := transaction("7"); err != nil {
		t.Fatal(err)
	}
	if got := state(); got["a1"] != "2" || got["a3"] != "3" || got["a2"] != "" || got["b1"] != "7" {
		t.Fatalf("after the transaction: %v", got)
	}
	if n := records(); n != streamed+3 {
		t.Fatalf("the transaction added %d stream records, want 3 (update, put, delete)", n-streamed)
	}
}
