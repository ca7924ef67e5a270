package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// ApplyChecks runs the cdk-nag AwsSolutions rule pack over scope at
// synthesis: a finding is an error annotation that fails `cdk synth`,
// unless a suppression with a reason covers it.
//
// cdk-nag v2.35 (the version this module pins) has no Serverless pack; the
// infra tests check its rules (tracing, memory, timeouts, failure
// destinations, redrive, throttling, structured access logs, log
// retention) on the template directly.
func ApplyChecks(scope constructs.IConstruct) {
	awscdk.Aspects_Of(scope).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
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

// suppressNoAuthorizer: GraphQL authenticates inside the resolvers'
// transport, not at API Gateway.
func suppressNoAuthorizer(api constructs.IConstruct, why string) {
	cdknag.NagSuppressions_AddResourceSuppressions(api, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-APIG4"),
		Reason: jsii.String(why),
	}}, jsii.Bool(true))
}

// suppressFailureQueueHasNoDLQ: queues that are themselves the last stop
// for failures (stream on-failure destinations, rule target DLQs) need no
// dead-letter queue of their own; cdk-nag only recognises SQS redrive DLQs.
func suppressFailureQueueHasNoDLQ(queue constructs.IConstruct, role string) {
	cdknag.NagSuppressions_AddResourceSuppressions(queue, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-SQS3"),
		Reason: jsii.String("This queue is itself a dead-letter destination (" + role + "); an alarm fires on any message in it."),
	}}, jsii.Bool(false))
}
