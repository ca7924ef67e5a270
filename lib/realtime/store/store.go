package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/threefactor/framework/lib/topology"
)

// Errors the store reports; test with errors.Is.
var (
	// ErrNotFound: no such connection (gone, or expired).
	ErrNotFound = errors.New("connection not found")
	// ErrInitTwice: the connection already sent connection_init.
	ErrInitTwice = errors.New("connection_init already received")
	// ErrNotAcked: the connection has not been acknowledged.
	ErrNotAcked = errors.New("connection not acknowledged")
	// ErrDuplicate: the connection already has a subscription with that id.
	ErrDuplicate = errors.New("subscription id already in use")
	// ErrCompleted: the client completed the subscription before its
	// subscribe was handled (API Gateway may run a connection's messages
	// concurrently); the subscription is not stored.
	ErrCompleted = errors.New("subscription completed before it was stored")
)

// DefaultTTL is how long a connection and its subscriptions live: API
// Gateway closes every WebSocket connection after two hours.
const DefaultTTL = 2 * time.Hour

// Config names the tables. The zero TTL means DefaultTTL.
type Config struct {
	ConnectionsTable   string
	SubscriptionsTable string
	// ByConnectionIndex is the subscriptions table's index on connectionId.
	// Default topology.SubscriptionsByConnection.
	ByConnectionIndex string
	TTL               time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// ConfigFromEnv names the tables from the environment: the framework's
// connections and subscriptions tables (topology.TableEnv of each). The
// error names every variable that is not set.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		ConnectionsTable:   getenv(topology.TableEnv(topology.ConnectionsTable)),
		SubscriptionsTable: getenv(topology.TableEnv(topology.SubscriptionsTable)),
	}
	var missing []error
	if c.ConnectionsTable == "" {
		missing = append(missing, fmt.Errorf("%s is not set", topology.TableEnv(topology.ConnectionsTable)))
	}
	if c.SubscriptionsTable == "" {
		missing = append(missing, fmt.Errorf("%s is not set", topology.TableEnv(topology.SubscriptionsTable)))
	}
	return c, errors.Join(missing...)
}

// Validate reports missing settings.
func (c Config) Validate() error {
	var errs []error
	if c.ConnectionsTable == "" {
		errs = append(errs, errors.New("store: no connections table"))
	}
	if c.SubscriptionsTable == "" {
		errs = append(errs, errors.New("store: no subscriptions table"))
	}
	if c.TTL < 0 {
		errs = append(errs, errors.New("store: negative TTL"))
	}
	return errors.Join(errs...)
}

type dynamoAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// Store is the connection and subscription store.
type Store struct {
	db  dynamoAPI
	cfg Config
}

