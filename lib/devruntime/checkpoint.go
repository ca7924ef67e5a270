package devruntime

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/threefactor/framework/lib/topology"
)

// checkpointTable is the shape of the dev-only table that holds stream
// checkpoints, one item per reader and shard.
var checkpointTable = topology.Table{Name: "dev-checkpoints", PartitionKey: topology.Key{Name: "id", Type: topology.String}}

type checkpointAPI interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// checkpoints persist the last sequence number a reader handled in a
// shard, and whether it finished the (closed) shard.
type checkpoints struct {
	ddb   checkpointAPI
	table string
}

type checkpoint struct {
	Seq  string
	Done bool
}

func checkpointID(reader, shard string) string { return reader + "#" + shard }

func (c checkpoints) load(ctx context.Context, reader, shard string) (checkpoint, error) {
	out, err := c.ddb.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(c.table),
		Key:            map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: checkpointID(reader, shard)}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return checkpoint{}, fmt.Errorf("load checkpoint %s/%s: %w", reader, shard, err)
	}
	var cp checkpoint
	if s, ok := out.Item["seq"].(*ddbtypes.AttributeValueMemberS); ok {
		cp.Seq = s.Value
	}
	if d, ok := out.Item["done"].(*ddbtypes.AttributeValueMemberBOOL); ok {
		cp.Done = d.Value
	}
	return cp, nil
}

func (c checkpoints) save(ctx context.Context, reader, shard string, cp checkpoint) error {
	_, err := c.ddb.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(c.table),
		Item: map[string]ddbtypes.AttributeValue{
			"id":        &ddbtypes.AttributeValueMemberS{Value: checkpointID(reader, shard)},
			"reader":    &ddbtypes.AttributeValueMemberS{Value: reader},
			"shard":     &ddbtypes.AttributeValueMemberS{Value: shard},
			"seq":       &ddbtypes.AttributeValueMemberS{Value: cp.Seq},
			"done":      &ddbtypes.AttributeValueMemberBOOL{Value: cp.Done},
			"updatedAt": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(time.Now().Unix(), 10)},
		},
	})
	if err != nil {
		return fmt.Errorf("save checkpoint %s/%s at %s: %w", reader, shard, cp.Seq, err)
	}
	return nil
}
