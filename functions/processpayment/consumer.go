package processpayment

import (
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	appevents "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/functions/internal/wire"
	"github.com/threefactor/framework/lib/consumer"
	"github.com/threefactor/framework/lib/idempotency"
	"github.com/threefactor/framework/lib/topology"
)

// NewConsumer builds the function from its environment: the order,
// charges and idempotency tables, and PAYMENT_FAILURE_RATE for the simulated provider (an
// invalid rate is an error here, at startup). The Lambda main passes
// os.Getenv, the dev runtime the function's environment.
func NewConsumer(cfg aws.Config, getenv func(string) string, log *slog.Logger) (*consumer.Consumer, error) {
	h, err := NewFromEnv(cfg, getenv, log)
	if err != nil {
		return nil, err
	}
	ccfg, err := wire.ConsumerConfig(appevents.ProcessPayment, cfg, getenv, log)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", appevents.ProcessPayment, err)
	}
	return consumer.New(h.Handle, ccfg)
}

// NewFromEnv builds the handler from its environment.
func NewFromEnv(cfg aws.Config, getenv func(string) string, log *slog.Logger) (*Handler, error) {
	fail := func(err error) (*Handler, error) { return nil, fmt.Errorf("%s: %w", appevents.ProcessPayment, err) }
	rate, err := ParseFailureRate(getenv(EnvFailureRate))
	if err != nil {
		return fail(err)
	}
	store, err := wire.Store(cfg, getenv)
	if err != nil {
		return fail(err)
	}
	ledger, err := wire.Required(getenv, topology.TableEnv(appevents.Charges))
	if err != nil {
		return fail(err)
	}
	db := dynamodb.NewFromConfig(cfg)
	p, err := NewSimulatedProvider(db, ledger, rate)
	if err != nil {
		return fail(err)
	}
	idem, err := wire.Required(getenv, topology.TableEnv(topology.IdempotencyTable))
	if err != nil {
		return fail(err)
	}
	once := idempotency.New(db, idem, idempotency.WithLogger(log))
	return New(Config{Store: store, Provider: p, Once: once, Logger: log})
}