// New returns a store over db (a *dynamodb.Client).
func New(db dynamoAPI, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.ByConnectionIndex == "" {
		cfg.ByConnectionIndex = topology.SubscriptionsByConnection
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Store{db: db, cfg: cfg}, nil
}

// SubscriptionsTable is the subscriptions table's name.
func (st *Store) SubscriptionsTable() string { return st.cfg.SubscriptionsTable }

// ConnectionsTable is the connections table's name.
func (st *Store) ConnectionsTable() string { return st.cfg.ConnectionsTable }

// Connection is one WebSocket connection's protocol state.
type Connection struct {
	ID          string
	ConnectedAt time.Time
	ExpiresAt   time.Time
	// InitReceived is set by the first connection_init.
	InitReceived bool
	// Acked is set once the connection was acknowledged.
	Acked bool
	// Session is what the app's OnConnect kept for the connection (for
	// example the caller's identity); subscriptions carry a copy.
	Session json.RawMessage
	// Subscriptions maps the ids of the connection's open subscriptions
	// to their topics.
	Subscriptions map[string]string
	// PendingSubscriptions are the ids of subscriptions that may hold
	// pushes not delivered yet: a message from the client (a ping) is the
	// moment to deliver them.
	PendingSubscriptions []string
	// completed are ids completed before their subscribe was handled.
	completed []string
}

func (c Connection) completedEarly(id string) bool {
	for _, d := range c.completed {
		if d == id {
			return true
		}
	}
	return false
}

// Subscription is one stored subscription operation.
type Subscription struct {
	Topic         string
	ConnectionID  string
	ID            string
	Query         string
	OperationName string
	Variables     map[string]any
	Session       json.RawMessage
	CreatedAt     time.Time
	ExpiresAt     time.Time

	// Catchup is set while the realtime handler delivers what the
	// subscription missed (resume with after, or the changes since its
	// snapshot): the fan-out does not push to it then, it bumps Gen
	// (Nudge) so that the catch-up reads the log once more before it goes
	// live (GoLive).
	Catchup bool
	// Gen counts the fan-out's nudges during catch-up.
	Gen int64
	// Cursor is the position of the last change the catch-up delivered
	// (0: none): the fan-out pushes only changes after it.
	Cursor uint64
	// Pending are pushes that could not be delivered yet (AddPending), in
	// order: they go before any newer push.
	Pending []Pending
}

// Pending is a push kept for a later delivery: the frame as it would
// have been posted, and the position of its change in the topic's log.
type Pending struct {
	Position uint64
	Frame    []byte
	// Event is the change the push is of (its ID, CorrelationID and
	// CausedBy only), for the record of its later delivery; empty for a
	// push kept before these were.
	Event PendingEvent
}

// PendingEvent is what a kept push remembers of its change.
type PendingEvent struct {
	ID, CorrelationID, CausedBy string
}

// SubKey is the subscriptions table's sort key.
func SubKey(connectionID, subscriptionID string) string {
	return connectionID + "#" + subscriptionID
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

// newToken marks one logical write. A conditional write the SDK retries
// after a transport error may find its own first attempt already done;
// comparing the token the item holds tells that apart from a real
// conflict (ReturnValuesOnConditionCheckFailure returns the item).
func newToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// collided is the item a failed conditional write collided with (nil
// when there was none).
func (st *Store) collided(err error) map[string]types.AttributeValue {
	var cf *types.ConditionalCheckFailedException
	if errors.As(err, &cf) {
		return cf.Item
	}
	return nil
}

func idSet(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{":ids": &types.AttributeValueMemberSS{Value: []string{id}}}
}

// The connection item keeps its open subscriptions in the map attribute
// "subs" (id -> topic), read and written with strong consistency, so the
// protocol's checks (duplicate id, complete) never depend on the
// eventually consistent by-connection index. "done" holds the ids
// completed before their subscribe was handled.

// PutConnection records a new connection, expiring TTL from now.
func (st *Store) PutConnection(ctx context.Context, id string) (Connection, error) {
	now := st.cfg.Now()
	c := Connection{ID: id, ConnectedAt: now, ExpiresAt: now.Add(st.cfg.TTL), Subscriptions: map[string]string{}}
	_, err := st.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &st.cfg.ConnectionsTable,
		Item: map[string]types.AttributeValue{
			"connectionId": s(id),
			"connectedAt":  n(now.UnixMilli()),
			"expiresAt":    n(c.ExpiresAt.Unix()),
			"subs":         &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}},
		},
	})
	if err != nil {
		return Connection{}, fmt.Errorf("put connection %s: %w", id, err)
	}
	return c, nil
}

// GetConnection reads a connection; ErrNotFound when it is gone or expired.
func (st *Store) GetConnection(ctx context.Context, id string) (Connection, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &st.cfg.ConnectionsTable,
		Key:            map[string]types.AttributeValue{"connectionId": s(id)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Connection{}, fmt.Errorf("get connection %s: %w", id, err)
	}
	if out.Item == nil {
		return Connection{}, fmt.Errorf("connection %s: %w", id, ErrNotFound)
	}
	c := Connection{
		ID:            id,
		ConnectedAt:   time.UnixMilli(num(out.Item["connectedAt"])),
		ExpiresAt:     time.Unix(num(out.Item["expiresAt"]), 0),
		InitReceived:  num(out.Item["initAt"]) != 0,
		Acked:         boolean(out.Item["acked"]),
		Session:       json.RawMessage(str(out.Item["session"])),
		Subscriptions: map[string]string{},
	}
	if len(c.Session) == 0 {
		c.Session = nil
	}
	if m, ok := out.Item["subs"].(*types.AttributeValueMemberM); ok {
		for k, v := range m.Value {
			c.Subscriptions[k] = str(v)
		}
	}
	if ss, ok := out.Item["done"].(*types.AttributeValueMemberSS); ok {
		c.completed = ss.Value
	}
	if ss, ok := out.Item["pending"].(*types.AttributeValueMemberSS); ok {
		c.PendingSubscriptions = ss.Value
	}
	// DynamoDB deletes expired items lazily; an expired item is gone.
	if !c.ExpiresAt.After(st.cfg.Now()) {
		return c, fmt.Errorf("connection %s expired: %w", id, ErrNotFound)
	}
	return c, nil
}

