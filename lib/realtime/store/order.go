package store

import (
	"context"
	"fmt"
	"time"

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

// logKey is the sort key of a topic's resumable mark: the realtime
// handler sets it before it stores a subscription to the topic, and for
// as long as a cursor of the topic may be held (the event log's
// retention). The fan-out appends a topic's changes to its log only while
// the mark is there (or the topic has subscriptions): no client can hold
// a cursor of a topic nobody subscribed to, and an unwatched topic (a
// restaurant nobody watches) costs no append.
const logKey = "#log"

// MarkResumable marks a topic as one whose changes go into its log, for
// ttl, and returns since when it is marked: now when it was not (the log
// holds none of the topic's earlier changes), earlier when it was.
func (st *Store) MarkResumable(ctx context.Context, topic string, ttl time.Duration) (time.Time, error) {
	now := st.cfg.Now()
	key := map[string]types.AttributeValue{"topic": s(topic), "subKey": s(logKey)}
	out, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &st.cfg.SubscriptionsTable,
		Key:                       key,
		UpdateExpression:          aws.String("SET expiresAt = :exp, markedAt = if_not_exists(markedAt, :now)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":exp": n(now.Add(ttl).Unix()), ":now": n(now.UnixMilli())},
		ReturnValues:              types.ReturnValueAllOld,
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("topic %s: mark resumable: %w", topic, err)
	}
	if num(out.Attributes["expiresAt"]) > now.Unix() {
		return time.UnixMilli(num(out.Attributes["markedAt"])), nil
	}
	if _, ok := out.Attributes["markedAt"]; ok {
		// A mark that had expired (DynamoDB's TTL deletes within days):
		// marked anew from now.
		if _, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &st.cfg.SubscriptionsTable, Key: key,
			UpdateExpression:          aws.String("SET markedAt = :now"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": n(now.UnixMilli())},
		}); err != nil {
			return time.Time{}, fmt.Errorf("topic %s: mark resumable: %w", topic, err)
		}
	}
	return now, nil
}
