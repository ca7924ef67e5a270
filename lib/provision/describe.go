package provision

import (
	"bytes"
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

// Inventory is what exists on an endpoint for a topology, read back from
// the service APIs: the shape a parity test compares with the topology and
// with the synthesized CloudFormation template.
type Inventory struct {
	// Tables by logical name; a missing table is absent.
	Tables map[string]TableInfo
	// Bus is the bus's name and ARN; zero when it does not exist.
	Bus Bus
	// Routes by route name; a route whose rule or queue is missing has
	// those fields empty.
	Routes map[string]RouteInfo
}

// TableInfo is a table as DynamoDB describes it.
type TableInfo struct {
	Name         string
	PartitionKey topology.Key
	SortKey      *topology.Key
	Indexes      []IndexInfo
	// BillingMode is PAY_PER_REQUEST or PROVISIONED.
	BillingMode string
	// StreamViewType is NEW_AND_OLD_IMAGES etc., empty without a stream.
	StreamViewType string
	// TTLAttribute is the attribute when TTL is enabled (or enabling).
	TTLAttribute string
}

// IndexInfo is a global secondary index.
type IndexInfo struct {
	Name         string
	PartitionKey topology.Key
	SortKey      *topology.Key
	// Projection is ALL, KEYS_ONLY or INCLUDE.
	Projection string
}

// RouteInfo is a route's rule and queues as EventBridge and SQS describe them.
type RouteInfo struct {
	RuleName string
	// Pattern is the rule's event pattern as canonical JSON (sorted keys,
	// no spaces), comparable with topology.EventPatternJSON.
	Pattern string
	// State is ENABLED or DISABLED.
	State string
	// Targets are the ARNs the rule delivers to.
	Targets []string
	// TargetInputTemplate and TargetInputPaths are the input transformer
	// of the first target, empty without one.
	TargetInputTemplate string
	TargetInputPaths    map[string]string

	QueueName string
	QueueARN  string
	// VisibilityTimeout of the queue.
	VisibilityTimeout time.Duration
	// MaxReceiveCount and DeadLetterTargetARN are the queue's redrive policy.
	MaxReceiveCount     int
	DeadLetterTargetARN string
	// PolicyAllowsEvents says the queue policy lets events.amazonaws.com send.
	PolicyAllowsEvents bool

	DLQName      string
	DLQARN       string
	DLQRetention time.Duration
}

// Describe reads back every resource t declares from the endpoint cfg
// points at. Resources that do not exist are left out or zero; only API
// failures are errors.
func Describe(ctx context.Context, cfg aws.Config, t topology.Topology) (*Inventory, error) {
	c := newClients(cfg)
	inv := &Inventory{Tables: map[string]TableInfo{}, Routes: map[string]RouteInfo{}}
	for _, tb := range t.AllTables() {
		info, ok, err := describeTableInfo(ctx, c.ddb, t.TableName(tb.Name))
		if err != nil {
			return nil, err
		}
		if ok {
			inv.Tables[tb.Name] = info
		}
	}
	out, err := c.eb.DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{Name: aws.String(t.BusName())})
	var nf *ebtypes.ResourceNotFoundException
	switch {
	case err == nil:
		inv.Bus = Bus{Name: aws.ToString(out.Name), ARN: aws.ToString(out.Arn)}
	case !errors.As(err, &nf):
		return nil, fmt.Errorf("describe bus: %w", err)
	}
	for _, r := range t.RoutesWithDefaults() {
		ri, err := describeRoute(ctx, c, t, r.Name)
		if err != nil {
			return nil, err
		}
		inv.Routes[r.Name] = ri
	}
	return inv, nil
}

func describeTableInfo(ctx context.Context, ddb dynamoAPI, name string) (TableInfo, bool, error) {
	desc, err := describeTable(ctx, ddb, name)
	if err != nil || desc == nil {
		return TableInfo{}, false, err
	}
	types := map[string]topology.KeyType{}
	for _, a := range desc.AttributeDefinitions {
		types[aws.ToString(a.AttributeName)] = topology.KeyType(a.AttributeType)
	}
	typed := func(ks []ddbtypes.KeySchemaElement) (topology.Key, *topology.Key) {
		pk, sk := fromKeySchema(ks)
		pk.Type = types[pk.Name]
		if sk != nil {
			sk.Type = types[sk.Name]
		}
		return pk, sk
	}
	info := TableInfo{Name: name}
	info.PartitionKey, info.SortKey = typed(desc.KeySchema)
	if desc.BillingModeSummary != nil {
		info.BillingMode = string(desc.BillingModeSummary.BillingMode)
	}
	if s := desc.StreamSpecification; s != nil && aws.ToBool(s.StreamEnabled) {
		info.StreamViewType = string(s.StreamViewType)
	}
	for _, g := range desc.GlobalSecondaryIndexes {
		ix := IndexInfo{Name: aws.ToString(g.IndexName)}
		ix.PartitionKey, ix.SortKey = typed(g.KeySchema)
		if g.Projection != nil {
			ix.Projection = string(g.Projection.ProjectionType)
		}
		info.Indexes = append(info.Indexes, ix)
	}
	sort.Slice(info.Indexes, func(i, j int) bool { return info.Indexes[i].Name < info.Indexes[j].Name })
	ttl, err := ddb.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
	if err != nil {
		return info, false, fmt.Errorf("describe ttl of %s: %w", name, err)
	}
	if d := ttl.TimeToLiveDescription; d != nil && (d.TimeToLiveStatus == ddbtypes.TimeToLiveStatusEnabled || d.TimeToLiveStatus == ddbtypes.TimeToLiveStatusEnabling) {
		info.TTLAttribute = aws.ToString(d.AttributeName)
	}
	return info, true, nil
}

