package idempotency

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/consumer"
	"github.com/threefactor/framework/lib/correlation"
)

// ErrInProgress says another delivery of the same work holds a live lease
// on it. It is not permanent: the message is retried later, by when that
// delivery has finished (its result is then returned) or died (its lease
// then expires and the retry runs the work).
var ErrInProgress = errors.New("idempotency: the same work is in progress elsewhere")

// Record attribute names in the idempotency table.
const (
	attrPK         = "pk"
	attrStatus     = "status"
	attrLeaseUntil = "leaseUntil" // unix milliseconds
	attrExpiresAt  = "expiresAt"  // unix seconds; the table's TTL attribute
	attrResult     = "result"
	attrToken      = "token"
)

// Record statuses.
const (
	statusInProgress = "IN_PROGRESS"
	statusCompleted  = "COMPLETED"
)

// dynamoAPI is the part of *dynamodb.Client the store uses.
type dynamoAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// Store runs work at most once per key (to completion), recording results
// in a DynamoDB table whose partition key is "pk" (S) and whose TTL
// attribute is "expiresAt": the framework's topology.IdempotencyTable.
type Store struct {
	client dynamoAPI
	table  string
	ttl    time.Duration
	lease  time.Duration
	now    func() time.Time
	log    *slog.Logger
}

// Option configures a Store.
type Option func(*Store)

// WithTTL sets how long a completed result is kept (and duplicates are
// recognized). Default 7 days.
func WithTTL(d time.Duration) Option { return func(s *Store) { s.ttl = d } }

// WithLease fixes how long a delivery holds the work before another may
// take it over. Default: the time left before the context's deadline (a
// Lambda's timeout), or one minute without a deadline.
func WithLease(d time.Duration) Option { return func(s *Store) { s.lease = d } }

// WithClock replaces time.Now, for tests of lease expiry.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithLogger sets the logger. Default: correlation.Logger().
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// New makes a Store over the table with the given (physical) name; client
// is a *dynamodb.Client.
func New(client dynamoAPI, table string, opts ...Option) *Store {
	s := &Store{client: client, table: table, ttl: 7 * 24 * time.Hour, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	if s.log == nil {
		s.log = correlation.Logger()
	}
	return s
}

const defaultLease = time.Minute

func (s *Store) leaseFor(ctx context.Context) time.Duration {
	if s.lease > 0 {
		return s.lease
	}
	if dl, ok := ctx.Deadline(); ok {
		if d := dl.Sub(s.now()); d > time.Second {
			return d
		}
		return time.Second
	}
	return defaultLease
}

// Do runs fn once for (scope, key) and returns its result; a later call
// for the same scope and key returns the stored result without running
// fn. While one call runs fn, others get ErrInProgress. If fn fails, its
// error is returned and nothing is recorded, so a retry runs fn again; if
// the process dies while fn runs, its lease expires and a later call runs
// fn. Work that completes must be safe to complete twice in that one
// case: a lease that expired before fn finished.
func (s *Store) Do(ctx context.Context, scope, key string, fn func(ctx context.Context) ([]byte, error)) ([]byte, error) {
	if key == "" {
		return nil, errors.New("idempotency: empty key")
	}
	pk := scope + "#" + key
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	// A record that vanishes between the failed put and the read (its
	// holder failed and released it) is claimed on a second round.
	for round := 0; ; round++ {
		st, result, err := s.claim(ctx, pk, token)
		if err != nil {
			return nil, err
		}
		switch {
		case st == claimed:
		case st == completed:
			return result, nil
		case st == held || round > 0:
			return nil, fmt.Errorf("%s: %w", pk, ErrInProgress)
		default: // vanished
			continue
		}
		break
	}
	return s.run(ctx, pk, token, fn)
}

// claimState is what a claim found.
type claimState int

const (
	claimed   claimState = iota // the lease is ours
	completed                   // the work is done; here is its result
	held                        // another delivery holds a live lease
	vanished                    // the record went away meanwhile
)

// claim tries to take the lease on pk.
func (s *Store) claim(ctx context.Context, pk, token string) (claimState, []byte, error) {
	now := s.now()
	item := map[string]types.AttributeValue{
		attrPK:         &types.AttributeValueMemberS{Value: pk},
		attrStatus:     &types.AttributeValueMemberS{Value: statusInProgress},
		attrLeaseUntil: num(now.Add(s.leaseFor(ctx)).UnixMilli()),
		attrExpiresAt:  num(now.Add(s.ttl).Unix()),
		attrToken:      &types.AttributeValueMemberS{Value: token},
	}
	_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item:      item,
		// Free, or held by a delivery whose lease ran out, or completed so
		// long ago that TTL should have removed it already.
		ConditionExpression: aws.String("attribute_not_exists(#pk) OR (#status = :inprogress AND #lease < :nowms) OR #exp < :nows"),
		ExpressionAttributeNames: map[string]string{
			"#pk": attrPK, "#status": attrStatus, "#lease": attrLeaseUntil, "#exp": attrExpiresAt,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":inprogress": &types.AttributeValueMemberS{Value: statusInProgress},
			":nowms":      num(now.UnixMilli()),
			":nows":       num(now.Unix()),
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return claimed, nil, nil
	}
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return 0, nil, fmt.Errorf("idempotency: claim %s: %w", pk, err)
	}
	old := ccf.Item
	if old == nil {
		// Not every implementation returns the item with the failure.
		out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(s.table), ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{attrPK: &types.AttributeValueMemberS{Value: pk}},
		})
		if err != nil {
			return 0, nil, fmt.Errorf("idempotency: read %s: %w", pk, err)
		}
		old = out.Item
	}
	if st, ok := old[attrStatus].(*types.AttributeValueMemberS); ok && st.Value == statusCompleted {
		var v []byte
		if b, ok := old[attrResult].(*types.AttributeValueMemberB); ok {
			v = b.Value
		}
		if v == nil {
			v = []byte{}
		}
		return completed, v, nil
	}
	if len(old) == 0 {
		return vanished, nil, nil
	}
	return held, nil, nil
}

