package stack

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/threefactor/framework/lib/topology"
)

// Stream reading settings of the router. Records are retried (halving the
// batch each time) until they are MaxRecordAge old, well inside the 24h
// stream retention, so an operator can still re-read a batch the on-failure
// queue reports.
const (
	RouterBatchSize     = 100
	RouterRetryAttempts = 10
	RouterMaxRecordAge  = 6 * 3600 // seconds
)

// EventPipelineProps configures EventPipeline.
type EventPipelineProps struct {
	Topology topology.Topology
	Stage    Stage
	Tables   *Tables
	Code     Code
	// DataPlaneOnly leaves out the functions (router, app functions, their
	// mappings), the archive and the failure queues, and names the bus,
	// rules and queues as the dev runtime does: what a LocalStack user
	// deploys with cdklocal before running `make dev` against it.
	DataPlaneOnly bool
	// EventLogRetention is how long the event log keeps records; zero is
	// eventlog.DefaultRetention (30 days). Every writer of the log (the
	// eventlog function, the app's functions, the fan-out) gets it.
	EventLogRetention time.Duration
}

// PipelineRoute is the cloud side of one topology route: a rule on the bus
// with the route's pattern, targeting a queue whose dead-letter queue takes
// what fails MaxReceiveCount times, read by the route's function.
type PipelineRoute struct {
	Route    topology.Route // with defaults applied
	Rule     awsevents.Rule
	Queue    awssqs.Queue
	DLQ      awssqs.Queue
	Function awslambda.Function
	Mapping  awslambdaeventsources.SqsEventSource
}

// EventPipeline carries committed changes to the app's functions:
// DynamoDB Streams -> router function -> custom EventBridge bus (archived
// for replay) -> one rule, queue and dead-letter queue per route -> the
// route's function.
type EventPipeline struct {
	constructs.Construct
	Bus     awsevents.EventBus
	Archive awsevents.Archive
	// Router reads every stream table and puts change events on Bus.
	Router awslambda.Function
	// RouterMappings are the router's stream event source mappings, by table.
	RouterMappings map[string]awslambdaeventsources.DynamoEventSource
	// RouterOnFailure receives the description of stream batches the router
	// finally gave up on.
	RouterOnFailure awssqs.Queue
	// Undeliverable is the dead-letter queue of the rule targets: events
	// EventBridge could not deliver to a route queue.
	Undeliverable awssqs.Queue
	// Functions are the app's functions, by name.
	Functions map[string]awslambda.Function
	// EventLog is the framework's eventlog function, fed every change
	// event by the eventlog route; nil when the app's log is disabled.
	EventLog awslambda.Function
	// Routes in declaration order, the framework's (eventlog) last.
	Routes []*PipelineRoute
}