func describeRoute(ctx context.Context, c clients, t topology.Topology, route string) (RouteInfo, error) {
	ri := RouteInfo{RuleName: t.RuleName(route), QueueName: t.QueueName(route), DLQName: t.DLQName(route)}
	rule, err := c.eb.DescribeRule(ctx, &eventbridge.DescribeRuleInput{EventBusName: aws.String(t.BusName()), Name: aws.String(ri.RuleName)})
	var nf *ebtypes.ResourceNotFoundException
	switch {
	case err == nil:
		ri.State = string(rule.State)
		if ri.Pattern, err = CanonicalJSON(aws.ToString(rule.EventPattern)); err != nil {
			return ri, fmt.Errorf("rule %s pattern: %w", ri.RuleName, err)
		}
		targets, err := c.eb.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{EventBusName: aws.String(t.BusName()), Rule: aws.String(ri.RuleName)})
		if err != nil {
			return ri, fmt.Errorf("list targets of %s: %w", ri.RuleName, err)
		}
		for i, tg := range targets.Targets {
			ri.Targets = append(ri.Targets, aws.ToString(tg.Arn))
			if it := tg.InputTransformer; i == 0 && it != nil {
				ri.TargetInputTemplate, ri.TargetInputPaths = aws.ToString(it.InputTemplate), it.InputPathsMap
			}
		}
	case !errors.As(err, &nf):
		return ri, fmt.Errorf("describe rule %s: %w", ri.RuleName, err)
	}
	attrs, ok, err := queueAttributes(ctx, c.sqs, ri.QueueName)
	if err != nil {
		return ri, err
	}
	if ok {
		ri.QueueARN = attrs[string(sqstypes.QueueAttributeNameQueueArn)]
		if v, err := strconv.Atoi(attrs[string(sqstypes.QueueAttributeNameVisibilityTimeout)]); err == nil {
			ri.VisibilityTimeout = time.Duration(v) * time.Second
		}
		if rp := attrs[string(sqstypes.QueueAttributeNameRedrivePolicy)]; rp != "" {
			var p struct {
				DeadLetterTargetArn string          `json:"deadLetterTargetArn"`
				MaxReceiveCount     json.RawMessage `json:"maxReceiveCount"`
			}
			if err := json.Unmarshal([]byte(rp), &p); err != nil {
				return ri, fmt.Errorf("queue %s redrive policy: %w", ri.QueueName, err)
			}
			ri.DeadLetterTargetARN = p.DeadLetterTargetArn
			// Services write it as a number or as a string.
			n, _ := strconv.Atoi(string(bytes.Trim(p.MaxReceiveCount, `"`)))
			ri.MaxReceiveCount = n
		}
		ri.PolicyAllowsEvents = policyAllowsEvents(attrs[string(sqstypes.QueueAttributeNamePolicy)])
	}
	dattrs, ok, err := queueAttributes(ctx, c.sqs, ri.DLQName)
	if err != nil {
		return ri, err
	}
	if ok {
		ri.DLQARN = dattrs[string(sqstypes.QueueAttributeNameQueueArn)]
		if v, err := strconv.Atoi(dattrs[string(sqstypes.QueueAttributeNameMessageRetentionPeriod)]); err == nil {
			ri.DLQRetention = time.Duration(v) * time.Second
		}
	}
	return ri, nil
}

func queueAttributes(ctx context.Context, q queueAPI, name string) (map[string]string, bool, error) {
	got, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	var missing *sqstypes.QueueDoesNotExist
	if errors.As(err, &missing) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("get queue %s: %w", name, err)
	}
	out, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: got.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll},
	})
	if err != nil {
		return nil, false, fmt.Errorf("attributes of queue %s: %w", name, err)
	}
	return out.Attributes, true, nil
}

func policyAllowsEvents(policy string) bool {
	var p struct {
		Statement []struct {
			Effect    string
			Principal struct{ Service any }
			Action    any
		}
	}
	if json.Unmarshal([]byte(policy), &p) != nil {
		return false
	}
	has := func(v any, want string) bool {
		switch x := v.(type) {
		case string:
			return x == want
		case []any:
			for _, e := range x {
				if e == want {
					return true
				}
			}
		}
		return false
	}
	for _, s := range p.Statement {
		if s.Effect == "Allow" && has(s.Principal.Service, "events.amazonaws.com") && (has(s.Action, "sqs:SendMessage") || has(s.Action, "sqs:*")) {
			return true
		}
	}
	return false
}

// CanonicalJSON re-encodes a JSON document with sorted object keys and no
// insignificant space, so two encodings of one pattern compare equal.
func CanonicalJSON(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	var v any
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return "", err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func fromKeySchema(ks []ddbtypes.KeySchemaElement) (topology.Key, *topology.Key) {
	var pk topology.Key
	var sk *topology.Key
	for _, k := range ks {
		switch k.KeyType {
		case ddbtypes.KeyTypeHash:
			pk = topology.Key{Name: aws.ToString(k.AttributeName)}
		case ddbtypes.KeyTypeRange:
			sk = &topology.Key{Name: aws.ToString(k.AttributeName)}
		}
	}
	return pk, sk
}

func sameKeys(gpk topology.Key, gsk *topology.Key, pk topology.Key, sk *topology.Key) bool {
	if gpk.Name != pk.Name {
		return false
	}
	if (gsk == nil) != (sk == nil) {
		return false
	}
	return gsk == nil || gsk.Name == sk.Name
}
