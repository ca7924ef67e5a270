package stack

import (
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/threefactor/framework/lib/topology"
)

// Stream reading settings of the realtime fan-out: a subscriber wants the
// change now or not at all, so a failing batch is retried briefly and then
// reported to the on-failure queue.
const (
	FanOutBatchSize     = 100
	FanOutRetryAttempts = 2
	FanOutMaxRecordAge  = 300 // seconds
)

// RealtimeProps configures Realtime.
type RealtimeProps struct {
	Topology topology.Topology
	Stage    Stage
	Tables   *Tables
	Code     Code
	// Identity gives the issuer and audience the realtime function
	// verifies connection_init tokens against.
	Identity *Identity
	// AllowedOrigins are the browser origins that may open the WebSocket
	// (ALLOWED_ORIGINS). See Props.
	AllowedOrigins []string
	// Throttle of the stage. Zero: DefaultThrottle(Stage).
	Throttle Throttle
	// AccountLoggingRole sets the regional API Gateway account's CloudWatch
	// Logs role, without which a WebSocket stage cannot write access logs.
	// Leave it false where the account already has one.
	AccountLoggingRole bool
	// EventLogRetention: see EventPipelineProps.
	EventLogRetention time.Duration
	// PushQueueThreshold is the audience (subscriptions of one change)
	// over which the fan-out hands a change to the push queue
	// (topology.EnvPushQueueThreshold). Zero: the fan-out's default.
	PushQueueThreshold int
}

// Realtime is the GraphQL subscription side: a WebSocket API whose
// $connect, $disconnect and $default routes reach the realtime function
// (graphql-transport-ws), and the fan-out function, the second reader of
// every stream table, which pushes changes to matching subscriptions
// through the stage's Management API.
//
// A connection lives no longer than the token it authenticated with: the
// realtime function schedules, in ExpirySchedules, a one-time schedule at
// the token's expiry that invokes it (as ExpiryRole) to close the
// connection. Those invocations are asynchronous; what still fails after
// Lambda's retries lands in AsyncFailures.
type Realtime struct {
	constructs.Construct
	Api        awsapigatewayv2.WebSocketApi
	Stage      awsapigatewayv2.WebSocketStage
	Function   awslambda.Function
	FanOut     awslambda.Function
	AccessLogs awslogs.LogGroup
	// FanOutMappings are the fan-out's stream event source mappings, by table.
	FanOutMappings map[string]awslambdaeventsources.DynamoEventSource
	// FanOutOnFailure receives the description of stream batches the
	// fan-out gave up on.
	FanOutOnFailure awssqs.Queue
	// PushQueue is where the fan-out puts the changes whose audience is
	// too large to push from the stream: a FIFO queue whose message
	// groups are partitions of connections, in high-throughput mode;
	// PushDLQ takes a message after topology.PushMaxReceiveCount receives.
	PushQueue awssqs.Queue
	PushDLQ   awssqs.Queue
	// PushWorker reads PushQueue through PushMapping and pushes.
	PushWorker  awslambda.Function
	PushMapping awslambdaeventsources.SqsEventSource
	// ExpirySchedules is the schedule group of the connections' expiry
	// schedules.
	ExpirySchedules awsscheduler.ScheduleGroup
	// ExpiryRole is the role the expiry schedules run as: it may invoke
	// the realtime function, nothing else.
	ExpiryRole awsiam.Role
	// AsyncFailures is the realtime function's dead-letter queue: expiry
	// invocations that failed every attempt.
	AsyncFailures awssqs.Queue
	// URL is the wss:// URL clients connect to.
	URL *string
	// ManagementEndpoint is the https:// Management API endpoint of the stage.
	ManagementEndpoint *string
}

const wsAccessLogFormat = `{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",` +
	`"requestTime":"$context.requestTime","eventType":"$context.eventType","routeKey":"$context.routeKey",` +
	`"status":"$context.status","connectionId":"$context.connectionId",` +
	`"integrationLatencyMs":"$context.integrationLatency","integrationError":"$context.integrationErrorMessage"}`