func (st *Store) isCondFailed(err error) bool {
	var cf *types.ConditionalCheckFailedException
	return errors.As(err, &cf)
}

// MarkInit records the connection's connection_init: ErrInitTwice when it
// already sent one, ErrNotFound when the connection is gone.
func (st *Store) MarkInit(ctx context.Context, id string) error {
	token := newToken()
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           &st.cfg.ConnectionsTable,
		Key:                                 map[string]types.AttributeValue{"connectionId": s(id)},
		UpdateExpression:                    aws.String("SET initAt = :now, initToken = :token"),
		ConditionExpression:                 aws.String("attribute_exists(connectionId) AND attribute_not_exists(initAt)"),
		ExpressionAttributeValues:           map[string]types.AttributeValue{":now": n(st.cfg.Now().UnixMilli()), ":token": s(token)},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if st.isCondFailed(err) {
		if old := st.collided(err); old != nil && str(old["initToken"]) == token {
			return nil // our own first attempt, retried after a transport error
		}
		if _, gerr := st.GetConnection(ctx, id); gerr != nil {
			return gerr
		}
		return fmt.Errorf("connection %s: %w", id, ErrInitTwice)
	}
	if err != nil {
		return fmt.Errorf("mark init %s: %w", id, err)
	}
	return nil
}

// Ack marks the connection acknowledged and keeps its session.
func (st *Store) Ack(ctx context.Context, id string, session json.RawMessage) error {
	update := "SET acked = :t"
	vals := map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}}
	if len(session) > 0 {
		update += ", #session = :s"
		vals[":s"] = s(string(session))
	}
	in := &dynamodb.UpdateItemInput{
		TableName:                 &st.cfg.ConnectionsTable,
		Key:                       map[string]types.AttributeValue{"connectionId": s(id)},
		UpdateExpression:          &update,
		ConditionExpression:       aws.String("attribute_exists(connectionId)"),
		ExpressionAttributeValues: vals,
	}
	if len(session) > 0 {
		in.ExpressionAttributeNames = map[string]string{"#session": "session"}
	}
	_, err := st.db.UpdateItem(ctx, in)
	if st.isCondFailed(err) {
		return fmt.Errorf("ack %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("ack %s: %w", id, err)
	}
	return nil
}

