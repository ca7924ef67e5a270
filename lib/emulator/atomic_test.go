package emulator_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/threefactor/framework/lib/emulator"
)

// startEmulator starts an emulator of its own for t (not in -short) and
// returns the AWS configuration for it.
func startEmulator(t *testing.T) aws.Config {
	t.Helper()
	if testing.Short() {
		t.Skip("starts moto: runs in make test, not with -short")
	}
	ctx := context.Background()
	s, err := emulator.Start(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cfg, err := emulator.Config(ctx, s.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Concurrent conditional updates of one item: exactly one wins, as on
// DynamoDB. moto's own threaded server lets several win; the emulator
// this package starts serializes DynamoDB requests.
func TestConditionalWritesAreAtomic(t *testing.T) {
	ctx := context.Background()
	cfg := startEmulator(t)
	db := dynamodb.NewFromConfig(cfg)
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String("items"), BillingMode: types.BillingModePayPerRequest,
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
	}); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 40; round++ {
		id := &types.AttributeValueMemberS{Value: fmt.Sprint(round)}
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("items"), Item: map[string]types.AttributeValue{
			"id": id, "status": &types.AttributeValueMemberS{Value: "VALIDATED"}, "payments": &types.AttributeValueMemberL{},
		}}); err != nil {
			t.Fatal(err)
		}
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Move the item on and append to a list, on condition of its
				// status: the shape of a payment being recorded.
				_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
					TableName: aws.String("items"), Key: map[string]types.AttributeValue{"id": id},
					UpdateExpression:         aws.String("SET #s = :paid, payments = list_append(payments, :p)"),
					ConditionExpression:      aws.String("#s = :validated"),
					ExpressionAttributeNames: map[string]string{"#s": "status"},
					ExpressionAttributeValues: map[string]types.AttributeValue{
						":paid": &types.AttributeValueMemberS{Value: "PAID"}, ":validated": &types.AttributeValueMemberS{Value: "VALIDATED"},
						":p": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberN{Value: fmt.Sprint(i)}}},
					},
				})
				var ccf *types.ConditionalCheckFailedException
				switch {
				case err == nil:
					wins.Add(1)
				case !errors.As(err, &ccf):
					t.Errorf("put: %v", err)
				}
			}()
		}
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("round %d: %d conditional updates of one item succeeded, want 1", round, n)
		}
	}
}
