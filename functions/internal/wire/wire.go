// Package wire builds what every function needs from its environment, the
// same way in a Lambda main (getenv = os.Getenv) and in the dev runtime
// (getenv reads the function's environment from the runtime).
package wire

import (
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	appevents "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/consumer"
)

// Store is the order store over the tables the environment names.
func Store(cfg aws.Config, getenv func(string) string) (*orders.Store, error) {
	t, err := orders.TablesFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	return orders.NewStore(dynamodb.NewFromConfig(cfg), t), nil
}

// ConsumerConcurrency is how many messages of a batch a function handles
// at once. The steps are independent per order and spend their time
// waiting on DynamoDB, so a batch of ten need not take ten round trips
// in a row.
const ConsumerConcurrency = 10

// ConsumerConfig is the consumer configuration of a function: the queue
// and dead-letter queue of each route feeding it, from the environment
// (consumer.ConfigFromEnv), and SQS for dead-lettering.
func ConsumerConfig(function string, cfg aws.Config, getenv func(string) string, log *slog.Logger) (consumer.Config, error) {
	c, err := consumer.ConfigFromEnv(appevents.Topology, function, getenv)
	if err != nil {
		return consumer.Config{}, err
	}
	c.SQS = sqs.NewFromConfig(cfg)
	c.Logger = log
	c.Concurrency = ConsumerConcurrency
	return c, nil
}

// Getenv turns an environment map into a getenv function.
func Getenv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// Required reads a variable that must be set.
func Required(getenv func(string) string, name string) (string, error) {
	v := getenv(name)
	if v == "" {
		return "", fmt.Errorf("%s is not set", name)
	}
	return v, nil
}
