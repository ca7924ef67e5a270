package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/threefactor/framework/lib/topology"
)

// DLQRetention is how long a dead-letter queue keeps a message: the SQS
// maximum, so that a poison message can be inspected and redriven later.
const DLQRetention = 14 * 24 * time.Hour

// TargetID is the id of a route rule's one target, its queue.
const TargetID = "queue"

// Target input: the queue receives the whole original event, exactly what
// a target without an input transformer receives on AWS. It is spelled out
// because moto builds its default template from eight JSONPath parsers per
// delivered event (each compiling a grammar, ~50ms); with one path it
// delivers several times faster. The cloud stack keeps AWS's default (no
// input settings), which delivers the same body; infra's parity test holds
// the two to "the whole event".
const (
	TargetInputTemplate = "<aws.events.event.json>"
	TargetInputPathKey  = "id"
	TargetInputPath     = "$.id"
)

// Resources are the provisioned names, ARNs and URLs.
type Resources struct {
	// Tables by logical name.
	Tables map[string]Table
	Bus    Bus
	// Routes by route name.
	Routes map[string]Route
	// PushQueue is the realtime fan-out's push queue (FIFO) and its
	// dead-letter queue.
	PushQueue Queue

	topo topology.Topology
}

// Queue is a provisioned queue and its dead-letter queue.
type Queue struct {
	Name    string
	URL     string
	ARN     string
	DLQName string
	DLQURL  string
	DLQARN  string
}

// Table is a provisioned table.
type Table struct {
	// Name is the physical name.
	Name string
	// StreamARN is the latest stream's ARN; empty without a stream.
	StreamARN string
}

// Bus is the provisioned event bus.
type Bus struct {
	Name string
	ARN  string
}

// Route is a route's provisioned rule, queue and dead-letter queue.
type Route struct {
	Name      string
	Function  string
	RuleName  string
	RuleARN   string
	QueueName string
	QueueURL  string
	QueueARN  string
	DLQName   string
	DLQURL    string
	DLQARN    string
}

// Topology is the declaration the resources were provisioned from.
func (r *Resources) Topology() topology.Topology { return r.topo }

