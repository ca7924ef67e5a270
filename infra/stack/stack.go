package stack

import (
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/threefactor/framework/lib/topology"
)

// Output names of the stack.
const (
	OutputGraphQLURL         = "GraphQLUrl"
	OutputWebSocketURL       = "WebSocketUrl"
	OutputManagementEndpoint = "ManagementEndpoint"
	OutputEventBusName       = "EventBusName"
	OutputAuthIssuer         = "AuthIssuer"
	OutputUserPoolID         = "UserPoolId"
	OutputUserPoolClientID   = "UserPoolClientId"
	// OutputDeadLetterQueues lists every queue that only ever holds
	// failures, as name=url pairs separated by commas (what `threefactor
	// load` reads the DLQ depth of after a run).
	OutputDeadLetterQueues = "DeadLetterQueueUrls"
)

// Props configures a Stack.
type Props struct {
	awscdk.StackProps
	Topology topology.Topology
	Stage    Stage
	// Code gives each function's deployment package, usually
	// AssetDirs("build").
	Code Code
	// Auth says who may call the APIs: the stack's Cognito user pool by
	// default, or an external OIDC issuer.
	Auth AuthConfig
	// AllowedOrigins are the browser origins (https://app.example.com)
	// allowed to call the HTTP API (CORS) and to open the WebSocket
	// (ALLOWED_ORIGINS). Clients that send no Origin, such as native apps,
	// need no entry. AnyOrigin ("*") is accepted in the dev stage only, and
	// there it relaxes CORS only. None given: any origin over HTTP in dev,
	// no browser origin in prod.
	AllowedOrigins []string
	// HTTPThrottle and WebSocketThrottle are the APIs' default route
	// throttles. A zero field takes DefaultThrottle(Stage)'s.
	HTTPThrottle      Throttle
	WebSocketThrottle Throttle
	// AccountLoggingRole: see RealtimeProps.
	AccountLoggingRole bool
	// AlarmEmails are subscribed to the alarm topic.
	AlarmEmails []string
	// EventLogRetention is how long the event log keeps its records (CDK
	// context eventLogRetention); zero is 30 days.
	EventLogRetention time.Duration
	// PushQueueThreshold: see RealtimeProps (CDK context
	// pushQueueThreshold); zero is the fan-out's default.
	PushQueueThreshold int
	// DataPlaneOnly builds only the tables, bus, rules and queues, named as
	// the dev runtime names them: for LocalStack (cdklocal deploy), whose
	// community edition has no API Gateway v2. Code may be nil.
	DataPlaneOnly bool
}

// Stack is a whole 3factor backend for one stage. It only composes the
// constructs; each owns its resources and grants. A data-plane stack has
// only Tables and Pipeline (without functions).
type Stack struct {
	awscdk.Stack
	Tables        *Tables
	Pipeline      *EventPipeline
	Identity      *Identity
	HTTP          *HttpApi
	Realtime      *Realtime
	Observability *Observability
}