// NewRealtime creates the WebSocket API, its stage and both functions.
func NewRealtime(scope constructs.Construct, id string, p RealtimeProps) *Realtime {
	c := constructs.NewConstruct(scope, jsii.String(id))
	r := &Realtime{Construct: c, FanOutMappings: map[string]awslambdaeventsources.DynamoEventSource{}}
	t := p.Topology
	framework := []string{topology.ConnectionsTable, topology.SubscriptionsTable}
	app := AppTables(t)

	// The realtime function also runs queries and mutations sent over the
	// socket, so it gets what the graphql function gets.
	rtTables := append(append(append([]string(nil), app...), topology.IdempotencyTable), framework...)
	rtEnv := p.Tables.Env(rtTables...)
	for k, v := range p.Identity.Env() {
		rtEnv[k] = v
	}
	origins, err := resolveOrigins(p.Stage, p.AllowedOrigins)
	if err != nil {
		panic(err)
	}
	rtEnv[EnvAllowedOrigins] = strings.Join(origins.Env, ",")
	r.AsyncFailures = newQueue(c, "AsyncFailures", 14)
	suppressFailureQueueHasNoDLQ(r.AsyncFailures, "dead-letter queue of the realtime function's asynchronous (expiry) invocations")
	r.Function = newGoFunction(c, "Realtime", goFunctionProps{
		Name:        topology.RealtimeFunction,
		Description: "GraphQL over WebSocket (graphql-transport-ws): $connect, $disconnect, $default, token expiry",
		Code:        p.Code,
		Stage:       p.Stage,
		Timeout:     awscdk.Duration_Seconds(jsii.Number(10)),
		MemoryMB:    512,
		Env:         rtEnv,
		AsyncDLQ:    r.AsyncFailures,
	})
	p.Tables.GrantReadWrite(r.Function, rtTables...)
	// Subscriptions resume and catch up from the topic logs, and the
	// changes a catch-up delivers are recorded as pushes.
	for k, v := range p.Tables.EventLogEnv(t, p.EventLogRetention) {
		r.Function.AddEnvironment(jsii.String(k), jsii.String(v), nil)
	}
	p.Tables.GrantEventLogTopics(t, r.Function)
	p.Tables.GrantEventLogWrite(t, r.Function)
	r.addExpiry(c)

	// The fan-out reads app tables to run stored operations, and writes the
	// connection and subscription stores to clean up gone connections.
	foTables := append(append([]string(nil), app...), framework...)
	r.FanOut = newGoFunction(c, "FanOut", goFunctionProps{
		Name:        topology.FanOutFunction,
		Description: "Pushes committed changes to matching GraphQL subscriptions",
		Code:        p.Code,
		Stage:       p.Stage,
		Timeout:     awscdk.Duration_Seconds(jsii.Number(60)),
		MemoryMB:    512,
		Env:         p.Tables.Env(foTables...),
	})
	p.Tables.GrantRead(r.FanOut, app...)
	p.Tables.GrantReadWrite(r.FanOut, framework...)
	// Every change is appended to its topics' logs (the cursors of its
	// pushes), and every push is recorded in the event log.
	for k, v := range p.Tables.EventLogEnv(t, p.EventLogRetention) {
		r.FanOut.AddEnvironment(jsii.String(k), jsii.String(v), nil)
	}
	p.Tables.GrantEventLogWrite(t, r.FanOut)
	p.Tables.GrantEventLogTopics(t, r.FanOut)

	integration := func(id string) *awsapigatewayv2.WebSocketRouteOptions {
		return &awsapigatewayv2.WebSocketRouteOptions{
			Integration: awsapigatewayv2integrations.NewWebSocketLambdaIntegration(jsii.String(id), r.Function, nil),
		}
	}
	r.Api = awsapigatewayv2.NewWebSocketApi(c, jsii.String("Api"), &awsapigatewayv2.WebSocketApiProps{
		Description:            jsii.String(t.App + " GraphQL subscriptions (graphql-transport-ws)"),
		ConnectRouteOptions:    integration("ConnectIntegration"),
		DisconnectRouteOptions: integration("DisconnectIntegration"),
		DefaultRouteOptions:    integration("DefaultIntegration"),
	})
	suppressWebSocketNoAuthorizer(r.Api)
	throttle := p.Throttle.orDefault(p.Stage)
	r.Stage = awsapigatewayv2.NewWebSocketStage(c, jsii.String("Stage"), &awsapigatewayv2.WebSocketStageProps{
		WebSocketApi: r.Api,
		StageName:    jsii.String(string(p.Stage)),
		AutoDeploy:   jsii.Bool(true),
		Throttle: &awsapigatewayv2.ThrottleSettings{
			RateLimit:  jsii.Number(throttle.RatePerSecond),
			BurstLimit: jsii.Number(throttle.Burst),
		},
	})
	r.AccessLogs = awslogs.NewLogGroup(c, jsii.String("AccessLogs"), &awslogs.LogGroupProps{
		Retention:     p.Stage.LogRetention(),
		RemovalPolicy: p.Stage.RemovalPolicy(),
	})
	setAccessLogs(r.Stage, r.AccessLogs, wsAccessLogFormat)
	if p.AccountLoggingRole {
		r.Stage.Node().AddDependency(accountLoggingRole(c))
	}
	r.URL = r.Stage.Url()
	r.ManagementEndpoint = r.Stage.CallbackUrl()

	r.addPushQueue(c, p, append(append([]string(nil), app...), framework...))

	for _, fn := range []awslambda.Function{r.Function, r.FanOut, r.PushWorker} {
		fn.AddEnvironment(jsii.String(topology.EnvManagementEndpoint), r.ManagementEndpoint, nil)
		// POST/GET/DELETE @connections of this API's stage only.
		r.Stage.GrantManagementApiAccess(fn)
		suppressConnectionsWildcard(fn.Role())
	}

	r.FanOutOnFailure = newQueue(c, "FanOutOnFailure", 14)
	suppressFailureQueueHasNoDLQ(r.FanOutOnFailure, "on-failure destination of the fan-out's stream mappings")
	for _, name := range p.Tables.Streams {
		src := streamSource(p.Tables.Table(name), streamParallelization(t, name), r.FanOutOnFailure, awslambda.StartingPosition_LATEST,
			FanOutBatchSize, FanOutRetryAttempts, FanOutMaxRecordAge)
		r.FanOut.AddEventSource(src)
		r.FanOutMappings[name] = src
	}
	return r
}

