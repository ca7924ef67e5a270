package app

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/topology"
)

// Env is what a component is built from: the AWS configuration, its
// environment variables (os.Getenv in a Lambda; the provisioned names in
// the dev runtime and in tests) and its logger. Handlers read their
// settings through it, so the same builder runs in all three places.
type Env struct {
	// AWS is the configuration of every AWS client.
	AWS aws.Config
	// Getenv reads the component's environment.
	Getenv func(string) string
	// Logger writes JSON lines carrying the correlation id.
	Logger *slog.Logger
	// EventLog, when set, is the event log the component writes to and
	// reads (the dev runtime's local file store, shared by every
	// component of its process). Nil: the DynamoDB store its environment
	// names (eventlog.DynamoConfigFromEnv: TABLE_EVENTLOG,
	// EVENTLOG_RETENTION), as in a Lambda.
	EventLog eventlog.Log

	ddbOnce sync.Once
	ddb     *dynamodb.Client
}

// NewEnv is an Env; a nil getenv reads nothing, a nil logger is
// correlation.Logger().
func NewEnv(cfg aws.Config, getenv func(string) string, log *slog.Logger) *Env {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if log == nil {
		log = correlation.Logger()
	}
	return &Env{AWS: cfg, Getenv: getenv, Logger: log}
}

// MapEnv turns an environment map into a getenv function.
func MapEnv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// Require reads variables that must be set, in order; the error names
// every one that is not.
func (e *Env) Require(names ...string) ([]string, error) {
	vals := make([]string, len(names))
	var missing []error
	for i, n := range names {
		vals[i] = e.Getenv(n)
		if vals[i] == "" {
			missing = append(missing, fmt.Errorf("%s is not set", n))
		}
	}
	return vals, errors.Join(missing...)
}

// Table is the physical name of a table (app or framework) by its logical
// name, from topology.TableEnv(logical).
func (e *Env) Table(logical string) (string, error) {
	v, err := e.Require(topology.TableEnv(logical))
	return v[0], err
}

// DynamoDB is a DynamoDB client, one per Env.
func (e *Env) DynamoDB() *dynamodb.Client {
	e.ddbOnce.Do(func() { e.ddb = dynamodb.NewFromConfig(e.AWS) })
	return e.ddb
}

// Log is the event log of app a in this environment: EventLog when set,
// else the DynamoDB store the environment names. It is nil, with no
// error, when a's event log is disabled.
func (e *Env) Log(a App) (eventlog.Log, error) {
	if a.DisableEventLog {
		return nil, nil
	}
	if e.EventLog != nil {
		return e.EventLog, nil
	}
	cfg, err := eventlog.DynamoConfigFromEnv(e.Getenv, a.Topology())
	if err != nil {
		return nil, fmt.Errorf("event log: %w", err)
	}
	cfg.Logger = e.Logger
	l, err := eventlog.NewDynamoStore(e.DynamoDB(), cfg)
	if err != nil {
		return nil, fmt.Errorf("event log: %w", err)
	}
	return l, nil
}
