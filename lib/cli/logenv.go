package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/threefactor/framework/lib/dlq"
	"github.com/threefactor/framework/lib/emulator"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/topology"
)

// This file finds the environment the event log commands (log, trace,
// replay) and dlq work on: the local dev environment, or a deployed one.
//
// With AWS_ENDPOINT_URL unset and no AWS profile asked for (AWS_PROFILE
// unset, no --profile, --stack or --table), it is the local one: the
// event log the dev runtime keeps under the state directory, read
// without its lock (make dev may be running), and the emulator recorded
// there. Otherwise it is the eventlog table of the endpoint or account:
// the table named by --table, or the deployed stack's EventLogTable
// output (stack <app>-<stage>, or --stack), or with AWS_ENDPOINT_URL and
// no --stack the one the dev runtime names (<app>-eventlog); dlq's
// queues likewise, by the dev runtime's names or the stack's
// Queue<Route> and DLQ<Route> outputs.

// logFlags are the flags that choose the environment.
type logFlags struct {
	stateDir, profile, region, stack, stage, table string
}

func addLogFlags(fs *flag.FlagSet) *logFlags {
	f := &logFlags{}
	fs.StringVar(&f.stateDir, "state-dir", ".dev", "the local dev runtime's state directory (the local log is in its eventlog folder)")
	fs.StringVar(&f.profile, "profile", "", "an AWS `PROFILE`: read the deployed app's log rather than the local one")
	fs.StringVar(&f.region, "region", "", "the AWS `REGION` (default: the profile's, or AWS_REGION)")
	fs.StringVar(&f.stack, "stack", "", "the deployed `STACK` whose outputs name the log table and queues (default APP-STAGE)")
	fs.StringVar(&f.stage, "stage", "dev", "the deployed `STAGE`, for the default stack name")
	fs.StringVar(&f.table, "table", "", "the event log `TABLE`'s name (default: the stack's EventLogTable output; with AWS_ENDPOINT_URL, APP-eventlog)")
	return f
}

// logEnv is an environment whose event log a command reads.
type logEnv struct {
	topo topology.Topology
	log  eventlog.Log
	// local: the dev runtime's environment on this machine.
	local bool
	// where describes the log, for messages; plane the environment's
	// tables and queues.
	where, plane string
	// aws reaches the environment's data plane; awsErr says why not
	// (locally: no emulator running).
	aws    aws.Config
	awsErr error
	// endpoint: AWS_ENDPOINT_URL is set.
	endpoint bool
	// named: resources are named by the dev runtime's rules (locally,
	// and at an endpoint when no --stack is given), not by stack outputs.
	named   bool
	stack   string
	outputs map[string]string
	close   func()
}

// open opens the environment the flags and the process's environment
// name, for a command that reads its event log.
func (f *logFlags) open(ctx context.Context, e *env) (*logEnv, error) {
	return f.openEnv(ctx, e, true)
}