// RoutesOf lists the routes that feed function, sorted by name.
func (r *Resources) RoutesOf(function string) []Route {
	var out []Route
	for _, rt := range r.Routes {
		if rt.Function == function {
			out = append(out, rt)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Env is the environment of a function, as its Lambda gets it on AWS: the
// physical name of each of its tables and of the framework tables under
// topology.TableEnv, the bus name, and for every route feeding it the
// route's queue ARN (topology.RouteQueueARNEnv) and dead-letter queue URL
// (topology.RouteDLQURLEnv), then the function's own Env. Unknown
// functions get the table and bus variables only, which is what the
// GraphQL, realtime and push worker functions need; the fan-out gets the
// push queue's URL (topology.EnvPushQueueURL) too.
func (r *Resources) Env(function string) map[string]string {
	env := map[string]string{
		topology.EnvEventBus: r.Bus.Name,
		topology.EnvStage:    "dev",
	}
	for _, tb := range topology.FrameworkTables() {
		env[topology.TableEnv(tb.Name)] = r.Tables[tb.Name].Name
	}
	f, ok := r.topo.Function(function)
	if !ok {
		for _, tb := range r.topo.Tables {
			env[topology.TableEnv(tb.Name)] = r.Tables[tb.Name].Name
		}
		if function == topology.FanOutFunction {
			env[topology.EnvPushQueueURL] = r.PushQueue.URL
		}
		return env
	}
	for _, tn := range f.Tables {
		env[topology.TableEnv(tn)] = r.Tables[tn].Name
	}
	for _, rt := range r.RoutesOf(function) {
		env[topology.RouteQueueARNEnv(rt.Name)] = rt.QueueARN
		env[topology.RouteDLQURLEnv(rt.Name)] = rt.DLQURL
	}
	for k, v := range f.Env {
		env[k] = v
	}
	return env
}

type dynamoAPI interface {
	CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	UpdateTable(context.Context, *dynamodb.UpdateTableInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateTableOutput, error)
	DescribeTimeToLive(context.Context, *dynamodb.DescribeTimeToLiveInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error)
	UpdateTimeToLive(context.Context, *dynamodb.UpdateTimeToLiveInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

type busAPI interface {
	DescribeEventBus(context.Context, *eventbridge.DescribeEventBusInput, ...func(*eventbridge.Options)) (*eventbridge.DescribeEventBusOutput, error)
	CreateEventBus(context.Context, *eventbridge.CreateEventBusInput, ...func(*eventbridge.Options)) (*eventbridge.CreateEventBusOutput, error)
	PutRule(context.Context, *eventbridge.PutRuleInput, ...func(*eventbridge.Options)) (*eventbridge.PutRuleOutput, error)
	DescribeRule(context.Context, *eventbridge.DescribeRuleInput, ...func(*eventbridge.Options)) (*eventbridge.DescribeRuleOutput, error)
	PutTargets(context.Context, *eventbridge.PutTargetsInput, ...func(*eventbridge.Options)) (*eventbridge.PutTargetsOutput, error)
	ListTargetsByRule(context.Context, *eventbridge.ListTargetsByRuleInput, ...func(*eventbridge.Options)) (*eventbridge.ListTargetsByRuleOutput, error)
	RemoveTargets(context.Context, *eventbridge.RemoveTargetsInput, ...func(*eventbridge.Options)) (*eventbridge.RemoveTargetsOutput, error)
	ListRules(context.Context, *eventbridge.ListRulesInput, ...func(*eventbridge.Options)) (*eventbridge.ListRulesOutput, error)
	DeleteRule(context.Context, *eventbridge.DeleteRuleInput, ...func(*eventbridge.Options)) (*eventbridge.DeleteRuleOutput, error)
}

type queueAPI interface {
	GetQueueUrl(context.Context, *sqs.GetQueueUrlInput, ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	CreateQueue(context.Context, *sqs.CreateQueueInput, ...func(*sqs.Options)) (*sqs.CreateQueueOutput, error)
	SetQueueAttributes(context.Context, *sqs.SetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.SetQueueAttributesOutput, error)
	GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

type clients struct {
	ddb dynamoAPI
	eb  busAPI
	sqs queueAPI
}

func newClients(cfg aws.Config) clients {
	return clients{ddb: dynamodb.NewFromConfig(cfg), eb: eventbridge.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg)}
}

// Apply creates or updates every resource of t on the endpoint cfg points
// at and returns their names. It never deletes a table; it deletes rules on
// the app's bus that no route declares any more (a disabled rule would
// still deliver on some emulators).
func Apply(ctx context.Context, cfg aws.Config, t topology.Topology) (*Resources, error) {
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("provision: topology: %w", err)
	}
	c := newClients(cfg)
	res := &Resources{Tables: map[string]Table{}, Routes: map[string]Route{}, topo: t}
	for _, tb := range t.AllTables() {
		arn, err := ensureTable(ctx, c.ddb, t.TableName(tb.Name), tb)
		if err != nil {
			return nil, err
		}
		res.Tables[tb.Name] = Table{Name: t.TableName(tb.Name), StreamARN: arn}
	}
	bus, err := ensureBus(ctx, c.eb, t.BusName())
	if err != nil {
		return nil, err
	}
	res.Bus = bus
	for _, r := range t.RoutesWithDefaults() {
		rr, err := ensureRoute(ctx, c, t, bus, r)
		if err != nil {
			return nil, fmt.Errorf("provision route %s: %w", r.Name, err)
		}
		res.Routes[r.Name] = rr
	}
	if err := removeStaleRules(ctx, c.eb, t); err != nil {
		return nil, err
	}
	if res.PushQueue, err = ensurePushQueue(ctx, c.sqs, t); err != nil {
		return nil, err
	}
	return res, nil
}

// ensurePushQueue makes the fan-out's push queue: FIFO, its message
// groups partitions of connections, redriving to a FIFO dead-letter
// queue after topology.PushMaxReceiveCount receives.
func ensurePushQueue(ctx context.Context, q queueAPI, t topology.Topology) (Queue, error) {
	pq := Queue{Name: t.PushQueueName(), DLQName: t.PushDLQName()}
	fifo := map[string]string{string(sqstypes.QueueAttributeNameFifoQueue): "true"}
	var err error
	pq.DLQURL, pq.DLQARN, err = ensureQueue(ctx, q, pq.DLQName, map[string]string{
		string(sqstypes.QueueAttributeNameMessageRetentionPeriod): strconv.Itoa(int(DLQRetention.Seconds())),
	}, fifo)
	if err != nil {
		return pq, err
	}
	redrive, _ := json.Marshal(map[string]any{"deadLetterTargetArn": pq.DLQARN, "maxReceiveCount": topology.PushMaxReceiveCount})
	pq.URL, pq.ARN, err = ensureQueue(ctx, q, pq.Name, map[string]string{
		string(sqstypes.QueueAttributeNameVisibilityTimeout): strconv.Itoa(int(topology.PushVisibilityTimeout.Seconds())),
		string(sqstypes.QueueAttributeNameRedrivePolicy):     string(redrive),
	}, fifo)
	return pq, err
}

// EnsureTable creates the table name shaped like tb when it does not exist,
// adds a missing stream, indexes or TTL when it does, waits until it is
// ACTIVE and returns its latest stream ARN ("" without a stream). The dev
// runtime keeps its own bookkeeping tables with it.
func EnsureTable(ctx context.Context, cfg aws.Config, name string, tb topology.Table) (streamARN string, err error) {
	return ensureTable(ctx, dynamodb.NewFromConfig(cfg), name, tb)
}

func ensureTable(ctx context.Context, ddb dynamoAPI, name string, tb topology.Table) (string, error) {
	desc, err := describeTable(ctx, ddb, name)
	if err != nil {
		return "", err
	}
	if desc == nil {
		in := createTableInput(name, tb)
		if _, err := ddb.CreateTable(ctx, in); err != nil {
			var inUse *ddbtypes.ResourceInUseException
			if !errors.As(err, &inUse) { // created concurrently: fine
				return "", fmt.Errorf("create table %s: %w", name, err)
			}
		}
	} else {
		if err := updateTable(ctx, ddb, name, tb, desc); err != nil {
			return "", err
		}
	}
	desc, err = waitActive(ctx, ddb, name)
	if err != nil {
		return "", err
	}
	if tb.TTLAttribute != "" {
		if err := ensureTTL(ctx, ddb, name, tb.TTLAttribute); err != nil {
			return "", err
		}
	}
	return aws.ToString(desc.LatestStreamArn), nil
}

func describeTable(ctx context.Context, ddb dynamoAPI, name string) (*ddbtypes.TableDescription, error) {
	out, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	var nf *ddbtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describe table %s: %w", name, err)
	}
	return out.Table, nil
}

func keySchema(pk topology.Key, sk *topology.Key) []ddbtypes.KeySchemaElement {
	ks := []ddbtypes.KeySchemaElement{{AttributeName: aws.String(pk.Name), KeyType: ddbtypes.KeyTypeHash}}
	if sk != nil {
		ks = append(ks, ddbtypes.KeySchemaElement{AttributeName: aws.String(sk.Name), KeyType: ddbtypes.KeyTypeRange})
	}
	return ks
}

func attributeDefinitions(tb topology.Table) []ddbtypes.AttributeDefinition {
	seen := map[string]bool{}
	var defs []ddbtypes.AttributeDefinition
	add := func(k *topology.Key) {
		if k == nil || seen[k.Name] {
			return
		}
		seen[k.Name] = true
		defs = append(defs, ddbtypes.AttributeDefinition{AttributeName: aws.String(k.Name), AttributeType: ddbtypes.ScalarAttributeType(k.Type)})
	}
	add(&tb.PartitionKey)
	add(tb.SortKey)
	for _, ix := range tb.Indexes {
		add(&ix.PartitionKey)
		add(ix.SortKey)
	}
	return defs
}

func gsi(ix topology.Index) ddbtypes.GlobalSecondaryIndex {
	return ddbtypes.GlobalSecondaryIndex{
		IndexName:  aws.String(ix.Name),
		KeySchema:  keySchema(ix.PartitionKey, ix.SortKey),
		Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionTypeAll},
	}
}

func createTableInput(name string, tb topology.Table) *dynamodb.CreateTableInput {
	in := &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		KeySchema:            keySchema(tb.PartitionKey, tb.SortKey),
		AttributeDefinitions: attributeDefinitions(tb),
	}
	for _, ix := range tb.Indexes {
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, gsi(ix))
	}
	if tb.Stream {
		in.StreamSpecification = &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: ddbtypes.StreamViewTypeNewAndOldImages}
	}
	return in
}