// AddSubscription stores a subscription for an acknowledged connection:
// ErrDuplicate when the id is in use, ErrNotAcked before the ack,
// ErrNotFound when the connection is gone, ErrCompleted when the client
// already completed it. The row is written first (only if absent) and
// then entered in the connection item under a condition, so a complete
// handled at any moment in between either finds it or leaves a tombstone.
func (st *Store) AddSubscription(ctx context.Context, sub Subscription) error {
	if sub.CreatedAt.IsZero() {
		sub.CreatedAt = st.cfg.Now()
	}
	if sub.ExpiresAt.IsZero() {
		sub.ExpiresAt = sub.CreatedAt.Add(st.cfg.TTL)
	}
	// The token tells this call's writes from anyone else's: the SDK
	// retries a write whose answer was lost, and the retry then collides
	// with the write it repeats.
	token := newToken()
	item := subItem(sub)
	item["writeToken"] = s(token)
	_, err := st.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           &st.cfg.SubscriptionsTable,
		Item:                                item,
		ConditionExpression:                 aws.String("attribute_not_exists(subKey)"),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if st.isCondFailed(err) && str(st.collided(err)["writeToken"]) != token {
		return fmt.Errorf("subscribe %s on %s: %w", sub.ID, sub.ConnectionID, ErrDuplicate)
	}
	if err != nil && !st.isCondFailed(err) {
		return fmt.Errorf("put subscription %s on %s: %w", sub.ID, sub.ConnectionID, err)
	}
	_, err = st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &st.cfg.ConnectionsTable,
		Key:                      map[string]types.AttributeValue{"connectionId": s(sub.ConnectionID)},
		UpdateExpression:         aws.String("SET subs.#id = :topic"),
		ConditionExpression:      aws.String("attribute_exists(connectionId) AND acked = :t AND attribute_not_exists(subs.#id) AND NOT contains(done, :id)"),
		ExpressionAttributeNames: map[string]string{"#id": sub.ID},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":topic": s(sub.Topic),
			":id":    s(sub.ID),
			":t":     &types.AttributeValueMemberBOOL{Value: true},
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return nil
	}
	if !st.isCondFailed(err) {
		return fmt.Errorf("subscribe %s on %s: %w", sub.ID, sub.ConnectionID, err)
	}
	if ours, err := st.ownEntry(ctx, sub, token, st.collided(err)); err != nil || ours {
		return err
	}
	// Not ours to keep: the row written above goes again.
	if err := st.deleteSub(ctx, sub.Topic, sub.ConnectionID, sub.ID); err != nil {
		return err
	}
	c, gerr := st.GetConnection(ctx, sub.ConnectionID)
	switch {
	case gerr != nil:
		return gerr
	case !c.Acked:
		return fmt.Errorf("subscribe %s on %s: %w", sub.ID, sub.ConnectionID, ErrNotAcked)
	case c.completedEarly(sub.ID):
		// The tombstone has done its work: the id may be used again.
		if err := st.update(ctx, sub.ConnectionID, "DELETE done :ids", nil, idSet(sub.ID)); err != nil {
			return err
		}
		return fmt.Errorf("subscribe %s on %s: %w", sub.ID, sub.ConnectionID, ErrCompleted)
	default:
		return fmt.Errorf("subscribe %s on %s: %w", sub.ID, sub.ConnectionID, ErrDuplicate)
	}
}

// ownEntry reports whether the entry a subscribe collided with in the
// connection item is its own (an earlier attempt of the same call): the
// entry names the same topic and the row it pairs with holds our token.
// Another subscribe with the same id cannot have entered itself while our
// row exists: its own row write would have failed first.
func (st *Store) ownEntry(ctx context.Context, sub Subscription, token string, conn map[string]types.AttributeValue) (bool, error) {
	subs, ok := conn["subs"].(*types.AttributeValueMemberM)
	if !ok || str(subs.Value[sub.ID]) != sub.Topic {
		return false, nil
	}
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &st.cfg.SubscriptionsTable,
		Key:            map[string]types.AttributeValue{"topic": s(sub.Topic), "subKey": s(SubKey(sub.ConnectionID, sub.ID))},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return false, fmt.Errorf("subscribe %s on %s: read row: %w", sub.ID, sub.ConnectionID, err)
	}
	return str(out.Item["writeToken"]) == token, nil
}

// update applies an update expression to an existing connection; a gone
// connection is not an error.
func (st *Store) update(ctx context.Context, connectionID, expr string, names map[string]string, vals map[string]types.AttributeValue) error {
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &st.cfg.ConnectionsTable,
		Key:                       map[string]types.AttributeValue{"connectionId": s(connectionID)},
		UpdateExpression:          &expr,
		ConditionExpression:       aws.String("attribute_exists(connectionId)"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: vals,
	})
	if err != nil && !st.isCondFailed(err) {
		return fmt.Errorf("update connection %s (%s): %w", connectionID, expr, err)
	}
	return nil
}

func subItem(sub Subscription) map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{
		"topic":          s(sub.Topic),
		"subKey":         s(SubKey(sub.ConnectionID, sub.ID)),
		"connectionId":   s(sub.ConnectionID),
		"subscriptionId": s(sub.ID),
		"query":          s(sub.Query),
		"createdAt":      n(sub.CreatedAt.UnixMilli()),
		"expiresAt":      n(sub.ExpiresAt.Unix()),
	}
	if sub.OperationName != "" {
		item["operationName"] = s(sub.OperationName)
	}
	if len(sub.Variables) > 0 {
		b, err := json.Marshal(sub.Variables)
		if err == nil {
			item["variables"] = s(string(b))
		}
	}
	if len(sub.Session) > 0 {
		item["session"] = s(string(sub.Session))
	}
	if sub.Catchup {
		item["catchup"] = &types.AttributeValueMemberBOOL{Value: true}
		item["gen"] = n(sub.Gen)
	}
	if sub.Cursor > 0 {
		item["cursor"] = n(int64(sub.Cursor))
	}
	return item
}