// NewEventPipeline creates the bus, the router and, for every route, its
// rule, queues and function wiring.
func NewEventPipeline(scope constructs.Construct, id string, p EventPipelineProps) *EventPipeline {
	c := constructs.NewConstruct(scope, jsii.String(id))
	e := &EventPipeline{
		Construct:      c,
		RouterMappings: map[string]awslambdaeventsources.DynamoEventSource{},
		Functions:      map[string]awslambda.Function{},
	}
	t := p.Topology

	busProps := &awsevents.EventBusProps{Description: jsii.String(t.App + " change events")}
	if p.DataPlaneOnly {
		busProps.EventBusName = jsii.String(t.BusName())
	}
	e.Bus = awsevents.NewEventBus(c, jsii.String("Bus"), busProps)
	if p.DataPlaneOnly {
		e.addRoutes(c, t, p)
		return e
	}
	retention := awscdk.Duration_Days(jsii.Number(30))
	if p.Stage.IsProd() {
		retention = awscdk.Duration_Days(jsii.Number(365))
	}
	e.Archive = e.Bus.Archive(jsii.String("Archive"), &awsevents.BaseArchiveProps{
		Description:  jsii.String("Every change event, for replay"),
		EventPattern: &awsevents.EventPattern{Source: jsii.Strings(t.EventSource())},
		Retention:    retention,
	})

	e.RouterOnFailure = newQueue(c, "RouterOnFailure", 14)
	suppressFailureQueueHasNoDLQ(e.RouterOnFailure, "on-failure destination of the router's stream mappings")
	e.Undeliverable = newQueue(c, "Undeliverable", 14)
	suppressFailureQueueHasNoDLQ(e.Undeliverable, "dead-letter queue of every route rule's target")

	// The router: stream records -> change events.
	routerEnv := p.Tables.Env(p.Tables.Streams...)
	routerEnv[topology.EnvEventBus] = *e.Bus.EventBusName()
	e.Router = newGoFunction(c, "Router", goFunctionProps{
		Name:        topology.RouterFunction,
		Description: "Turns DynamoDB stream records into change events on the bus",
		Code:        p.Code,
		Stage:       p.Stage,
		Timeout:     awscdk.Duration_Seconds(jsii.Number(60)),
		MemoryMB:    256,
		Env:         routerEnv,
	})
	e.Bus.GrantPutEventsTo(e.Router, nil)
	for _, name := range p.Tables.Streams {
		src := streamSource(p.Tables.Table(name), streamParallelization(t, name), e.RouterOnFailure, awslambda.StartingPosition_TRIM_HORIZON,
			RouterBatchSize, RouterRetryAttempts, RouterMaxRecordAge)
		e.Router.AddEventSource(src)
		e.RouterMappings[name] = src
	}

	// The app's functions; each records its deliveries in the event log.
	for _, f := range t.Functions {
		f, _ = t.Function(f.Name) // defaults applied
		tables := append(append([]string(nil), f.Tables...), topology.IdempotencyTable)
		env := p.Tables.Env(tables...)
		for k, v := range p.Tables.EventLogEnv(t, p.EventLogRetention) {
			env[k] = v
		}
		for k, v := range f.Env {
			env[k] = v
		}
		fn := newGoFunction(c, "Fn"+topology.Pascal(f.Name), goFunctionProps{
			Name:        f.Name,
			Description: "Async function " + f.Name,
			Code:        p.Code,
			Stage:       p.Stage,
			Timeout:     awscdk.Duration_Millis(jsii.Number(float64(f.Timeout.Milliseconds()))),
			MemoryMB:    f.MemoryMB,
			Env:         env,
		})
		p.Tables.GrantReadWrite(fn, tables...)
		p.Tables.GrantEventLogWrite(t, fn)
		e.Functions[f.Name] = fn
	}

	// The framework's eventlog function: every change event, written to
	// the event log table.
	if f, ok := t.Function(topology.EventLogFunction); ok {
		e.EventLog = newGoFunction(c, "EventLog", goFunctionProps{
			Name:        topology.EventLogFunction,
			Description: "Writes every change event to the event log",
			Code:        p.Code,
			Stage:       p.Stage,
			Timeout:     awscdk.Duration_Millis(jsii.Number(float64(f.Timeout.Milliseconds()))),
			MemoryMB:    f.MemoryMB,
			Env:         p.Tables.EventLogEnv(t, p.EventLogRetention),
		})
		p.Tables.GrantEventLogWrite(t, e.EventLog)
	}

	e.addRoutes(c, t, p)
	return e
}

// function is the function a route feeds.
func (e *EventPipeline) function(name string) awslambda.Function {
	if name == topology.EventLogFunction {
		return e.EventLog
	}
	return e.Functions[name]
}