// updateTable adds what the declaration gained since the table was made: a
// stream, and indexes. Key changes cannot be applied in place; they are
// reported rather than silently ignored.
func updateTable(ctx context.Context, ddb dynamoAPI, name string, tb topology.Table, desc *ddbtypes.TableDescription) error {
	if gpk, gsk := fromKeySchema(desc.KeySchema); !sameKeys(gpk, gsk, tb.PartitionKey, tb.SortKey) {
		return fmt.Errorf("table %s exists with a different key schema; delete it (make dev-clean) to recreate it", name)
	}
	if tb.Stream {
		spec := desc.StreamSpecification
		if spec == nil || !aws.ToBool(spec.StreamEnabled) || spec.StreamViewType != ddbtypes.StreamViewTypeNewAndOldImages {
			if spec != nil && aws.ToBool(spec.StreamEnabled) {
				return fmt.Errorf("table %s has a %s stream; want NEW_AND_OLD_IMAGES: delete it to recreate it", name, spec.StreamViewType)
			}
			_, err := ddb.UpdateTable(ctx, &dynamodb.UpdateTableInput{
				TableName:           aws.String(name),
				StreamSpecification: &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: ddbtypes.StreamViewTypeNewAndOldImages},
			})
			if err != nil {
				return fmt.Errorf("enable stream on %s: %w", name, err)
			}
			if _, err := waitActive(ctx, ddb, name); err != nil {
				return err
			}
		}
	}
	have := map[string]bool{}
	for _, g := range desc.GlobalSecondaryIndexes {
		have[aws.ToString(g.IndexName)] = true
	}
	for _, ix := range tb.Indexes {
		if have[ix.Name] {
			continue
		}
		g := gsi(ix)
		_, err := ddb.UpdateTable(ctx, &dynamodb.UpdateTableInput{
			TableName:            aws.String(name),
			AttributeDefinitions: attributeDefinitions(tb),
			GlobalSecondaryIndexUpdates: []ddbtypes.GlobalSecondaryIndexUpdate{{Create: &ddbtypes.CreateGlobalSecondaryIndexAction{
				IndexName: g.IndexName, KeySchema: g.KeySchema, Projection: g.Projection,
			}}},
		})
		if err != nil {
			return fmt.Errorf("add index %s to %s: %w", ix.Name, name, err)
		}
		// DynamoDB takes one index creation at a time.
		if _, err := waitActive(ctx, ddb, name); err != nil {
			return err
		}
	}
	return nil
}

