package processpayment

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/threefactor/framework/gateway/orders"
)

// Provider is a payment provider. Charge captures AmountCents at most
// once per IdempotencyKey: a repeated request with the same key returns
// the charge already captured, as real providers do.
type Provider interface {
	Charge(ctx context.Context, req ChargeRequest) (Charge, error)
}

// ChargeRequest asks a provider to capture an amount.
type ChargeRequest struct {
	// IdempotencyKey is the payment intent id.
	IdempotencyKey string
	OrderID        string
	AmountCents    int64
}

// Charge is a captured charge, as the provider's ledger holds it.
type Charge struct {
	IdempotencyKey string `dynamodbav:"idempotencyKey"`
	ID             string `dynamodbav:"id"`
	OrderID        string `dynamodbav:"orderId"`
	AmountCents    int64  `dynamodbav:"amountCents"`
	CapturedAt     string `dynamodbav:"capturedAt"`
}

// ErrUnavailable is a transient provider failure: the request may or may
// not have been captured, and retrying with the same key is safe.
var ErrUnavailable = errors.New("payment provider unavailable")

// ErrKeyReused says an idempotency key came back with another amount.
var ErrKeyReused = errors.New("idempotency key reused with a different request")

// EnvFailureRate is the environment variable holding the simulated
// provider's transient failure rate.
const EnvFailureRate = "PAYMENT_FAILURE_RATE"

// ParseFailureRate parses a failure rate from 0 to 1; empty means 0.
func ParseFailureRate(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	r, err := strconv.ParseFloat(s, 64)
	if err != nil || r != r || r < 0 || r > 1 {
		return 0, fmt.Errorf("%s=%q: want a number from 0 to 1", EnvFailureRate, s)
	}
	return r, nil
}

// ledgerDB is the part of the DynamoDB client the simulated provider uses.
type ledgerDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// SimulatedProvider is a payment provider whose ledger is a DynamoDB
// table keyed by idempotency key: capturing is a conditional PutItem, so
// a key is captured once at most. It fails transiently at FailureRate,
// half the time before capturing and half the time after (the capture
// happened but the answer was lost, the case that double-charges a
// client that retries without a key).
type SimulatedProvider struct {
	db          ledgerDB
	table       string
	failureRate float64
	// Rand returns numbers in [0,1); tests may replace it.
	Rand func() float64
	// Now is the clock; tests may replace it.
	Now func() time.Time
}

// NewSimulatedProvider returns a provider over the ledger table.
func NewSimulatedProvider(db ledgerDB, table string, failureRate float64) (*SimulatedProvider, error) {
	if failureRate < 0 || failureRate > 1 || failureRate != failureRate {
		return nil, fmt.Errorf("failure rate %v: want 0 to 1", failureRate)
	}
	if table == "" {
		return nil, errors.New("simulated provider: no ledger table")
	}
	return &SimulatedProvider{db: db, table: table, failureRate: failureRate, Rand: rand.Float64, Now: time.Now}, nil
}

// Charge captures req once per idempotency key.
func (p *SimulatedProvider) Charge(ctx context.Context, req ChargeRequest) (Charge, error) {
	if req.IdempotencyKey == "" || req.AmountCents <= 0 {
		return Charge{}, fmt.Errorf("charge: want an idempotency key and a positive amount, got %q and %d", req.IdempotencyKey, req.AmountCents)
	}
	roll := p.Rand()
	if roll < p.failureRate/2 {
		return Charge{}, fmt.Errorf("charge %s: %w (before capture)", req.IdempotencyKey, ErrUnavailable)
	}
	c := Charge{
		IdempotencyKey: req.IdempotencyKey,
		ID:             orders.NewID("ch_"),
		OrderID:        req.OrderID,
		AmountCents:    req.AmountCents,
		CapturedAt:     p.Now().UTC().Format(time.RFC3339Nano),
	}
	item, err := attributevalue.MarshalMap(c)
	if err != nil {
		return Charge{}, fmt.Errorf("charge %s: marshal: %w", req.IdempotencyKey, err)
	}
	_, err = p.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(p.table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(idempotencyKey)"),
	})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &ccf):
		prev, found, gerr := p.Captured(ctx, req.IdempotencyKey)
		if gerr != nil {
			return Charge{}, fmt.Errorf("charge %s: %w: %v", req.IdempotencyKey, ErrUnavailable, gerr)
		}
		if !found {
			return Charge{}, fmt.Errorf("charge %s: %w: ledger entry vanished", req.IdempotencyKey, ErrUnavailable)
		}
		if prev.AmountCents != req.AmountCents || prev.OrderID != req.OrderID {
			return Charge{}, fmt.Errorf("charge %s: %w", req.IdempotencyKey, ErrKeyReused)
		}
		c = prev
	case err != nil:
		return Charge{}, fmt.Errorf("charge %s: %w: %v", req.IdempotencyKey, ErrUnavailable, err)
	}
	if roll < p.failureRate {
		return Charge{}, fmt.Errorf("charge %s: %w (answer lost after capture)", req.IdempotencyKey, ErrUnavailable)
	}
	return c, nil
}

// Captured reads the ledger entry for an idempotency key.
func (p *SimulatedProvider) Captured(ctx context.Context, key string) (Charge, bool, error) {
	out, err := p.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(p.table),
		Key:            map[string]types.AttributeValue{"idempotencyKey": &types.AttributeValueMemberS{Value: key}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Charge{}, false, fmt.Errorf("read ledger %s: %w", key, err)
	}
	if out.Item == nil {
		return Charge{}, false, nil
	}
	var c Charge
	if err := attributevalue.UnmarshalMap(out.Item, &c); err != nil {
		return Charge{}, false, fmt.Errorf("unmarshal ledger %s: %w", key, err)
	}
	return c, true, nil
}
