package assigndriver

import (
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"

	appevents "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/functions/internal/wire"
	"github.com/threefactor/framework/lib/consumer"
)

// NewConsumer builds the function from its environment: the Lambda main
// passes os.Getenv, the dev runtime the function's environment.
func NewConsumer(cfg aws.Config, getenv func(string) string, log *slog.Logger) (*consumer.Consumer, error) {
	store, err := wire.Store(cfg, getenv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", appevents.AssignDriver, err)
	}
	ccfg, err := wire.ConsumerConfig(appevents.AssignDriver, cfg, getenv, log)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", appevents.AssignDriver, err)
	}
	return consumer.New(New(store, nil, log).Handle, ccfg)
}