func waitActive(ctx context.Context, ddb dynamoAPI, name string) (*ddbtypes.TableDescription, error) {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		desc, err := describeTable(ctx, ddb, name)
		if err != nil {
			return nil, err
		}
		if desc != nil && desc.TableStatus == ddbtypes.TableStatusActive && indexesActive(desc) {
			return desc, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("table %s not ACTIVE after 5m", name)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func indexesActive(desc *ddbtypes.TableDescription) bool {
	for _, g := range desc.GlobalSecondaryIndexes {
		if g.IndexStatus != "" && g.IndexStatus != ddbtypes.IndexStatusActive {
			return false
		}
	}
	return true
}

func ensureTTL(ctx context.Context, ddb dynamoAPI, name, attr string) error {
	out, err := ddb.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
	if err != nil {
		return fmt.Errorf("describe ttl of %s: %w", name, err)
	}
	if d := out.TimeToLiveDescription; d != nil {
		on := d.TimeToLiveStatus == ddbtypes.TimeToLiveStatusEnabled || d.TimeToLiveStatus == ddbtypes.TimeToLiveStatusEnabling
		if on && aws.ToString(d.AttributeName) == attr {
			return nil
		}
		if on {
			return fmt.Errorf("table %s has TTL on %q, want %q: disable it first", name, aws.ToString(d.AttributeName), attr)
		}
	}
	_, err = ddb.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(name),
		TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{AttributeName: aws.String(attr), Enabled: aws.Bool(true)},
	})
	if err != nil {
		return fmt.Errorf("enable ttl on %s: %w", name, err)
	}
	return nil
}

