// Package messages is the chat app's data: a message in a room, and the
// store that writes and reads the messages table. The API and the
// moderate function share it.
package messages

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/correlation"
)

// Table is the messages table's logical name: partition key room, sort
// key id, with a stream.
const Table = "messages"

// Status is where a message is in its life.
type Status string

// Statuses. A message is posted PENDING and moderation publishes it; only
// PUBLISHED messages are shown.
const (
	Pending   Status = "PENDING"
	Published Status = "PUBLISHED"
)

// Message is one message of a room, as the table and change images hold it.
type Message struct {
	Room   string `dynamodbav:"room" json:"room"`
	ID     string `dynamodbav:"id" json:"id"`
	Author string `dynamodbav:"author" json:"author"`
	Text   string `dynamodbav:"text" json:"text"`
	Status Status `dynamodbav:"status" json:"status"`
	// Flagged says moderation changed the text.
	Flagged bool   `dynamodbav:"flagged" json:"flagged"`
	SentAt  string `dynamodbav:"sentAt" json:"sentAt"`
	// CorrelationID is the id of the request that posted the message;
	// its change events carry it.
	CorrelationID string `dynamodbav:"correlationId,omitempty" json:"correlationId,omitempty"`
}

// ErrNotFound is returned for a message that does not exist.
var ErrNotFound = errors.New("message not found")

// dynamoDB is the part of the DynamoDB client the store uses.
type dynamoDB interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Store reads and writes the messages table.
type Store struct {
	db    dynamoDB
	table string
	// Now is the clock of sentAt and ids; tests may replace it.
	Now func() time.Time
}

// NewStore is a store of the physical table named table.
func NewStore(db dynamoDB, table string) *Store {
	return &Store{db: db, table: table, Now: time.Now}
}

// StoreFromEnv is the store of the messages table a component's
// environment names.
func StoreFromEnv(env *app.Env) (*Store, error) {
	table, err := env.Table(Table)
	if err != nil {
		return nil, err
	}
	return NewStore(env.DynamoDB(), table), nil
}

// NewID is a message id that sorts by time: the sending time in
// nanoseconds, then randomness.
func NewID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("msg_%019d_%s", now.UnixNano(), hex.EncodeToString(b[:]))
}

// Post writes a new PENDING message of author in room, in one conditional
// PutItem, and returns it.
func (s *Store) Post(ctx context.Context, room, author, text string) (Message, error) {
	now := s.Now().UTC()
	m := Message{
		Room: room, ID: NewID(now), Author: author, Text: text, Status: Pending,
		SentAt: now.Format(time.RFC3339Nano), CorrelationID: correlation.From(ctx),
	}
	item, err := attributevalue.MarshalMap(m)
	if err != nil {
		return Message{}, err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: item,
		ConditionExpression: aws.String("attribute_not_exists(id)"),
	})
	if err != nil {
		return Message{}, fmt.Errorf("post message in %s: %w", room, err)
	}
	return m, nil
}

// Publish makes a PENDING message PUBLISHED with text (the moderated
// text) and flagged. It reports false, and changes nothing, when the
// message is not PENDING (already published, or gone): a second run of
// moderation does nothing.
func (s *Store) Publish(ctx context.Context, room, id, text string, flagged bool) (bool, error) {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.table),
		Key:                 key(room, id),
		UpdateExpression:    aws.String("SET #text = :text, flagged = :flagged, #status = :published"),
		ConditionExpression: aws.String("#status = :pending"),
		ExpressionAttributeNames: map[string]string{
			"#text": "text", "#status": "status",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":text":      &types.AttributeValueMemberS{Value: text},
			":flagged":   &types.AttributeValueMemberBOOL{Value: flagged},
			":published": &types.AttributeValueMemberS{Value: string(Published)},
			":pending":   &types.AttributeValueMemberS{Value: string(Pending)},
		},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("publish message %s/%s: %w", room, id, err)
	}
	return true, nil
}

// Get reads one message, consistently.
func (s *Store) Get(ctx context.Context, room, id string) (Message, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(room, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Message{}, fmt.Errorf("read message %s/%s: %w", room, id, err)
	}
	if out.Item == nil {
		return Message{}, ErrNotFound
	}
	var m Message
	err = attributevalue.UnmarshalMap(out.Item, &m)
	return m, err
}

// Room lists the published messages of room, oldest first, at most limit.
func (s *Store) Room(ctx context.Context, room string, limit int) ([]Message, error) {
	var out []Message
	var start map[string]types.AttributeValue
	for len(out) < limit {
		res, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                aws.String(s.table),
			KeyConditionExpression:   aws.String("room = :room"),
			FilterExpression:         aws.String("#status = :published"),
			ExpressionAttributeNames: map[string]string{"#status": "status"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":room":      &types.AttributeValueMemberS{Value: room},
				":published": &types.AttributeValueMemberS{Value: string(Published)},
			},
			ConsistentRead:    aws.Bool(true),
			ExclusiveStartKey: start,
		})
		if err != nil {
			return nil, fmt.Errorf("list room %s: %w", room, err)
		}
		var page []Message
		if err := attributevalue.UnmarshalListOfMaps(res.Items, &page); err != nil {
			return nil, err
		}
		out = append(out, page...)
		if res.LastEvaluatedKey == nil {
			break
		}
		start = res.LastEvaluatedKey
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func key(room, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"room": &types.AttributeValueMemberS{Value: room},
		"id":   &types.AttributeValueMemberS{Value: id},
	}
}
