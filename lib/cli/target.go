package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/threefactor/framework/lib/dlq"
	"github.com/threefactor/framework/lib/emulator"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/topology"
)

// targetHelp says how the commands that act on an environment find it.
const targetHelp = `
Where: with no flag, the local environment of make dev: the emulator
recorded in the state directory (.dev; make dev starts it, make dev-stop
stops it) and the names the dev runtime gives the queues, or the endpoint
AWS_ENDPOINT_URL names (LocalStack, a moto of your own) with the same
names. The event log is the dev runtime's, in .dev/eventlog.

With --stack NAME, a deployed stack (cdk deploy names it <app>-<stage>,
e.g. fooddelivery-dev), reached with the usual AWS credentials and region
(AWS_PROFILE, AWS_REGION...): its outputs give each route's queue and
dead-letter queue (Route<Name>QueueUrl, Route<Name>DeadLetterQueueUrl)
and the event log's table (EventLogTable).`

// targetFlags are the flags that choose the environment.
type targetFlags struct {
	stateDir *string
	stack    *string
}

func addTargetFlags(fs *flag.FlagSet) *targetFlags {
	return &targetFlags{
		stateDir: fs.String("state-dir", ".dev", "the dev runtime's state directory: its emulator and its event log"),
		stack:    fs.String("stack", "", "a deployed stack's `NAME` (<app>-<stage>): act on AWS instead of the local environment"),
	}
}

// target is the environment a command acts on.
type target struct {
	// where describes it for messages: "the local emulator at ...".
	where  string
	aws    aws.Config
	queues map[string]dlq.QueueURLs
	// log reads the event log; nil when the environment has none.
	log    eventlog.Log
	closer io.Closer
}

func (t *target) Close() error {
	if t.closer != nil {
		return t.closer.Close()
	}
	return nil
}

// open finds the environment the flags name.
func (f *targetFlags) open(ctx context.Context, topo topology.Topology) (*target, error) {
	if *f.stack != "" {
		return openStack(ctx, topo, *f.stack)
	}
	return openLocal(ctx, topo, *f.stateDir)
}

func openLocal(ctx context.Context, topo topology.Topology, stateDir string) (*target, error) {
	t := &target{}
	var err error
	if ep := os.Getenv("AWS_ENDPOINT_URL"); ep != "" {
		if t.aws, err = config.LoadDefaultConfig(ctx); err != nil {
			return nil, fmt.Errorf("aws config: %w", err)
		}
		if t.aws.Region == "" {
			t.aws.Region = emulator.Region
		}
		t.where = "the endpoint AWS_ENDPOINT_URL names (" + ep + ")"
	} else {
		ep, err := emulator.Recorded(ctx, stateDir)
		if err != nil {
			return nil, err
		}
		if t.aws, err = emulator.Config(ctx, ep); err != nil {
			return nil, err
		}
		t.where = "the local emulator at " + ep
	}
	if t.queues, err = dlq.LocalQueues(ctx, sqsClient(t.aws), topo); err != nil {
		return nil, err
	}
	// The dev runtime writes the log; this process reads it beside it.
	r, err := eventlog.OpenFileReader(eventlog.LocalDir(stateDir), eventlog.FileConfig{Topology: topo})
	if err != nil {
		return nil, fmt.Errorf("the local event log: %w", err)
	}
	t.log, t.closer = r, r
	return t, nil
}

func openStack(ctx context.Context, topo topology.Topology, stack string) (*target, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	out, err := cloudformation.NewFromConfig(cfg).DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stack)})
	if err != nil {
		return nil, fmt.Errorf("stack %s: %w", stack, err)
	}
	if len(out.Stacks) != 1 {
		return nil, fmt.Errorf("stack %s: %d stacks answer to that name", stack, len(out.Stacks))
	}
	outputs := map[string]string{}
	for _, o := range out.Stacks[0].Outputs {
		outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	t := &target{where: fmt.Sprintf("stack %s (%s)", stack, cfg.Region), aws: cfg, queues: map[string]dlq.QueueURLs{}}
	var missing []error
	need := func(name string) string {
		v := outputs[name]
		if v == "" {
			missing = append(missing, fmt.Errorf("no output %s", name))
		}
		return v
	}
	for _, r := range topo.RoutesWithDefaults() {
		t.queues[r.Name] = dlq.QueueURLs{Queue: need(topology.RouteQueueURLOutput(r.Name)), DLQ: need(topology.RouteDLQURLOutput(r.Name))}
	}
	table := need(topology.StackOutputEventLogTable)
	if err := errors.Join(missing...); err != nil {
		return nil, fmt.Errorf("stack %s was deployed from another version of the app (redeploy it): %w", stack, err)
	}
	l, err := eventlog.NewDynamoStore(dynamodb.NewFromConfig(cfg), eventlog.DynamoConfig{Table: table, Topology: topo})
	if err != nil {
		return nil, err
	}
	t.log = l
	return t, nil
}

// dlqClient works on the target's dead-letter queues.
func (t *target) dlqClient(topo topology.Topology, hold time.Duration) (*dlq.Client, error) {
	return dlq.New(dlq.Config{SQS: sqsClient(t.aws), Topology: topo, Queues: t.queues, Log: t.log, Hold: hold, Logger: quietLogger()})
}