// run runs fn under the lease and records its outcome.
func (s *Store) run(ctx context.Context, pk, token string, fn func(ctx context.Context) ([]byte, error)) (result []byte, err error) {
	done := false
	defer func() {
		if done {
			return
		}
		// fn failed or panicked: release the claim so that a retry runs
		// at once. Only our own claim, in case our lease ran out and
		// another delivery took over. A cancelled ctx must not prevent it.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if derr := s.release(rctx, pk, token); derr != nil {
			s.log.WarnContext(ctx, "idempotency: release failed; the lease will expire", "key", pk, "error", derr.Error())
		}
	}()
	result, err = fn(ctx)
	if err != nil {
		return nil, err
	}
	done = true

	upd := &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.table),
		Key:                 map[string]types.AttributeValue{attrPK: &types.AttributeValueMemberS{Value: pk}},
		UpdateExpression:    aws.String("SET #status = :completed, #exp = :exp REMOVE #lease"),
		ConditionExpression: aws.String("#token = :token"),
		ExpressionAttributeNames: map[string]string{
			"#status": attrStatus, "#exp": attrExpiresAt, "#lease": attrLeaseUntil, "#token": attrToken,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":completed": &types.AttributeValueMemberS{Value: statusCompleted},
			":exp":       num(s.now().Add(s.ttl).Unix()),
			":token":     &types.AttributeValueMemberS{Value: token},
		},
	}
	if len(result) > 0 {
		upd.UpdateExpression = aws.String("SET #status = :completed, #exp = :exp, #result = :result REMOVE #lease")
		upd.ExpressionAttributeNames["#result"] = attrResult
		upd.ExpressionAttributeValues[":result"] = &types.AttributeValueMemberB{Value: result}
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := s.client.UpdateItem(wctx, upd); err != nil {
		// The work is done; failing now would only make a retry do it
		// again. A duplicate delivery after the lease runs out will.
		s.log.WarnContext(ctx, "idempotency: completed work not recorded", "key", pk, "error", err.Error())
	}
	return result, nil
}

func (s *Store) release(ctx context.Context, pk, token string) error {
	_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(s.table),
		Key:                       map[string]types.AttributeValue{attrPK: &types.AttributeValueMemberS{Value: pk}},
		ConditionExpression:       aws.String("#token = :token"),
		ExpressionAttributeNames:  map[string]string{"#token": attrToken},
		ExpressionAttributeValues: map[string]types.AttributeValue{":token": &types.AttributeValueMemberS{Value: token}},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return nil // no longer ours
	}
	return err
}

// Middleware makes a consumer's handler idempotent: each change event is
// handled to completion once per scope, keyed by its event id. scope ""
// means the function's name. A duplicate delivery is acknowledged without
// running the handler; one that overlaps a running delivery is retried
// later (ErrInProgress).
func Middleware(s *Store, scope string) consumer.Middleware {
	return func(next consumer.EventHandler) consumer.EventHandler {
		return func(ctx context.Context, e change.Event) error {
			sc := scope
			if sc == "" {
				m, _ := consumer.MessageFrom(ctx)
				sc = m.Function
			}
			if sc == "" {
				return errors.New("idempotency: no scope: set one or a consumer function name")
			}
			_, err := s.Do(ctx, sc, e.ID, func(ctx context.Context) ([]byte, error) {
				return nil, next(ctx, e)
			})
			return err
		}
	}
}

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func newToken() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("idempotency: token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
