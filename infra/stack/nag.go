package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// ApplyChecks runs cdk-nag's AwsSolutions and Serverless rule packs over
// scope at synthesis: a finding is an error annotation that fails `cdk
// synth`, unless a suppression with a reason covers it.
func ApplyChecks(scope constructs.IConstruct) {
	props := &cdknag.NagPackProps{Verbose: jsii.Bool(true)}
	awscdk.Aspects_Of(scope).Add(cdknag.NewAwsSolutionsChecks(props), nil)
	awscdk.Aspects_Of(scope).Add(cdknag.NewServerlessChecks(props), nil)
}

// Every accepted finding is suppressed here, next to the reason, on the
// narrowest construct and, for wildcards, only for the exact resource
// pattern.

// suppressTracingWildcard: X-Ray's PutTraceSegments and PutTelemetryRecords
// (and DynamoDB's ListStreams, which stream readers need) support no
// resource-level permissions, so IAM requires Resource "*" for them.
func suppressTracingWildcard(role constructs.IConstruct) {
	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("xray:PutTraceSegments, xray:PutTelemetryRecords and dynamodb:ListStreams support no " +
			"resource-level permissions; IAM requires Resource * for them. Every other statement names its resource."),
		AppliesTo: &[]interface{}{jsii.String("Resource::*")},
	}}, jsii.Bool(true))
}

// suppressIndexWildcard: querying a table's global secondary indexes needs
// table-arn/index/<name>; the grant covers the indexes of this one table.
func suppressIndexWildcard(grantee constructs.IConstruct, tableLogicalID string) {
	cdknag.NagSuppressions_AddResourceSuppressions(grantee, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("Queries by the table's declared global secondary indexes; IAM addresses them as " +
			"<table arn>/index/<name>, and the wildcard is limited to this one table's indexes."),
		AppliesTo: &[]interface{}{jsii.String("Resource::<" + tableLogicalID + ".Arn>/index/*")},
	}}, jsii.Bool(true))
}

// suppressConnectionsWildcard: the Management API is addressed per
// connection id, which is only known at run time.
func suppressConnectionsWildcard(grantee constructs.IConstruct) {
	cdknag.NagSuppressions_AddResourceSuppressions(grantee, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("execute-api:ManageConnections on this API's own stage, any method, any connection id " +
			"(@connections/{id}): connection ids are only known at run time."),
		AppliesTo: &[]interface{}{&cdknag.RegexAppliesTo{
			Regex: jsii.String(`/^Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<[A-Za-z0-9]+>\/[a-z]+\/\*\/@connections\/\*$/g`),
		}},
	}}, jsii.Bool(true))
}

// suppressWebSocketNoAuthorizer: a WebSocket client authenticates in the
// graphql-transport-ws connection_init message, not at the upgrade.
func suppressWebSocketNoAuthorizer(api constructs.IConstruct) {
	cdknag.NagSuppressions_AddResourceSuppressions(api, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-APIG4"),
		Reason: jsii.String("A browser cannot set headers on a WebSocket upgrade, so graphql-transport-ws authenticates in its " +
			"connection_init message: the realtime function verifies that token (issuer, audience, signature, expiry) before " +
			"any operation runs, and closes the connection at the token's expiry; $connect only checks the Origin."),
	}}, jsii.Bool(true))
}

// suppressGraphiQLOpen: the dev stage's GraphiQL page is static; its
// queries go to /graphql, behind the JWT authorizer, with the user's token.
func suppressGraphiQLOpen(route constructs.IConstruct) {
	cdknag.NagSuppressions_AddResourceSuppressions(route, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-APIG4"),
		Reason: jsii.String("GET /graphiql serves the GraphiQL page in the dev stage only, and no data: every query it sends " +
			"goes to /graphql, where the JWT authorizer requires the user's token. The prod stage has no such route."),
	}}, jsii.Bool(false))
}

// suppressExpirySchedulesWildcard: the realtime function names each
// expiry schedule after its connection, known only at run time. group is
// the schedule group's name, fixed at synthesis.
func suppressExpirySchedulesWildcard(grantee constructs.IConstruct, group string) {
	cdknag.NagSuppressions_AddResourceSuppressions(grantee, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("scheduler:CreateSchedule in the stack's own expiry schedule group only (schedule/<group>/*): " +
			"each schedule is named after a WebSocket connection, known only at run time."),
		AppliesTo: &[]interface{}{
			jsii.String("Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/" + group + "/*"),
		},
	}}, jsii.Bool(true))
}