// NewStack validates the topology and builds the stack.
func NewStack(scope constructs.Construct, id string, p Props) (*Stack, error) {
	if err := p.Topology.Validate(); err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	if _, err := ParseStage(string(p.Stage)); err != nil {
		return nil, err
	}
	if p.EventLogRetention < 0 || (p.EventLogRetention > 0 && p.EventLogRetention < time.Hour) {
		return nil, fmt.Errorf("stack %s: event log retention %s: want an hour or more (or zero for 30 days)", id, p.EventLogRetention)
	}
	if p.PushQueueThreshold < 0 {
		return nil, fmt.Errorf("stack %s: push queue threshold %d: want a positive number of subscriptions (or zero for the default)", id, p.PushQueueThreshold)
	}
	if p.Code == nil && !p.DataPlaneOnly {
		return nil, fmt.Errorf("stack %s: no Code source for the functions", id)
	}
	if err := p.Auth.Validate(); err != nil {
		return nil, fmt.Errorf("stack %s: %w", id, err)
	}
	if _, err := resolveOrigins(p.Stage, p.AllowedOrigins); err != nil {
		return nil, fmt.Errorf("stack %s: %w", id, err)
	}
	for name, th := range map[string]Throttle{"HTTP API": p.HTTPThrottle, "WebSocket API": p.WebSocketThrottle} {
		if err := th.Validate(); err != nil {
			return nil, fmt.Errorf("stack %s: %s %w", id, name, err)
		}
	}
	sp := p.StackProps
	if sp.Description == nil {
		sp.Description = jsii.String(fmt.Sprintf("%s (%s): realtime GraphQL, eventing from DynamoDB Streams, async functions", p.Topology.App, p.Stage))
	}
	if sp.TerminationProtection == nil {
		// A prod stack is deleted only after someone turns this off.
		sp.TerminationProtection = jsii.Bool(p.Stage.IsProd() && !p.DataPlaneOnly)
	}
	st := awscdk.NewStack(scope, jsii.String(id), &sp)
	awscdk.Tags_Of(st).Add(jsii.String("app"), jsii.String(p.Topology.App), nil)
	awscdk.Tags_Of(st).Add(jsii.String("stage"), jsii.String(string(p.Stage)), nil)

	s := &Stack{Stack: st}
	s.Tables = NewTables(st, "Tables", TablesProps{Topology: p.Topology, Stage: p.Stage, LocalNames: p.DataPlaneOnly})
	s.Pipeline = NewEventPipeline(st, "EventPipeline", EventPipelineProps{
		Topology: p.Topology, Stage: p.Stage, Tables: s.Tables, Code: p.Code, DataPlaneOnly: p.DataPlaneOnly,
		EventLogRetention: p.EventLogRetention,
	})
	output := func(name, desc string, value *string) {
		awscdk.NewCfnOutput(st, jsii.String(name), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(desc)})
	}
	output(OutputEventBusName, "Change event bus", s.Pipeline.Bus.EventBusName())
	if p.DataPlaneOnly {
		return s, nil
	}
	s.Identity = NewIdentity(st, "Identity", IdentityProps{App: p.Topology.App, Stage: p.Stage, Auth: p.Auth})
	s.HTTP = NewHttpApi(st, "HttpApi", HttpApiProps{
		Topology: p.Topology, Stage: p.Stage, Tables: s.Tables, Code: p.Code,
		Identity: s.Identity, AllowedOrigins: p.AllowedOrigins, Throttle: p.HTTPThrottle,
	})
	s.Realtime = NewRealtime(st, "Realtime", RealtimeProps{
		Topology: p.Topology, Stage: p.Stage, Tables: s.Tables, Code: p.Code,
		Identity: s.Identity, AllowedOrigins: p.AllowedOrigins, Throttle: p.WebSocketThrottle,
		AccountLoggingRole: p.AccountLoggingRole, EventLogRetention: p.EventLogRetention,
		PushQueueThreshold: p.PushQueueThreshold,
	})
	if !p.Stage.IsProd() {
		// The dev stage's GraphiQL page subscribes over the WebSocket API.
		s.HTTP.Function.AddEnvironment(jsii.String(topology.EnvGraphiQLSubscriptionsURL), s.Realtime.URL, nil)
	}

	dlqs := s.Pipeline.DeadLetterQueues()
	dlqs["FanOutOnFailure"] = s.Realtime.FanOutOnFailure
	dlqs["RealtimeAsyncFailures"] = s.Realtime.AsyncFailures
	dlqs["PushDLQ"] = s.Realtime.PushDLQ
	functions := map[string]awslambda.IFunction{
		"Router":     s.Pipeline.Router,
		"GraphQL":    s.HTTP.Function,
		"Realtime":   s.Realtime.Function,
		"FanOut":     s.Realtime.FanOut,
		"PushWorker": s.Realtime.PushWorker,
	}
	for name, fn := range s.Pipeline.Functions {
		functions["Fn"+topology.Pascal(name)] = fn
	}
	if s.Pipeline.EventLog != nil {
		functions["EventLog"] = s.Pipeline.EventLog
	}
	s.Observability = NewObservability(st, "Observability", ObservabilityProps{
		Stage:            p.Stage,
		DeadLetterQueues: dlqs,
		StreamReaders: map[string]awslambda.IFunction{
			"Router": s.Pipeline.Router,
			"FanOut": s.Realtime.FanOut,
		},
		Functions:   functions,
		AlarmEmails: p.AlarmEmails,
	})

	output(OutputGraphQLURL, "GraphQL queries and mutations (HTTPS POST/GET)", s.HTTP.URL)
	output(OutputWebSocketURL, "GraphQL subscriptions (graphql-transport-ws)", s.Realtime.URL)
	output(OutputManagementEndpoint, "WebSocket Management API endpoint", s.Realtime.ManagementEndpoint)
	output(OutputAuthIssuer, "OIDC issuer of the tokens the APIs accept", s.Identity.Issuer)
	// Every dead-letter queue, the framework's own included (what
	// threefactor load watches; dlq reads the routes' DLQ<Route> below).
	var parts []*string
	for i, name := range sortedNames(dlqs) {
		sep := ","
		if i == 0 {
			sep = ""
		}
		parts = append(parts, jsii.String(sep+name+"="), dlqs[name].QueueUrl())
	}
	output(OutputDeadLetterQueues, "Dead-letter queues (name=url, comma-separated)", awscdk.Fn_Join(jsii.String(""), &parts))
	// What the threefactor CLI's log, trace, replay and dlq read.
	if !p.Topology.DisableEventLog {
		output(topology.OutputEventLogTable, "Event log table", s.Tables.Table(topology.EventLogTable).TableName())
	}
	for _, tb := range p.Topology.Tables {
		output(topology.TableOutput(tb.Name), "Table "+tb.Name, s.Tables.Table(tb.Name).TableName())
	}
	for _, pr := range s.Pipeline.Routes {
		output(topology.QueueOutput(pr.Route.Name), "Queue of route "+pr.Route.Name, pr.Queue.QueueUrl())
		output(topology.DLQOutput(pr.Route.Name), "Dead-letter queue of route "+pr.Route.Name, pr.DLQ.QueueUrl())
	}
	if s.Identity.UserPool != nil {
		output(OutputUserPoolID, "Cognito user pool of the app's users", s.Identity.UserPool.UserPoolId())
		output(OutputUserPoolClientID, "Cognito app client (public, no secret): the tokens' audience", s.Identity.Client.UserPoolClientId())
	}
	return s, nil
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