// PutSubscriptions writes subscriptions directly, without the connection
// bookkeeping of AddSubscription: for loading and benchmarks. It writes 25
// items per BatchWriteItem and retries unprocessed items.
func (st *Store) PutSubscriptions(ctx context.Context, subs []Subscription) error {
	now := st.cfg.Now()
	for start := 0; start < len(subs); start += 25 {
		end := min(start+25, len(subs))
		reqs := make([]types.WriteRequest, 0, end-start)
		for _, sub := range subs[start:end] {
			if sub.CreatedAt.IsZero() {
				sub.CreatedAt = now
			}
			if sub.ExpiresAt.IsZero() {
				sub.ExpiresAt = sub.CreatedAt.Add(st.cfg.TTL)
			}
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: subItem(sub)}})
		}
		if err := st.batchWrite(ctx, st.cfg.SubscriptionsTable, reqs); err != nil {
			return err
		}
	}
	return nil
}

func (st *Store) batchWrite(ctx context.Context, table string, reqs []types.WriteRequest) error {
	for attempt := 0; len(reqs) > 0; attempt++ {
		if attempt > 0 {
			if attempt > 8 {
				return fmt.Errorf("batch write %s: %d items still unprocessed", table, len(reqs))
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt*attempt) * 20 * time.Millisecond):
			}
		}
		out, err := st.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: reqs}})
		if err != nil {
			return fmt.Errorf("batch write %s: %w", table, err)
		}
		reqs = out.UnprocessedItems[table]
	}
	return nil
}

// RemoveSubscription deletes a connection's subscription by id (the
// client's complete). It reports whether there was one; when there was
// none, it leaves a tombstone so that a subscribe with that id still in
// flight is not stored (ErrCompleted): API Gateway may run a connection's
// messages concurrently.
func (st *Store) RemoveSubscription(ctx context.Context, connectionID, id string) (bool, error) {
	out, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &st.cfg.ConnectionsTable,
		Key:                      map[string]types.AttributeValue{"connectionId": s(connectionID)},
		UpdateExpression:         aws.String("REMOVE subs.#id"),
		ConditionExpression:      aws.String("attribute_exists(connectionId)"),
		ExpressionAttributeNames: map[string]string{"#id": id},
		ReturnValues:             types.ReturnValueUpdatedOld,
	})
	if st.isCondFailed(err) {
		return false, nil // gone: $disconnect cleans up
	}
	if err != nil {
		return false, fmt.Errorf("complete %s on %s: %w", id, connectionID, err)
	}
	var topic string
	if m, ok := out.Attributes["subs"].(*types.AttributeValueMemberM); ok {
		topic = str(m.Value[id])
	}
	if topic != "" {
		return true, st.deleteSub(ctx, topic, connectionID, id)
	}
	if err := st.update(ctx, connectionID, "ADD done :ids", nil, idSet(id)); err != nil {
		return false, err
	}
	// No entry: a subscribe not yet entered (the tombstone stops it), or
	// this is the SDK's retry of a call whose first attempt removed the
	// entry and lost its answer. Its row must go all the same.
	rows, err := st.SubscriptionsOf(ctx, connectionID)
	if err != nil {
		return false, err
	}
	found := false
	for _, r := range rows {
		if r.ID == id {
			found = true
			if err := st.deleteSub(ctx, r.Topic, connectionID, id); err != nil {
				return false, err
			}
		}
	}
	return found, nil
}

// DeleteSubscription deletes one stored subscription by its keys (the
// fan-out uses it after an error message ended a subscription).
func (st *Store) DeleteSubscription(ctx context.Context, sub Subscription) error {
	if err := st.update(ctx, sub.ConnectionID, "REMOVE subs.#id", map[string]string{"#id": sub.ID}, nil); err != nil {
		return err
	}
	return st.deleteSub(ctx, sub.Topic, sub.ConnectionID, sub.ID)
}

func (st *Store) deleteSub(ctx context.Context, topic, connectionID, id string) error {
	_, err := st.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &st.cfg.SubscriptionsTable,
		Key:       map[string]types.AttributeValue{"topic": s(topic), "subKey": s(SubKey(connectionID, id))},
	})
	if err != nil {
		return fmt.Errorf("delete subscription %s on %s: %w", id, connectionID, err)
	}
	return nil
}

