package stack

import (
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// ObservabilityProps configures Observability.
type ObservabilityProps struct {
	Stage Stage
	// DeadLetterQueues hold only failures; any message in one raises an alarm.
	DeadLetterQueues map[string]awssqs.IQueue
	// StreamReaders are the functions reading DynamoDB streams.
	StreamReaders map[string]awslambda.IFunction
	// Functions are all functions, whose errors raise an alarm.
	Functions map[string]awslambda.IFunction
	// IteratorAgeSeconds is how far behind a stream reader may fall before
	// its alarm fires. Default 60.
	IteratorAgeSeconds float64
	// AlarmEmails are subscribed to Topic (each must confirm by email).
	AlarmEmails []string
}

// Observability holds the alarms an operator needs: a message in any
// dead-letter queue, a stream reader falling behind, a function failing.
// Every alarm notifies Topic when it fires and when it recovers; subscribe
// paging or chat to it (or give AlarmEmails). X-Ray tracing and log
// retention are set on every function where it is created (newGoFunction).
type Observability struct {
	constructs.Construct
	// Topic receives every alarm's state changes. It is encrypted with Key,
	// a customer managed key, because CloudWatch cannot publish to a topic
	// encrypted with the AWS managed SNS key.
	Topic             awssns.Topic
	Key               awskms.Key
	DLQAlarms         map[string]awscloudwatch.Alarm
	IteratorAgeAlarms map[string]awscloudwatch.Alarm
	ErrorAlarms       map[string]awscloudwatch.Alarm
}

// NewObservability creates the alarms.
func NewObservability(scope constructs.Construct, id string, p ObservabilityProps) *Observability {
	c := constructs.NewConstruct(scope, jsii.String(id))
	o := &Observability{
		Construct:         c,
		DLQAlarms:         map[string]awscloudwatch.Alarm{},
		IteratorAgeAlarms: map[string]awscloudwatch.Alarm{},
		ErrorAlarms:       map[string]awscloudwatch.Alarm{},
	}
	o.Key = awskms.NewKey(c, jsii.String("AlarmTopicKey"), &awskms.KeyProps{
		Description:       jsii.String("Encrypts the alarm topic"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     p.Stage.RemovalPolicy(),
	})
	o.Topic = awssns.NewTopic(c, jsii.String("AlarmTopic"), &awssns.TopicProps{
		DisplayName: jsii.String("Alarms"),
		MasterKey:   o.Key,
		EnforceSSL:  jsii.Bool(true),
	})
	// CloudWatch alarms of this account, and nobody else, may publish.
	cloudwatch := awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)
	thisAccount := &map[string]interface{}{"StringEquals": map[string]interface{}{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()}}
	o.Topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Principals: &[]awsiam.IPrincipal{cloudwatch},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  jsii.Strings(*o.Topic.TopicArn()),
		Conditions: thisAccount,
	}))
	o.Key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Principals: &[]awsiam.IPrincipal{cloudwatch},
		// What SNS needs of the key to accept CloudWatch's messages.
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources:  jsii.Strings("*"), // in a key policy, "*" is this key
		Conditions: thisAccount,
	}), nil)
	for _, e := range p.AlarmEmails {
		sub := o.Topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(e), nil))
		suppressAlarmEmailNoDLQ(sub)
	}
	minute := awscdk.Duration_Minutes(jsii.Number(1))
	for _, name := range sortedKeys(p.DeadLetterQueues) {
		m := p.DeadLetterQueues[name].MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
			Period:    minute,
			Statistic: jsii.String("Maximum"),
		})
		o.DLQAlarms[name] = m.CreateAlarm(c, jsii.String(name+"NotEmpty"), &awscloudwatch.CreateAlarmOptions{
			AlarmDescription:   jsii.String(name + " holds failed messages: inspect, fix, then redrive"),
			Threshold:          jsii.Number(0),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			EvaluationPeriods:  jsii.Number(1),
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
	}
	age := p.IteratorAgeSeconds
	if age == 0 {
		age = 60
	}
	for _, name := range sortedKeys(p.StreamReaders) {
		m := p.StreamReaders[name].Metric(jsii.String("IteratorAge"), &awscloudwatch.MetricOptions{
			Period:    minute,
			Statistic: jsii.String("Maximum"),
		})
		o.IteratorAgeAlarms[name] = m.CreateAlarm(c, jsii.String(name+"IteratorAge"), &awscloudwatch.CreateAlarmOptions{
			AlarmDescription:   jsii.String(name + " is falling behind its DynamoDB streams"),
			Threshold:          jsii.Number(age * 1000), // IteratorAge is in milliseconds
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			EvaluationPeriods:  jsii.Number(3),
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
	}
	for _, name := range sortedKeys(p.Functions) {
		m := p.Functions[name].MetricErrors(&awscloudwatch.MetricOptions{Period: minute, Statistic: jsii.String("Sum")})
		o.ErrorAlarms[name] = m.CreateAlarm(c, jsii.String(name+"Errors"), &awscloudwatch.CreateAlarmOptions{
			AlarmDescription:   jsii.String(name + " invocations are failing"),
			Threshold:          jsii.Number(0),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			EvaluationPeriods:  jsii.Number(5),
			DatapointsToAlarm:  jsii.Number(3),
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
	}
	notify := awscloudwatchactions.NewSnsAction(o.Topic)
	for _, set := range []map[string]awscloudwatch.Alarm{o.DLQAlarms, o.IteratorAgeAlarms, o.ErrorAlarms} {
		for _, name := range sortedKeys(set) {
			set[name].AddAlarmAction(notify)
			set[name].AddOkAction(notify)
		}
	}
	return o
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