func ensureBus(ctx context.Context, eb busAPI, name string) (Bus, error) {
	out, err := eb.DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{Name: aws.String(name)})
	var nf *ebtypes.ResourceNotFoundException
	switch {
	case err == nil:
		return Bus{Name: name, ARN: aws.ToString(out.Arn)}, nil
	case !errors.As(err, &nf):
		return Bus{}, fmt.Errorf("describe bus %s: %w", name, err)
	}
	created, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(name)})
	if err != nil {
		var exists *ebtypes.ResourceAlreadyExistsException
		if errors.As(err, &exists) {
			return ensureBus(ctx, eb, name)
		}
		return Bus{}, fmt.Errorf("create bus %s: %w", name, err)
	}
	return Bus{Name: name, ARN: aws.ToString(created.EventBusArn)}, nil
}

func ensureRoute(ctx context.Context, c clients, t topology.Topology, bus Bus, r topology.Route) (Route, error) {
	rr := Route{
		Name: r.Name, Function: r.Function, RuleName: t.RuleName(r.Name),
		QueueName: t.QueueName(r.Name), DLQName: t.DLQName(r.Name),
	}
	var err error
	rr.DLQURL, rr.DLQARN, err = ensureQueue(ctx, c.sqs, rr.DLQName, map[string]string{
		string(sqstypes.QueueAttributeNameMessageRetentionPeriod): strconv.Itoa(int(DLQRetention.Seconds())),
	}, nil)
	if err != nil {
		return rr, err
	}
	redrive, _ := json.Marshal(map[string]any{"deadLetterTargetArn": rr.DLQARN, "maxReceiveCount": r.MaxReceiveCount})
	rr.QueueURL, rr.QueueARN, err = ensureQueue(ctx, c.sqs, rr.QueueName, map[string]string{
		string(sqstypes.QueueAttributeNameVisibilityTimeout): strconv.Itoa(int(r.VisibilityTimeout.Seconds())),
		string(sqstypes.QueueAttributeNameRedrivePolicy):     string(redrive),
	}, nil)
	if err != nil {
		return rr, err
	}
	rule, err := c.eb.PutRule(ctx, &eventbridge.PutRuleInput{
		Name:         aws.String(rr.RuleName),
		EventBusName: aws.String(bus.Name),
		EventPattern: aws.String(t.EventPatternJSON(r)),
		State:        ebtypes.RuleStateEnabled,
		Description:  aws.String(fmt.Sprintf("changes for %s (route %s)", r.Function, r.Name)),
	})
	if err != nil {
		return rr, fmt.Errorf("put rule %s: %w", rr.RuleName, err)
	}
	rr.RuleARN = aws.ToString(rule.RuleArn)
	_, err = c.sqs.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{
		QueueUrl:   aws.String(rr.QueueURL),
		Attributes: map[string]string{string(sqstypes.QueueAttributeNamePolicy): QueuePolicy(rr.QueueARN, rr.RuleARN)},
	})
	if err != nil {
		return rr, fmt.Errorf("set policy of %s: %w", rr.QueueName, err)
	}
	if err := ensureTarget(ctx, c.eb, bus.Name, rr.RuleName, rr.QueueARN); err != nil {
		return rr, err
	}
	return rr, nil
}

// QueuePolicy lets the rule ruleARN send to the queue queueARN.
func QueuePolicy(queueARN, ruleARN string) string {
	b, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Sid":       "AllowRouteRule",
			"Effect":    "Allow",
			"Principal": map[string]any{"Service": "events.amazonaws.com"},
			"Action":    "sqs:SendMessage",
			"Resource":  queueARN,
			"Condition": map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": ruleARN}},
		}},
	})
	return string(b)
}

