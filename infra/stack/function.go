package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/threefactor/framework/lib/topology"
)

// Environment variables the stack sets beyond those topology names. The
// GraphQL functions answer introspection only when topology.EnvStage is
// "dev"; the router takes its event source from the topology itself.
const (
	// EnvLogLevel is the slog level (debug, info, warn, error).
	EnvLogLevel = "LOG_LEVEL"
)

// Code gives the deployment package of a function by name.
type Code func(name string) awslambda.Code

// AssetDirs reads each function's code from root/<name>/, the folder `make
// build` fills with a linux/arm64 executable named bootstrap.
func AssetDirs(root string) Code {
	return func(name string) awslambda.Code {
		return awslambda.Code_FromAsset(jsii.String(filepath.Join(root, name)), nil)
	}
}

// CheckAssets reports every function of t whose root/<name>/bootstrap is
// missing, so a synth without `make build` fails with one clear message
// instead of a CDK asset error per function.
func CheckAssets(root string, t topology.Topology) error {
	var missing []string
	for _, name := range t.Lambdas() {
		if _, err := os.Stat(filepath.Join(root, name, "bootstrap")); err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("no bootstrap binary under %s for %s: run `make build` first", root, strings.Join(missing, ", "))
	}
	return nil
}

// goFunctionProps configures a Go Lambda.
type goFunctionProps struct {
	Name        string // folder name under functions/
	Description string
	Code        Code
	Stage       Stage
	Timeout     awscdk.Duration
	MemoryMB    int
	Env         map[string]string
	// AsyncDLQ receives the events of asynchronous invocations that failed
	// every attempt. Only functions something invokes asynchronously have
	// one.
	AsyncDLQ awssqs.IQueue
}

// newGoFunction creates a Go Lambda on provided.al2023/arm64 with X-Ray
// tracing, its own log group with the stage's retention, and its own role
// that may write to that log group and nothing else; the constructs that
// own other resources grant the rest.
func newGoFunction(scope constructs.Construct, id string, p goFunctionProps) awslambda.Function {
	logs := awslogs.NewLogGroup(scope, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		Retention:     p.Stage.LogRetention(),
		RemovalPolicy: p.Stage.RemovalPolicy(),
	})
	role := awsiam.NewRole(scope, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("Execution role of the " + p.Name + " function"),
	})
	logs.GrantWrite(role)
	suppressTracingWildcard(role)

	env := map[string]*string{
		topology.EnvStage: jsii.String(string(p.Stage)),
		EnvLogLevel:       jsii.String(p.Stage.LogLevel()),
	}
	for k, v := range p.Env {
		env[k] = jsii.String(v)
	}
	memory := p.MemoryMB
	if memory == 0 {
		memory = 256
	}
	props := &awslambda.FunctionProps{
		Description:  jsii.String(p.Description),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         p.Code(p.Name),
		Timeout:      p.Timeout,
		MemorySize:   jsii.Number(float64(memory)),
		Tracing:      awslambda.Tracing_ACTIVE,
		LogGroup:     logs,
		Role:         role,
		Environment:  &env,
	}
	if p.AsyncDLQ != nil {
		props.DeadLetterQueueEnabled = jsii.Bool(true)
		props.DeadLetterQueue = p.AsyncDLQ
	}
	fn := awslambda.NewFunction(scope, jsii.String(id), props)
	if p.AsyncDLQ == nil {
		suppressNoAsyncDLQ(fn)
	}
	return fn
}