// openEnv opens the environment; without needLog, one whose app has its
// log disabled, or that has no local log yet, is opened with log nil.
func (f *logFlags) openEnv(ctx context.Context, e *env, needLog bool) (*logEnv, error) {
	topo := e.cfg.App.Topology()
	if topo.DisableEventLog && needLog {
		return nil, errs.Newf(errs.FailedPrecondition, "app %s has its event log disabled", topo.App)
	}
	getenv := e.getenv
	le := &logEnv{topo: topo, close: func() {}}
	if getenv("AWS_ENDPOINT_URL") == "" && getenv("AWS_PROFILE") == "" && f.profile == "" && f.stack == "" && f.table == "" {
		le.local, le.named, le.plane = true, true, "the local emulator"
		dir := eventlog.LocalDir(f.stateDir)
		_, statErr := os.Stat(dir)
		switch {
		case statErr == nil && !topo.DisableEventLog:
			r, err := eventlog.OpenFileReader(dir, eventlog.FileConfig{Topology: topo})
			if err != nil {
				return nil, err
			}
			abs, _ := filepath.Abs(dir)
			le.log, le.where, le.close = r, abs, func() { _ = r.Close() }
		case needLog:
			return nil, errs.Newf(errs.NotFound, "no local event log in %s: run make dev first (or --state-dir DIR), or name a deployed app with --profile", dir)
		}
		if ep, err := emulator.Recorded(ctx, f.stateDir); err != nil {
			le.awsErr = err
		} else {
			le.plane = "the local emulator at " + ep
			le.aws, le.awsErr = emulator.Config(ctx, ep)
		}
		return le, nil
	}

	var opts []func(*config.LoadOptions) error
	if f.profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(f.profile))
	}
	if f.region != "" {
		opts = append(opts, config.WithRegion(f.region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	if cfg.Region == "" {
		if getenv("AWS_ENDPOINT_URL") == "" {
			return nil, errs.New(errs.BadUserInput, "no AWS region: set AWS_REGION or pass --region")
		}
		cfg.Region = emulator.Region
	}
	le.aws, le.endpoint = cfg, getenv("AWS_ENDPOINT_URL") != ""
	le.named = le.endpoint && f.stack == ""
	le.stack = f.stack
	if le.stack == "" {
		le.stack = topo.App + "-" + f.stage
	}
	switch {
	case le.named:
		le.plane = "the endpoint AWS_ENDPOINT_URL names (" + getenv("AWS_ENDPOINT_URL") + ")"
	case le.endpoint:
		le.plane = "stack " + le.stack + " at " + getenv("AWS_ENDPOINT_URL")
	default:
		le.plane = "stack " + le.stack + " (" + cfg.Region + ")"
	}
	if topo.DisableEventLog {
		return le, nil
	}
	table := f.table
	switch {
	case table != "":
	case le.named:
		table = topo.TableName(topology.EventLogTable)
	default:
		if table, err = le.output(ctx, topology.OutputEventLogTable); err != nil {
			return nil, err
		}
	}
	retention := eventlog.DefaultRetention
	if v := getenv(eventlog.EnvRetention); v != "" {
		if retention, err = eventlog.ParseRetention(v); err != nil {
			return nil, fmt.Errorf("%s: %w", eventlog.EnvRetention, err)
		}
	}
	store, err := eventlog.NewDynamoStore(dynamodb.NewFromConfig(cfg), eventlog.DynamoConfig{Table: table, Topology: topo, Retention: retention})
	if err != nil {
		return nil, err
	}
	le.log, le.where = store, "table "+table
	if !le.endpoint {
		le.where += " (" + cfg.Region + ")"
	}
	return le, nil
}

// output reads one output of the deployed stack.
func (le *logEnv) output(ctx context.Context, name string) (string, error) {
	if le.outputs == nil {
		out, err := cloudformation.NewFromConfig(le.aws).DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(le.stack)})
		if err != nil {
			return "", fmt.Errorf("read the outputs of stack %s (or name the resources with flags): %w", le.stack, err)
		}
		le.outputs = map[string]string{}
		for _, s := range out.Stacks {
			for _, o := range s.Outputs {
				le.outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
			}
		}
	}
	v, ok := le.outputs[name]
	if !ok {
		return "", errs.Newf(errs.NotFound, "stack %s has no output %s: deploy the current version of the app (or name the resource with a flag)", le.stack, name)
	}
	return v, nil
}

// dataPlane is the AWS config of the environment's tables and queues.
func (le *logEnv) dataPlane() (aws.Config, error) {
	if le.awsErr != nil {
		return aws.Config{}, errs.New(errs.FailedPrecondition, le.awsErr.Error())
	}
	return le.aws, nil
}

// tableName is the physical name of an app table in the environment.
func (le *logEnv) tableName(ctx context.Context, logical string) (string, error) {
	if le.named {
		return le.topo.TableName(logical), nil
	}
	return le.output(ctx, topology.TableOutput(logical))
}

// queueURL is the URL of a route's queue in the environment.
func (le *logEnv) queueURL(ctx context.Context, route string) (string, error) {
	if le.named {
		return queueURLByName(ctx, le.aws, le.topo.QueueName(route))
	}
	return le.output(ctx, topology.QueueOutput(route))
}

// routeQueues are the URLs of every route's queue and dead-letter queue
// (the framework's routes included): by the dev runtime's names, or from
// the stack's outputs.
func (le *logEnv) routeQueues(ctx context.Context, api *sqs.Client) (map[string]dlq.QueueURLs, error) {
	if le.named {
		return dlq.LocalQueues(ctx, api, le.topo)
	}
	out := map[string]dlq.QueueURLs{}
	for _, r := range le.topo.RoutesWithDefaults() {
		q, err := le.output(ctx, topology.QueueOutput(r.Name))
		if err != nil {
			return nil, err
		}
		d, err := le.output(ctx, topology.DLQOutput(r.Name))
		if err != nil {
			return nil, err
		}
		out[r.Name] = dlq.QueueURLs{Queue: q, DLQ: d}
	}
	return out, nil
}

func queueURLByName(ctx context.Context, cfg aws.Config, name string) (string, error) {
	out, err := sqs.NewFromConfig(cfg).GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("queue %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}
