package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Pushes that failed after their retries are kept on the subscription's
// item (the list "pending", oldest first) until they are delivered, in
// order and before any newer push to the subscription; the connection
// item lists the subscriptions holding some ("pending", a string set) so
// that the realtime handler delivers them when the client is next heard
// from. Both go with the connection. One deliverer at a time holds a
// subscription's pending list (a lease, "flushUntil"), so that two never
// post the same push.

// AddPending appends pushes to a subscription's pending list and reports
// how many it holds then. ErrNotFound when the subscription is gone.
func (st *Store) AddPending(ctx context.Context, sub Subscription, ps ...Pending) (int, error) {
	items := make([]types.AttributeValue, len(ps))
	for i, p := range ps {
		items[i] = encodePending(p)
	}
	out, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        &st.cfg.SubscriptionsTable,
		Key:              subKeyOf(sub),
		UpdateExpression: aws.String("SET pending = list_append(if_not_exists(pending, :empty), :new)"),
		// The row may be gone (completed): do not recreate it.
		ConditionExpression: aws.String("attribute_exists(subKey)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":empty": &types.AttributeValueMemberL{Value: []types.AttributeValue{}},
			":new":   &types.AttributeValueMemberL{Value: items},
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if st.isCondFailed(err) {
		return 0, fmt.Errorf("subscription %s on %s: %w", sub.ID, sub.ConnectionID, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("subscription %s on %s: keep pushes: %w", sub.ID, sub.ConnectionID, err)
	}
	held := 0
	if l, ok := out.Attributes["pending"].(*types.AttributeValueMemberL); ok {
		held = len(l.Value)
	}
	if err := st.update(ctx, sub.ConnectionID, "ADD pending :ids", nil, idSet(sub.ID)); err != nil {
		return held, err
	}
	return held, nil
}

// TakePending leases a subscription's pending pushes for lease: it
// returns them, or none when there are none or another deliverer holds
// them. Release the lease with DonePending.
func (st *Store) TakePending(ctx context.Context, sub Subscription, lease time.Duration) ([]Pending, error) {
	now := st.cfg.Now()
	out, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &st.cfg.SubscriptionsTable,
		Key:                 subKeyOf(sub),
		UpdateExpression:    aws.String("SET flushUntil = :until"),
		ConditionExpression: aws.String("size(pending) > :zero AND (attribute_not_exists(flushUntil) OR flushUntil < :now)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":until": n(now.Add(lease).UnixMilli()), ":now": n(now.UnixMilli()), ":zero": n(0),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if st.isCondFailed(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("subscription %s on %s: take pending pushes: %w", sub.ID, sub.ConnectionID, err)
	}
	got, err := decodeSub(out.Attributes)
	if err != nil {
		return nil, err
	}
	return got.Pending, nil
}

// DonePending drops the first delivered pushes of the list TakePending
// returned and releases the lease. When none is left, the connection no
// longer lists the subscription.
func (st *Store) DonePending(ctx context.Context, sub Subscription, delivered int) error {
	parts := make([]string, 0, delivered+1)
	for i := range delivered {
		parts = append(parts, "pending["+strconv.Itoa(i)+"]")
	}
	parts = append(parts, "flushUntil")
	out, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &st.cfg.SubscriptionsTable,
		Key:                 subKeyOf(sub),
		UpdateExpression:    aws.String("REMOVE " + strings.Join(parts, ", ")),
		ConditionExpression: aws.String("attribute_exists(subKey)"),
		ReturnValues:        types.ReturnValueAllNew,
	})
	if st.isCondFailed(err) {
		return nil // gone with its pushes
	}
	if err != nil {
		return fmt.Errorf("subscription %s on %s: drop delivered pushes: %w", sub.ID, sub.ConnectionID, err)
	}
	if l, ok := out.Attributes["pending"].(*types.AttributeValueMemberL); ok && len(l.Value) > 0 {
		return nil
	}
	if err := st.update(ctx, sub.ConnectionID, "DELETE pending :ids", nil, idSet(sub.ID)); err != nil {
		return err
	}
	// A push kept in between lists it again.
	again, err := st.GetSubscription(ctx, sub.Topic, sub.ConnectionID, sub.ID)
	if err == nil && len(again.Pending) > 0 {
		return st.update(ctx, sub.ConnectionID, "ADD pending :ids", nil, idSet(sub.ID))
	}
	return nil
}

// encodePending is a kept push as an element of a subscription's
// pending list; the change's ids are left out when empty.
func encodePending(p Pending) types.AttributeValue {
	m := map[string]types.AttributeValue{"p": n(int64(p.Position)), "f": s(string(p.Frame))}
	for k, v := range map[string]string{"e": p.Event.ID, "c": p.Event.CorrelationID, "by": p.Event.CausedBy} {
		if v != "" {
			m[k] = s(v)
		}
	}
	return &types.AttributeValueMemberM{Value: m}
}

func decodePending(m map[string]types.AttributeValue) Pending {
	return Pending{
		Position: uint64(num(m["p"])), Frame: []byte(str(m["f"])),
		Event: PendingEvent{ID: str(m["e"]), CorrelationID: str(m["c"]), CausedBy: str(m["by"])},
	}
}