// DeleteConnection deletes a connection and every subscription it has:
// those its item lists and those the by-connection index finds (the index
// may lag a write by a moment; the item does not). Deleting a gone
// connection is not an error.
func (st *Store) DeleteConnection(ctx context.Context, connectionID string) error {
	keys := map[string]string{} // subKey -> topic
	c, err := st.GetConnection(ctx, connectionID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	for id, topic := range c.Subscriptions {
		keys[SubKey(connectionID, id)] = topic
	}
	subs, err := st.SubscriptionsOf(ctx, connectionID)
	if err != nil {
		return err
	}
	for _, sub := range subs {
		keys[SubKey(sub.ConnectionID, sub.ID)] = sub.Topic
	}
	reqs := make([]types.WriteRequest, 0, len(keys))
	for k, topic := range keys {
		reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: map[string]types.AttributeValue{
			"topic": s(topic), "subKey": s(k),
		}}})
	}
	for start := 0; start < len(reqs); start += 25 {
		if err := st.batchWrite(ctx, st.cfg.SubscriptionsTable, reqs[start:min(start+25, len(reqs))]); err != nil {
			return fmt.Errorf("delete subscriptions of %s: %w", connectionID, err)
		}
	}
	if _, err := st.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &st.cfg.ConnectionsTable,
		Key:       map[string]types.AttributeValue{"connectionId": s(connectionID)},
	}); err != nil {
		return fmt.Errorf("delete connection %s: %w", connectionID, err)
	}
	return nil
}

// SubscriptionsOf lists a connection's subscriptions.
func (st *Store) SubscriptionsOf(ctx context.Context, connectionID string) ([]Subscription, error) {
	subs, _, _, err := st.query(ctx, &dynamodb.QueryInput{
		TableName:                 &st.cfg.SubscriptionsTable,
		IndexName:                 &st.cfg.ByConnectionIndex,
		KeyConditionExpression:    aws.String("connectionId = :c"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":c": s(connectionID)},
	})
	return subs, err
}

// SubscriptionsFor lists the live subscriptions to a topic: one Query on
// the topic's partition, paginated. Expired items DynamoDB has not yet
// deleted are left out.
func (st *Store) SubscriptionsFor(ctx context.Context, topic string) ([]Subscription, error) {
	a, err := st.Audience(ctx, topic)
	return a.Subscriptions, err
}

// Audience is what the realtime fan-out reads for a topic in one Query:
// its live subscriptions and the push-queue messages of its changes not
// yet done (see MarkQueued).
type Audience struct {
	Subscriptions []Subscription
	// Queued is the number of push-queue messages for the topic that
	// were enqueued and not yet marked done, within the last TTL.
	Queued int
	// Pushed is the topic's pushed position (see Pushed), 0 when none
	// is known.
	Pushed uint64
	// ResumableUntil is when the topic's resumable mark (MarkResumable)
	// expires, zero when it is not marked: a mark is never removed
	// before, so a reader may take the topic as resumable until then
	// without reading it again.
	ResumableUntil time.Time
}

// Resumable says the topic is marked resumable.
func (a Audience) Resumable() bool { return !a.ResumableUntil.IsZero() }

// queueMarkKey is the sort key of a topic's push-queue mark: an item in
// the topic's partition, so that the Query that finds the subscriptions
// finds it too. Connection ids never start with "~" (API Gateway's and
// localws's are base64), and the mark has no connectionId, so the
// by-connection index leaves it out.
const queueMarkKey = "~queued"

// Audience reads a topic's subscriptions and its push-queue mark: one
// Query on the topic's partition, paginated.
func (st *Store) Audience(ctx context.Context, topic string) (Audience, error) {
	subs, mark, rows, err := st.query(ctx, &dynamodb.QueryInput{
		TableName:                 &st.cfg.SubscriptionsTable,
		KeyConditionExpression:    aws.String("topic = :t"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": s(topic)},
		// Strongly consistent: a subscription stored before this read
		// began is in it (the catch-up handoff relies on it).
		ConsistentRead: aws.Bool(true),
	})
	a := Audience{Subscriptions: subs, Pushed: rows.pushed, ResumableUntil: rows.resumableUntil}
	if mark != nil && num(mark["expiresAt"]) > st.cfg.Now().Unix() {
		if ids, ok := mark["pending"].(*types.AttributeValueMemberSS); ok {
			a.Queued = len(ids.Value)
		}
	}
	return a, err
}

func subKeyOf(sub Subscription) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"topic": s(sub.Topic), "subKey": s(SubKey(sub.ConnectionID, sub.ID))}
}

