package store

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// A topic's pushed position (the last position of its log whose pushes
// are done) is a row of the topic's partition in the subscriptions table,
// under the sort key pushedKey, which no subscription has (subscription
// keys start with a connection id): the fan-out keeps the pushes of a
// topic in the order of its log with it. It expires like a connection
// (TTL): a topic quiet for that long has nothing left to order.
const pushedKey = "#pushed"

// Pushed is a topic's pushed position, 0 when none is known.
func (st *Store) Pushed(ctx context.Context, topic string) (uint64, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &st.cfg.SubscriptionsTable,
		Key:            map[string]types.AttributeValue{"topic": s(topic), "subKey": s(pushedKey)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return 0, fmt.Errorf("topic %s: read pushed position: %w", topic, err)
	}
	if len(out.Item) == 0 || num(out.Item["expiresAt"]) <= st.cfg.Now().Unix() {
		return 0, nil
	}
	return uint64(num(out.Item["pushed"])), nil
}

// SetPushed moves a topic's pushed position forward to position (never
// back).
func (st *Store) SetPushed(ctx context.Context, topic string, position uint64) error {
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &st.cfg.SubscriptionsTable,
		Key:                       map[string]types.AttributeValue{"topic": s(topic), "subKey": s(pushedKey)},
		UpdateExpression:          aws.String("SET pushed = :p, expiresAt = :exp"),
		ConditionExpression:       aws.String("attribute_not_exists(pushed) OR pushed < :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": n(int64(position)), ":exp": n(st.cfg.Now().Add(st.cfg.TTL).Unix())},
	})
	if err != nil && !st.isCondFailed(err) {
		return fmt.Errorf("topic %s: set pushed position: %w", topic, err)
	}
	return nil
}
