package stack

import (
	"fmt"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/topology"
)

// TablesProps configures Tables.
type TablesProps struct {
	Topology topology.Topology
	Stage    Stage
	// LocalNames gives tables the physical names the dev runtime uses
	// (topology.TableName), for a data-plane stack on LocalStack. Cloud
	// stacks leave names to CloudFormation, so a replacement never clashes.
	LocalNames bool
}

// Tables holds every table of the topology, the app's and the framework's
// (idempotency, connections, subscriptions): on-demand billing, point-in-time
// recovery, NEW_AND_OLD_IMAGES streams and TTL where declared, global
// secondary indexes projecting all attributes. In prod tables are retained
// on stack deletion and have deletion protection; in dev they go with the
// stack.
type Tables struct {
	constructs.Construct
	// ByName maps a table's logical name to the table.
	ByName map[string]awsdynamodb.Table
	// Streams lists the logical names of the tables with streams, sorted.
	Streams []string

	indexed map[string]bool
}

// NewTables creates the tables. Each table's logical id is fixed to
// "Table" + its PascalCase name so that moving the construct never
// replaces (and so empties) a table.
func NewTables(scope constructs.Construct, id string, p TablesProps) *Tables {
	c := constructs.NewConstruct(scope, jsii.String(id))
	t := &Tables{Construct: c, ByName: map[string]awsdynamodb.Table{}, indexed: map[string]bool{}}
	for _, tb := range p.Topology.AllTables() {
		props := &awsdynamodb.TableProps{
			PartitionKey: attribute(tb.PartitionKey),
			BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
			PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
				PointInTimeRecoveryEnabled: jsii.Bool(true),
			},
			RemovalPolicy:      p.Stage.RemovalPolicy(),
			DeletionProtection: jsii.Bool(p.Stage.IsProd()),
		}
		if tb.SortKey != nil {
			props.SortKey = attribute(*tb.SortKey)
		}
		if p.LocalNames {
			props.TableName = jsii.String(p.Topology.TableName(tb.Name))
		}
		if tb.Stream {
			props.Stream = awsdynamodb.StreamViewType_NEW_AND_OLD_IMAGES
		}
		if tb.TTLAttribute != "" {
			props.TimeToLiveAttribute = jsii.String(tb.TTLAttribute)
		}
		table := awsdynamodb.NewTable(c, jsii.String(topology.Pascal(tb.Name)), props)
		t.indexed[tb.Name] = len(tb.Indexes) > 0
		for _, ix := range tb.Indexes {
			gsi := &awsdynamodb.GlobalSecondaryIndexProps{
				IndexName:      jsii.String(ix.Name),
				PartitionKey:   attribute(ix.PartitionKey),
				ProjectionType: awsdynamodb.ProjectionType_ALL,
			}
			if ix.SortKey != nil {
				gsi.SortKey = attribute(*ix.SortKey)
			}
			table.AddGlobalSecondaryIndex(gsi)
		}
		table.Node().DefaultChild().(awsdynamodb.CfnTable).OverrideLogicalId(jsii.String(LogicalTableID(tb.Name)))
		t.ByName[tb.Name] = table
		if tb.Stream {
			t.Streams = append(t.Streams, tb.Name)
		}
	}
	return t
}

// LogicalTableID is the CloudFormation logical id of a table.
func LogicalTableID(name string) string { return "Table" + topology.Pascal(name) }

// Table returns a table by logical name; an unknown name is a programming
// error in the topology (Validate catches it first).
func (t *Tables) Table(name string) awsdynamodb.Table {
	tb, ok := t.ByName[name]
	if !ok {
		panic(fmt.Sprintf("stack: unknown table %q", name))
	}
	return tb
}

// Env maps topology.TableEnv(name) to each named table's physical name.
func (t *Tables) Env(names ...string) map[string]string {
	env := make(map[string]string, len(names))
	for _, n := range names {
		env[topology.TableEnv(n)] = *t.Table(n).TableName()
	}
	return env
}

// GrantReadWrite lets grantee read and write the named tables' items.
func (t *Tables) GrantReadWrite(grantee awsiam.IGrantable, names ...string) {
	for _, n := range names {
		t.Table(n).GrantReadWriteData(grantee)
		t.suppressIndexes(grantee, n)
	}
}

// GrantRead lets grantee read the named tables' items.
func (t *Tables) GrantRead(grantee awsiam.IGrantable, names ...string) {
	for _, n := range names {
		t.Table(n).GrantReadData(grantee)
		t.suppressIndexes(grantee, n)
	}
}

func (t *Tables) suppressIndexes(grantee awsiam.IGrantable, name string) {
	if t.indexed[name] {
		suppressIndexWildcard(grantee.GrantPrincipal().(constructs.IConstruct), LogicalTableID(name))
	}
}

// AppTables lists the app's own table names (no framework tables), in
// declaration order.
func AppTables(t topology.Topology) []string {
	names := make([]string, len(t.Tables))
	for i, tb := range t.Tables {
		names[i] = tb.Name
	}
	return names
}

func attribute(k topology.Key) *awsdynamodb.Attribute {
	typ := awsdynamodb.AttributeType_STRING
	switch k.Type {
	case topology.Number:
		typ = awsdynamodb.AttributeType_NUMBER
	case topology.Binary:
		typ = awsdynamodb.AttributeType_BINARY
	}
	return &awsdynamodb.Attribute{Name: jsii.String(k.Name), Type: typ}
}

// EventLogEnv is the environment through which a writer of t's event log
// finds it: the table (topology.TableEnv of topology.EventLogTable) and
// the retention (eventlog.EnvRetention; zero is the default).
// Empty when t's log is disabled.
func (t *Tables) EventLogEnv(topo topology.Topology, retention time.Duration) map[string]string {
	if topo.DisableEventLog {
		return map[string]string{}
	}
	env := t.Env(topology.EventLogTable)
	if retention <= 0 {
		retention = eventlog.DefaultRetention
	}
	env[eventlog.EnvRetention] = retention.String()
	return env
}

// GrantEventLogTopics lets grantee read and append to the topic logs of
// t's event log (realtime resume: the fan-out appends each change to its
// topics' logs, the realtime function reads them to catch subscriptions
// up), and nothing else of the log: every action is limited to the topic
// partitions ("T#..." keys), unless the log is disabled.
func (t *Tables) GrantEventLogTopics(topo topology.Topology, grantee awsiam.IGrantable) {
	if topo.DisableEventLog {
		return
	}
	grantee.GrantPrincipal().AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"),
		Resources: &[]*string{t.Table(topology.EventLogTable).TableArn()},
		Conditions: &map[string]any{
			"ForAllValues:StringLike": map[string]any{"dynamodb:LeadingKeys": []string{"T#*"}},
		},
	}))
}

// GrantEventLogWrite lets grantee write records to t's event log
// (BatchWriteItem and the item writes; no reads), unless it is disabled.
func (t *Tables) GrantEventLogWrite(topo topology.Topology, grantee awsiam.IGrantable) {
	if !topo.DisableEventLog {
		t.Table(topology.EventLogTable).GrantWriteData(grantee)
		t.suppressIndexes(grantee, topology.EventLogTable)
	}
}