// addRoutes creates one rule, queue and dead-letter queue per route and,
// unless DataPlaneOnly, feeds the queue to the route's function.
func (e *EventPipeline) addRoutes(c constructs.Construct, t topology.Topology, p EventPipelineProps) {
	for _, r := range t.RoutesWithDefaults() {
		id := topology.Pascal(r.Name)
		dlq := newQueue(c, "DLQ"+id, 14)
		suppressDLQHasNoRedrive(dlq, r.Name)
		var queueName, ruleName *string
		if p.DataPlaneOnly {
			dlq.Node().DefaultChild().(awssqs.CfnQueue).SetQueueName(jsii.String(t.DLQName(r.Name)))
			queueName, ruleName = jsii.String(t.QueueName(r.Name)), jsii.String(t.RuleName(r.Name))
		}
		queue := awssqs.NewQueue(c, jsii.String("Queue"+id), &awssqs.QueueProps{
			QueueName:         queueName,
			VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(r.VisibilityTimeout.Seconds())),
			DeadLetterQueue: &awssqs.DeadLetterQueue{
				Queue:           dlq,
				MaxReceiveCount: jsii.Number(float64(r.MaxReceiveCount)),
			},
			Encryption: awssqs.QueueEncryption_SQS_MANAGED,
			EnforceSSL: jsii.Bool(true),
		})
		rule := awsevents.NewRule(c, jsii.String("Rule"+id), &awsevents.RuleProps{
			RuleName:     ruleName,
			EventBus:     e.Bus,
			Description:  jsii.String("Route " + r.Name + " -> " + r.Function),
			EventPattern: eventPattern(t, r),
		})
		pr := &PipelineRoute{Route: r, Rule: rule, Queue: queue, DLQ: dlq}
		e.Routes = append(e.Routes, pr)
		if p.DataPlaneOnly {
			// The queue as the only target, with no options: what the dev
			// runtime's provisioning puts (and replaces on every start).
			rule.AddTarget(awseventstargets.NewSqsQueue(queue, nil))
			suppressLocalTargetNoDLQ(rule)
			continue
		}
		rule.AddTarget(awseventstargets.NewSqsQueue(queue, &awseventstargets.SqsQueueProps{
			DeadLetterQueue: e.Undeliverable,
			MaxEventAge:     awscdk.Duration_Hours(jsii.Number(24)),
			RetryAttempts:   jsii.Number(185),
		}))

		fn := e.function(r.Function)
		mapping := awslambdaeventsources.NewSqsEventSource(queue, &awslambdaeventsources.SqsEventSourceProps{
			BatchSize:               jsii.Number(float64(r.BatchSize)),
			ReportBatchItemFailures: jsii.Bool(true),
		})
		fn.AddEventSource(mapping)
		suppressSQSMappingDestination(fn.Node().FindChild(jsii.String("SqsEventSource:" + *awscdk.Names_NodeUniqueId(queue.Node()))))
		// A permanent failure goes to the DLQ at once, with its reason. The
		// function knows each message's route (and so its DLQ) by the
		// queue ARN the mapping puts in every record: it gets both of
		// every route feeding it (consumer.ConfigFromEnv reads them).
		dlq.GrantSendMessages(fn)
		fn.AddEnvironment(jsii.String(topology.RouteQueueARNEnv(r.Name)), queue.QueueArn(), nil)
		fn.AddEnvironment(jsii.String(topology.RouteDLQURLEnv(r.Name)), dlq.QueueUrl(), nil)
		pr.Function, pr.Mapping = fn, mapping
	}
}

// DeadLetterQueues names every queue of the pipeline that only ever holds
// failures: the route DLQs, the router's on-failure queue and the rule
// targets' dead-letter queue.
func (e *EventPipeline) DeadLetterQueues() map[string]awssqs.IQueue {
	m := map[string]awssqs.IQueue{}
	if e.RouterOnFailure != nil {
		m["RouterOnFailure"] = e.RouterOnFailure
		m["Undeliverable"] = e.Undeliverable
	}
	for _, r := range e.Routes {
		m["DLQ"+topology.Pascal(r.Route.Name)] = r.DLQ
	}
	return m
}

// eventPattern is the route's EventBridge pattern, field for field the one
// topology.EventPattern gives the local provisioning.
func eventPattern(t topology.Topology, r topology.Route) *awsevents.EventPattern {
	p := &awsevents.EventPattern{
		Source:     jsii.Strings(t.EventSource()),
		DetailType: jsii.Strings(topology.DetailType),
	}
	if detail, ok := t.EventPattern(r)["detail"].(map[string]any); ok {
		p.Detail = &detail
	}
	return p
}

// streamParallelization is the parallelization factor the topology gives
// table's stream mappings.
func streamParallelization(t topology.Topology, table string) int {
	tb, _ := t.Table(table)
	return tb.StreamParallelization()
}

// newQueue is an encrypted, TLS-only queue that holds failures for
// retentionDays.
func newQueue(scope constructs.Construct, id string, retentionDays float64) awssqs.Queue {
	return awssqs.NewQueue(scope, jsii.String(id), &awssqs.QueueProps{
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(retentionDays)),
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
	})
}

// streamSource is a stream event source mapping that reports partial batch
// failures, bisects a failing batch to isolate the poison record, and sends
// what finally fails to onFailure. parallelization batches of a shard are
// handled at once (topology.Table.ParallelizationFactor), each item's
// records still in order.
func streamSource(table awsdynamodb.ITable, parallelization int, onFailure awssqs.IQueue, start awslambda.StartingPosition,
	batch, retries, maxAgeSeconds float64) awslambdaeventsources.DynamoEventSource {
	return awslambdaeventsources.NewDynamoEventSource(table, &awslambdaeventsources.DynamoEventSourceProps{
		StartingPosition:        start,
		BatchSize:               jsii.Number(batch),
		ParallelizationFactor:   jsii.Number(float64(parallelization)),
		BisectBatchOnError:      jsii.Bool(true),
		ReportBatchItemFailures: jsii.Bool(true),
		RetryAttempts:           jsii.Number(retries),
		MaxRecordAge:            awscdk.Duration_Seconds(jsii.Number(maxAgeSeconds)),
		OnFailure:               awslambdaeventsources.NewSqsDlq(onFailure),
	})
}