// GetSubscription reads one subscription (strongly consistent);
// ErrNotFound when it is gone.
func (st *Store) GetSubscription(ctx context.Context, topic, connectionID, id string) (Subscription, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &st.cfg.SubscriptionsTable,
		Key:            subKeyOf(Subscription{Topic: topic, ConnectionID: connectionID, ID: id}),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Subscription{}, fmt.Errorf("get subscription %s on %s: %w", id, connectionID, err)
	}
	if len(out.Item) == 0 {
		return Subscription{}, fmt.Errorf("subscription %s on %s: %w", id, connectionID, ErrNotFound)
	}
	return decodeSub(out.Item)
}

// GoLive ends a subscription's catch-up at cursor (the last position it
// delivered), on condition that no change was nudged in since gen was
// read. False when one was (the catch-up reads the log again) or the
// subscription is gone.
func (st *Store) GoLive(ctx context.Context, sub Subscription, gen int64, cursor uint64) (bool, error) {
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &st.cfg.SubscriptionsTable,
		Key:                       subKeyOf(sub),
		UpdateExpression:          aws.String("SET catchup = :f, #cursor = :c"),
		ConditionExpression:       aws.String("catchup = :t AND gen = :g"),
		ExpressionAttributeNames:  map[string]string{"#cursor": "cursor"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":f": &types.AttributeValueMemberBOOL{Value: false}, ":t": &types.AttributeValueMemberBOOL{Value: true}, ":g": n(gen), ":c": n(int64(cursor))},
	})
	if st.isCondFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("subscription %s on %s: go live: %w", sub.ID, sub.ConnectionID, err)
	}
	return true, nil
}

// Nudge tells a subscription in catch-up that a change was appended to
// its topic's log meanwhile (its catch-up reads the log again before going
// live). When the subscription went live in between, it reports live
// with the cursor its catch-up ended at: the caller pushes the change
// only if it is after it. A gone subscription is ErrNotFound.
func (st *Store) Nudge(ctx context.Context, sub Subscription) (live bool, cursor uint64, err error) {
	_, err = st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           &st.cfg.SubscriptionsTable,
		Key:                                 subKeyOf(sub),
		UpdateExpression:                    aws.String("ADD gen :one"),
		ConditionExpression:                 aws.String("catchup = :t"),
		ExpressionAttributeValues:           map[string]types.AttributeValue{":one": n(1), ":t": &types.AttributeValueMemberBOOL{Value: true}},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if st.isCondFailed(err) {
		old := st.collided(err)
		if len(old) == 0 {
			return false, 0, fmt.Errorf("subscription %s on %s: %w", sub.ID, sub.ConnectionID, ErrNotFound)
		}
		return true, uint64(num(old["cursor"])), nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("subscription %s on %s: nudge: %w", sub.ID, sub.ConnectionID, err)
	}
	return false, 0, nil
}

// MarkQueued records, on each topic, the ids of push-queue messages about
// to be sent for a change that concerns it, before they are sent; MarkDone
// removes each once handled. While a topic has a message not done, the
// fan-out sends its next changes through the queue too, so that no push
// overtakes a queued one. A mark lapses TTL after the last MarkQueued:
// every connection an unfinished message could still reach has closed by
// then (API Gateway closes connections after two hours).
func (st *Store) MarkQueued(ctx context.Context, topics, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	exp := st.cfg.Now().Add(st.cfg.TTL).Unix()
	for _, topic := range topics {
		_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 &st.cfg.SubscriptionsTable,
			Key:                       map[string]types.AttributeValue{"topic": s(topic), "subKey": s(queueMarkKey)},
			UpdateExpression:          aws.String("ADD pending :ids SET expiresAt = :exp"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":ids": &types.AttributeValueMemberSS{Value: ids}, ":exp": n(exp)},
		})
		if err != nil {
			return fmt.Errorf("mark %d queued messages on %s: %w", len(ids), topic, err)
		}
	}
	return nil
}

