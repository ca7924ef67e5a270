// Package processpayment is the process-payment step: the payment intent
// payOrder recorded on a VALIDATED order is charged through a payment
// provider, and the order becomes PAID with the captured charge in its
// payments, or PAYMENT_FAILED with the reason.
//
// A charge is captured at most once per order, whatever the retries,
// redeliveries and crashes:
//
//   - the provider is called with the intent id as its idempotency key,
//     so a repeated call returns the charge already captured;
//   - the work for one intent runs under an idempotency record (scope
//     "processpayment", key the intent id), so a completed charge is not
//     attempted again and concurrent deliveries do not both run it;
//   - recording the payment is one conditional update (status VALIDATED
//     and this intent -> PAID, payments appended), so the payment is
//     appended once at most, and a crash between capture and record is
//     repaired by the redelivery, which gets the same charge back from
//     the provider and records it.
//
// A transient provider failure is returned as a retryable error so SQS
// redelivers; an amount that does not match the order total is declined
// at once (PAYMENT_FAILED), which no retry could change.
package processpayment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/consumer"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/idempotency"
	"github.com/threefactor/framework/lib/topology"
)

// Scope is the idempotency scope of the charge work.
const Scope = "processpayment"

// Action is what to do with an order.
type Action int

// Actions.
const (
	// Skip: nothing to do (not VALIDATED, or no intent).
	Skip Action = iota
	// Decline: mark PAYMENT_FAILED with the reason.
	Decline
	// Charge the intent.
	ChargeIntent
)

// Decide says what to do with an order as it is now, and why.
func Decide(o orders.Order) (Action, string) {
	switch {
	case o.Status != orders.Validated:
		return Skip, fmt.Sprintf("order is %s", o.Status)
	case o.PaymentIntent == nil:
		return Skip, "order has no payment intent"
	case o.PaymentIntent.AmountCents != o.TotalCents:
		return Decline, fmt.Sprintf("payment declined: amount %d cents does not match the order total of %d cents",
			o.PaymentIntent.AmountCents, o.TotalCents)
	}
	return ChargeIntent, ""
}

// Once runs fn to completion at most once per scope and key, returning
// the stored result to later calls; a failed fn may run again. It is
// *idempotency.Store's method set.
type Once interface {
	Do(ctx context.Context, scope, key string, fn func(ctx context.Context) ([]byte, error)) ([]byte, error)
}

// Config configures a Handler.
type Config struct {
	Store    *orders.Store
	Provider Provider
	// Once guards the charge work per intent. Nil runs the work directly;
	// the provider key and the conditional write still prevent a second
	// capture and a second payment.
	Once   Once
	Logger *slog.Logger
}

// Validate reports missing settings.
func (c Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("processpayment: Config.Store is nil"))
	}
	if c.Provider == nil {
		errs = append(errs, errors.New("processpayment: Config.Provider is nil"))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("processpayment: Config.Logger is nil"))
	}
	return errors.Join(errs...)
}

// Name is the function's name in the app declaration.
const Name = "processpayment"

// ChargesTable is the simulated provider's ledger (a logical table name):
// one item per captured charge, keyed by the provider idempotency key (the
// payment intent id). A real provider keeps this on its side.
const ChargesTable = "charges"

// Build builds the handler from its environment: the orders, charges and
// idempotency tables, and EnvFailureRate for the simulated provider (an
// invalid rate is an error here, at start).
func Build(_ context.Context, env *app.Env) (consumer.Handler[orders.Order], error) {
	rate, err := ParseFailureRate(env.Getenv(EnvFailureRate))
	if err != nil {
		return nil, err
	}
	store, err := orders.StoreFromEnv(env)
	if err != nil {
		return nil, err
	}
	names, err := env.Require(topology.TableEnv(ChargesTable), topology.TableEnv(topology.IdempotencyTable))
	if err != nil {
		return nil, err
	}
	p, err := NewSimulatedProvider(env.DynamoDB(), names[0], rate)
	if err != nil {
		return nil, err
	}
	once := idempotency.New(env.DynamoDB(), names[1], idempotency.WithLogger(env.Logger))
	h, err := New(Config{Store: store, Provider: p, Once: once, Logger: env.Logger})
	if err != nil {
		return nil, err
	}
	return h.Handle, nil
}