// ensureQueue creates queue name with attrs and createOnly (attributes
// that cannot change, such as FifoQueue), or sets attrs on the queue that
// exists.
func ensureQueue(ctx context.Context, q queueAPI, name string, attrs, createOnly map[string]string) (url, arn string, err error) {
	got, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	var missing *sqstypes.QueueDoesNotExist
	switch {
	case err == nil:
		url = aws.ToString(got.QueueUrl)
		if _, err := q.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: got.QueueUrl, Attributes: attrs}); err != nil {
			return "", "", fmt.Errorf("set attributes of %s: %w", name, err)
		}
	case errors.As(err, &missing):
		all := map[string]string{}
		for k, v := range attrs {
			all[k] = v
		}
		for k, v := range createOnly {
			all[k] = v
		}
		out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: all})
		if err != nil {
			return "", "", fmt.Errorf("create queue %s: %w", name, err)
		}
		url = aws.ToString(out.QueueUrl)
	default:
		return "", "", fmt.Errorf("get queue %s: %w", name, err)
	}
	a, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", "", fmt.Errorf("queue %s arn: %w", name, err)
	}
	return url, a.Attributes[string(sqstypes.QueueAttributeNameQueueArn)], nil
}

func ensureTarget(ctx context.Context, eb busAPI, bus, rule, queueARN string) error {
	out, err := eb.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{EventBusName: aws.String(bus), Rule: aws.String(rule)})
	if err != nil {
		return fmt.Errorf("list targets of %s: %w", rule, err)
	}
	var stale []string
	for _, tg := range out.Targets {
		if aws.ToString(tg.Id) != TargetID {
			stale = append(stale, aws.ToString(tg.Id))
		}
	}
	if len(stale) > 0 {
		if _, err := eb.RemoveTargets(ctx, &eventbridge.RemoveTargetsInput{EventBusName: aws.String(bus), Rule: aws.String(rule), Ids: stale}); err != nil {
			return fmt.Errorf("remove stale targets of %s: %w", rule, err)
		}
	}
	res, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{
		EventBusName: aws.String(bus), Rule: aws.String(rule),
		Targets: []ebtypes.Target{{
			Id: aws.String(TargetID), Arn: aws.String(queueARN),
			InputTransformer: &ebtypes.InputTransformer{
				InputTemplate: aws.String(TargetInputTemplate),
				InputPathsMap: map[string]string{TargetInputPathKey: TargetInputPath},
			},
		}},
	})
	if err != nil {
		return fmt.Errorf("put target of %s: %w", rule, err)
	}
	if res.FailedEntryCount > 0 {
		return fmt.Errorf("put target of %s: %s", rule, aws.ToString(res.FailedEntries[0].ErrorMessage))
	}
	return nil
}

func removeStaleRules(ctx context.Context, eb busAPI, t topology.Topology) error {
	want := map[string]bool{}
	for _, r := range t.RoutesWithDefaults() {
		want[t.RuleName(r.Name)] = true
	}
	var token *string
	for {
		out, err := eb.ListRules(ctx, &eventbridge.ListRulesInput{EventBusName: aws.String(t.BusName()), NextToken: token})
		if err != nil {
			return fmt.Errorf("list rules on %s: %w", t.BusName(), err)
		}
		for _, r := range out.Rules {
			name := aws.ToString(r.Name)
			if want[name] {
				continue
			}
			targets, err := eb.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{EventBusName: aws.String(t.BusName()), Rule: aws.String(name)})
			if err != nil {
				return fmt.Errorf("list targets of stale rule %s: %w", name, err)
			}
			var ids []string
			for _, tg := range targets.Targets {
				ids = append(ids, aws.ToString(tg.Id))
			}
			if len(ids) > 0 {
				if _, err := eb.RemoveTargets(ctx, &eventbridge.RemoveTargetsInput{EventBusName: aws.String(t.BusName()), Rule: aws.String(name), Ids: ids}); err != nil {
					return fmt.Errorf("remove targets of stale rule %s: %w", name, err)
				}
			}
			if _, err := eb.DeleteRule(ctx, &eventbridge.DeleteRuleInput{EventBusName: aws.String(t.BusName()), Name: aws.String(name)}); err != nil {
				return fmt.Errorf("delete stale rule %s: %w", name, err)
			}
		}
		if out.NextToken == nil {
			return nil
		}
		token = out.NextToken
	}
}