// suppressFailureQueueHasNoDLQ: queues that are themselves the last stop
// for failures (stream on-failure destinations, rule target DLQs) need no
// dead-letter queue of their own; cdk-nag only recognises SQS redrive DLQs.
func suppressFailureQueueHasNoDLQ(queue constructs.IConstruct, role string) {
	reason := jsii.String("This queue is itself a dead-letter destination (" + role + "); an alarm fires on any message in it.")
	cdknag.NagSuppressions_AddResourceSuppressions(queue, &[]*cdknag.NagPackSuppression{
		{Id: jsii.String("AwsSolutions-SQS3"), Reason: reason},
		{Id: jsii.String("Serverless-SQSRedrivePolicy"), Reason: reason},
	}, jsii.Bool(false))
}

// suppressDLQHasNoRedrive: a route's dead-letter queue is the end of the
// line; the Serverless pack asks every queue for a redrive policy, even a
// DLQ (AwsSolutions-SQS3 recognises redrive DLQs by itself).
func suppressDLQHasNoRedrive(dlq constructs.IConstruct, route string) {
	cdknag.NagSuppressions_AddResourceSuppressions(dlq, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("Serverless-SQSRedrivePolicy"),
		Reason: jsii.String("This queue is the dead-letter queue of route " + route + "'s queue (its redrive target); " +
			"a DLQ of a DLQ would only move the failures further from the alarm that fires on any message here."),
	}}, jsii.Bool(false))
}

// suppressSQSMappingDestination: Lambda supports on-failure destinations
// for stream and Kafka event source mappings only; a message an SQS
// mapping cannot process goes back to its queue and, after the queue's
// maxReceiveCount, to the queue's dead-letter queue.
func suppressSQSMappingDestination(mapping constructs.IConstruct) {
	cdknag.NagSuppressions_AddResourceSuppressions(mapping, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("Serverless-LambdaEventSourceMappingDestination"),
		Reason: jsii.String("An SQS event source mapping takes no on-failure destination (Lambda supports them for " +
			"streams and Kafka only); failed messages reach the queue's redrive dead-letter queue, which raises an alarm."),
	}}, jsii.Bool(false))
}

// suppressNoAsyncDLQ: a function's dead-letter queue receives only failed
// asynchronous invocations. This stack invokes its functions synchronously
// (API Gateway) or through event source mappings, which poll and invoke
// synchronously, and each of those has its own failure path.
func suppressNoAsyncDLQ(fn constructs.IConstruct) {
	cdknag.NagSuppressions_AddResourceSuppressions(fn, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("Serverless-LambdaDLQ"),
		Reason: jsii.String("Invoked only synchronously (API Gateway) or by event source mappings, never asynchronously, " +
			"so a function DLQ would never receive anything; failures go to the mappings' on-failure queues or the SQS redrive DLQs."),
	}}, jsii.Bool(false))
}

// suppressAlarmEmailNoDLQ: a dead-letter queue for the alarm e-mails could
// only be watched by an alarm that notifies through this same topic.
func suppressAlarmEmailNoDLQ(subscription constructs.IConstruct) {
	cdknag.NagSuppressions_AddResourceSuppressions(subscription, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("Serverless-SNSRedrivePolicy"),
		Reason: jsii.String("E-mail subscription of the alarm topic: an alarm on a DLQ for undelivered alarm e-mails could " +
			"only notify through this same topic; the alarms' state stays in CloudWatch either way."),
	}}, jsii.Bool(false))
}

// suppressLocalTargetNoDLQ: the data-plane stack (LocalStack) gives each
// rule the target the dev runtime provisions, the route's queue with no
// options, so that local and cloud-local behave alike (the parity test
// holds it); its events are local test data.
func suppressLocalTargetNoDLQ(rule constructs.IConstruct) {
	cdknag.NagSuppressions_AddResourceSuppressions(rule, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("Serverless-EventBusDLQ"),
		Reason: jsii.String("Data-plane stack for a local emulator: the rule's target is exactly what the dev runtime " +
			"provisions (the route's queue, no options), which the parity test requires; the deployed stages give every " +
			"target a dead-letter queue."),
	}}, jsii.Bool(true))
}