// addPushQueue creates the push queue, its dead-letter queue and the push
// worker behind it, and lets the fan-out send to it.
func (r *Realtime) addPushQueue(c constructs.Construct, p RealtimeProps, tables []string) {
	r.PushDLQ = awssqs.NewQueue(c, jsii.String("PushDLQ"), &awssqs.QueueProps{
		Fifo:            jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
	})
	suppressDLQHasNoRedrive(r.PushDLQ, "the fan-out's push")
	r.PushQueue = awssqs.NewQueue(c, jsii.String("PushQueue"), &awssqs.QueueProps{
		Fifo: jsii.Bool(true),
		// High-throughput FIFO: the limits apply per message group, and
		// deduplication ids are per group (the fan-out's are hashes of
		// the whole message, unique anyway).
		FifoThroughputLimit: awssqs.FifoThroughputLimit_PER_MESSAGE_GROUP_ID,
		DeduplicationScope:  awssqs.DeduplicationScope_MESSAGE_GROUP,
		VisibilityTimeout:   awscdk.Duration_Seconds(jsii.Number(topology.PushVisibilityTimeout.Seconds())),
		DeadLetterQueue: &awssqs.DeadLetterQueue{
			Queue:           r.PushDLQ,
			MaxReceiveCount: jsii.Number(topology.PushMaxReceiveCount),
		},
		Encryption: awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL: jsii.Bool(true),
	})
	r.PushQueue.GrantSendMessages(r.FanOut)
	r.FanOut.AddEnvironment(jsii.String(topology.EnvPushQueueURL), r.PushQueue.QueueUrl(), nil)
	if p.PushQueueThreshold > 0 {
		r.FanOut.AddEnvironment(jsii.String(topology.EnvPushQueueThreshold), jsii.String(strconv.Itoa(p.PushQueueThreshold)), nil)
	}

	// The worker runs the stored operations (reading app tables) and
	// cleans up gone connections and the queue marks (writing the
	// framework's).
	r.PushWorker = newGoFunction(c, "PushWorker", goFunctionProps{
		Name:        topology.PushFunction,
		Description: "Pushes changes with a large audience, one partition of connections per message group",
		Code:        p.Code,
		Stage:       p.Stage,
		Timeout:     awscdk.Duration_Seconds(jsii.Number(topology.PushTimeout.Seconds())),
		MemoryMB:    512,
		Env:         p.Tables.Env(tables...),
	})
	p.Tables.GrantRead(r.PushWorker, AppTables(p.Topology)...)
	p.Tables.GrantReadWrite(r.PushWorker, topology.ConnectionsTable, topology.SubscriptionsTable)
	// Its pushes are recorded in the event log, as the fan-out's are.
	for k, v := range p.Tables.EventLogEnv(p.Topology, p.EventLogRetention) {
		r.PushWorker.AddEnvironment(jsii.String(k), jsii.String(v), nil)
	}
	p.Tables.GrantEventLogWrite(p.Topology, r.PushWorker)
	r.PushMapping = awslambdaeventsources.NewSqsEventSource(r.PushQueue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(topology.PushBatchSize),
		ReportBatchItemFailures: jsii.Bool(true),
	})
	r.PushWorker.AddEventSource(r.PushMapping)
	suppressSQSMappingDestination(r.PushWorker.Node().FindChild(jsii.String("SqsEventSource:" + *awscdk.Names_NodeUniqueId(r.PushQueue.Node()))))
}