// Handler handles the process-payment route.
type Handler struct{ cfg Config }

// New returns the handler.
func New(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Handler{cfg: cfg}, nil
}

// Handle charges the payment intent of the order a change is about.
func (h *Handler) Handle(ctx context.Context, c change.Change[orders.Order]) error {
	id, err := orders.IDOf(c.Event)
	if err != nil {
		return err
	}
	log := h.cfg.Logger.With("eventId", c.ID, "orderId", id)
	o, err := h.cfg.Store.Order(ctx, id)
	if orders.SkipMoved(ctx, log, "payment", err) {
		return nil
	}
	if err != nil {
		return err
	}
	act, why := Decide(o)
	switch act {
	case Skip:
		log.InfoContext(ctx, "payment: nothing to do", "why", why)
		return nil
	case Decline:
		return h.decline(ctx, log, o, why)
	}
	if h.cfg.Once == nil {
		return h.charge(ctx, log, o)
	}
	_, err = h.cfg.Once.Do(ctx, Scope, o.PaymentIntent.ID, func(ctx context.Context) ([]byte, error) {
		return nil, h.charge(ctx, log, o)
	})
	return err
}

func (h *Handler) decline(ctx context.Context, log *slog.Logger, o orders.Order, reason string) error {
	_, err := h.cfg.Store.FailPayment(ctx, o.ID, o.PaymentIntent.ID, reason)
	if orders.SkipMoved(ctx, log, "payment", err) {
		return nil
	}
	if err != nil {
		return err
	}
	log.InfoContext(ctx, "payment failed", "reason", reason)
	return nil
}

// charge captures the intent and records the payment. Both halves are
// safe to repeat: the provider returns the same charge for the same key,
// and the record is conditional.
func (h *Handler) charge(ctx context.Context, log *slog.Logger, o orders.Order) error {
	pi := o.PaymentIntent
	ch, err := h.cfg.Provider.Charge(ctx, ChargeRequest{IdempotencyKey: pi.ID, OrderID: o.ID, AmountCents: pi.AmountCents})
	switch {
	case errors.Is(err, ErrUnavailable):
		log.WarnContext(ctx, "payment: provider unavailable; will retry", "intentId", pi.ID, "error", err.Error())
		return errs.Wrap(errs.Unavailable, "payment provider unavailable", err)
	case err != nil:
		return errs.Permanent(fmt.Errorf("charge intent %s of order %s: %w", pi.ID, o.ID, err))
	}
	_, err = h.cfg.Store.RecordPayment(ctx, o.ID, pi.ID, orders.Payment{ID: ch.ID, AmountCents: ch.AmountCents, CapturedAt: ch.CapturedAt})
	var ce *orders.ConflictError
	switch {
	case errors.As(err, &ce) && ce.Current.HasPayment(ch.ID):
		log.InfoContext(ctx, "payment: already recorded", "chargeId", ch.ID)
		return nil
	case errors.As(err, &ce):
		// Money was captured but the order cannot take it: a person must
		// look (refund or repair). The dead-letter queue keeps the reason.
		log.ErrorContext(ctx, "payment: captured charge cannot be recorded", "chargeId", ch.ID, "status", string(ce.Current.Status))
		return errs.Permanent(fmt.Errorf("charge %s captured for order %s, which is %s: %w", ch.ID, o.ID, ce.Current.Status, err))
	case err != nil:
		return err
	}
	log.InfoContext(ctx, "order paid", "chargeId", ch.ID, "intentId", pi.ID, "amountCents", ch.AmountCents)
	return nil
}