// MarkDone removes a handled push-queue message from its topics' marks.
// Removing an id twice, or one never marked, changes nothing.
func (st *Store) MarkDone(ctx context.Context, topics []string, id string) error {
	for _, topic := range topics {
		_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 &st.cfg.SubscriptionsTable,
			Key:                       map[string]types.AttributeValue{"topic": s(topic), "subKey": s(queueMarkKey)},
			UpdateExpression:          aws.String("DELETE pending :id"),
			ConditionExpression:       aws.String("attribute_exists(subKey)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":id": &types.AttributeValueMemberSS{Value: []string{id}}},
		})
		if err != nil && !st.isCondFailed(err) {
			return fmt.Errorf("mark message %s done on %s: %w", id, topic, err)
		}
	}
	return nil
}

// query runs a subscriptions Query to the end; it returns the topic's
// push-queue mark apart, when the Query finds one.
func (st *Store) query(ctx context.Context, in *dynamodb.QueryInput) ([]Subscription, map[string]types.AttributeValue, topicRows, error) {
	var (
		subs []Subscription
		mark map[string]types.AttributeValue
		rows topicRows
	)
	now := st.cfg.Now().Unix()
	for {
		out, err := st.db.Query(ctx, in)
		if err != nil {
			return nil, nil, rows, fmt.Errorf("query subscriptions: %w", err)
		}
		for _, item := range out.Items {
			if str(item["subKey"]) == pushedKey {
				if num(item["expiresAt"]) > now {
					rows.pushed = uint64(num(item["pushed"]))
				}
				continue // the topic's pushed position, not a subscription
			}
			if str(item["subKey"]) == logKey {
				if exp := num(item["expiresAt"]); exp > now {
					rows.resumableUntil = time.Unix(exp, 0)
				}
				continue
			}
			if str(item["subKey"]) == queueMarkKey {
				mark = item
				continue
			}
			sub, err := decodeSub(item)
			if err != nil {
				return nil, nil, rows, err
			}
			if sub.ExpiresAt.Unix() <= now {
				continue
			}
			subs = append(subs, sub)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return subs, mark, rows, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// topicRows are what a topic's partition holds besides subscriptions.
type topicRows struct {
	pushed         uint64
	resumableUntil time.Time // zero: not marked
}

func decodeSub(item map[string]types.AttributeValue) (Subscription, error) {
	sub := Subscription{
		Topic:         str(item["topic"]),
		ConnectionID:  str(item["connectionId"]),
		ID:            str(item["subscriptionId"]),
		Query:         str(item["query"]),
		OperationName: str(item["operationName"]),
		CreatedAt:     time.UnixMilli(num(item["createdAt"])),
		ExpiresAt:     time.Unix(num(item["expiresAt"]), 0),
		Catchup:       boolean(item["catchup"]),
		Gen:           num(item["gen"]),
		Cursor:        uint64(num(item["cursor"])),
	}
	if v := str(item["variables"]); v != "" {
		if err := json.Unmarshal([]byte(v), &sub.Variables); err != nil {
			return Subscription{}, fmt.Errorf("subscription %s of %s: variables: %w", sub.ID, sub.ConnectionID, err)
		}
	}
	if v := str(item["session"]); v != "" {
		sub.Session = json.RawMessage(v)
	}
	if l, ok := item["pending"].(*types.AttributeValueMemberL); ok {
		for _, v := range l.Value {
			m, ok := v.(*types.AttributeValueMemberM)
			if !ok {
				continue
			}
			sub.Pending = append(sub.Pending, decodePending(m.Value))
		}
	}
	return sub, nil
}

func str(v types.AttributeValue) string {
	if sv, ok := v.(*types.AttributeValueMemberS); ok {
		return sv.Value
	}
	return ""
}

func num(v types.AttributeValue) int64 {
	if nv, ok := v.(*types.AttributeValueMemberN); ok {
		i, _ := strconv.ParseInt(nv.Value, 10, 64)
		return i
	}
	return 0
}

func boolean(v types.AttributeValue) bool {
	b, ok := v.(*types.AttributeValueMemberBOOL)
	return ok && b.Value
}