// addExpiry creates the expiry schedule group and the role its schedules
// run as, and lets the realtime function create schedules there, passing
// that role and no other.
func (r *Realtime) addExpiry(c constructs.Construct) {
	stack := awscdk.Stack_Of(c)
	// Schedules are transient (each deletes itself once it ran), so the
	// group goes with the stack in every stage.
	r.ExpirySchedules = awsscheduler.NewScheduleGroup(c, jsii.String("ExpirySchedules"), &awsscheduler.ScheduleGroupProps{
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	// Scheduler may assume the role for this account's expiry group only
	// (confused deputy protection).
	scheduler := awsiam.NewServicePrincipal(jsii.String("scheduler.amazonaws.com"), &awsiam.ServicePrincipalOpts{
		Conditions: &map[string]interface{}{"StringEquals": map[string]interface{}{
			"aws:SourceAccount": stack.Account(),
			"aws:SourceArn":     r.ExpirySchedules.ScheduleGroupArn(),
		}},
	})
	r.ExpiryRole = awsiam.NewRole(c, jsii.String("ExpiryRole"), &awsiam.RoleProps{
		AssumedBy:   scheduler,
		Description: jsii.String("Role of the WebSocket expiry schedules: invokes the realtime function"),
	})
	// The unqualified function only (grantInvoke would add its versions).
	r.ExpiryRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("lambda:InvokeFunction"),
		Resources: jsii.Strings(*r.Function.FunctionArn()),
	}))

	schedules := stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("scheduler"),
		Resource:     jsii.String("schedule"),
		ResourceName: jsii.String(*r.ExpirySchedules.ScheduleGroupName() + "/*"),
		ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
	})
	r.Function.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("scheduler:CreateSchedule"),
		Resources: jsii.Strings(*schedules),
	}))
	r.Function.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("iam:PassRole"),
		Resources: jsii.Strings(*r.ExpiryRole.RoleArn()),
		Conditions: &map[string]interface{}{"StringEquals": map[string]interface{}{
			"iam:PassedToService": "scheduler.amazonaws.com",
		}},
	}))
	suppressExpirySchedulesWildcard(r.Function.Role(), *r.ExpirySchedules.ScheduleGroupName())
	r.Function.AddEnvironment(jsii.String(EnvExpiryScheduleGroup), r.ExpirySchedules.ScheduleGroupName(), nil)
	r.Function.AddEnvironment(jsii.String(EnvExpirySchedulerRoleArn), r.ExpiryRole.RoleArn(), nil)
}

// accountLoggingRole gives API Gateway in this account and region the role
// it writes stage logs with.
func accountLoggingRole(scope constructs.Construct) awsapigateway.CfnAccount {
	role := awsiam.NewRole(scope, jsii.String("ApiGatewayLogsRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("apigateway.amazonaws.com"), nil),
		Description: jsii.String("Lets API Gateway write WebSocket stage access logs"),
		ManagedPolicies: &[]awsiam.IManagedPolicy{
			awsiam.ManagedPolicy_FromAwsManagedPolicyName(jsii.String("service-role/AmazonAPIGatewayPushToCloudWatchLogs")),
		},
	})
	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM4"),
		Reason: jsii.String("AmazonAPIGatewayPushToCloudWatchLogs is the policy AWS documents for the API Gateway " +
			"account logging role; API Gateway names its log groups itself, so no narrower resource is known here."),
		AppliesTo: &[]interface{}{
			jsii.String("Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"),
		},
	}}, jsii.Bool(true))
	// The account setting outlives the stack (other APIs in the region may
	// rely on it), and so must the role it names.
	role.ApplyRemovalPolicy(awscdk.RemovalPolicy_RETAIN)
	account := awsapigateway.NewCfnAccount(scope, jsii.String("ApiGatewayAccount"), &awsapigateway.CfnAccountProps{
		CloudWatchRoleArn: role.RoleArn(),
	})
	account.ApplyRemovalPolicy(awscdk.RemovalPolicy_RETAIN, nil)
	return account
}
