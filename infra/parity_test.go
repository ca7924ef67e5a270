package main

import (
	"context"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/infra/stack"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/provision"
	"github.com/threefactor/framework/lib/topology"
)

// shape is what must be identical between the resources the dev runtime
// provisions on the emulator and the ones the stack deploys.
type shape struct {
	Tables map[string]tableShape
	Routes map[string]routeShape
}

type tableShape struct {
	Keys       string   // "HASH id S, RANGE sk S"
	Indexes    []string // "name: HASH ... / ALL"
	Billing    string
	StreamView string
	TTL        string
}

type routeShape struct {
	Pattern           string // canonical JSON
	TargetsOwnQueue   bool
	VisibilitySeconds int
	MaxReceiveCount   int
	DLQRetentionSecs  int
	EventsMaySend     bool
	// WholeEvent: the queue receives the whole EventBridge event, which is
	// what change.FromEventBridge reads. In the cloud the target has no
	// input settings (AWS's default); locally it carries a transformer whose
	// template is the whole event, a moto speed workaround
	// (provision.TargetInputTemplate) that delivers the same body.
	WholeEvent bool
}

// TestParityWithLocalProvisioning provisions the topology on the emulator
// the way `make dev` does, reads it back, and requires the same tables and
// routes as the synthesized stack (both stages).
func TestParityWithLocalProvisioning(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := emulatortest.Config(t)
	topo := fooddelivery.App.Topology()
	if _, err := provision.Apply(ctx, cfg, topo); err != nil {
		t.Fatalf("provision: %v", err)
	}
	inv, err := provision.Describe(ctx, cfg, topo)
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	local := shape{Tables: map[string]tableShape{}, Routes: map[string]routeShape{}}
	for name, tb := range inv.Tables {
		ts := tableShape{
			Keys:       keys(tb.PartitionKey, tb.SortKey),
			Billing:    tb.BillingMode,
			StreamView: tb.StreamViewType,
			TTL:        tb.TTLAttribute,
		}
		for _, ix := range tb.Indexes {
			ts.Indexes = append(ts.Indexes, ix.Name+": "+keys(ix.PartitionKey, ix.SortKey)+" / "+ix.Projection)
		}
		sort.Strings(ts.Indexes)
		local.Tables[name] = ts
	}
	for name, r := range inv.Routes {
		local.Routes[name] = routeShape{
			Pattern:           r.Pattern,
			TargetsOwnQueue:   len(r.Targets) == 1 && r.Targets[0] == r.QueueARN && r.QueueARN != "",
			VisibilitySeconds: int(r.VisibilityTimeout.Seconds()),
			MaxReceiveCount:   r.MaxReceiveCount,
			DLQRetentionSecs:  int(r.DLQRetention.Seconds()),
			EventsMaySend:     r.PolicyAllowsEvents && r.DeadLetterTargetARN == r.DLQARN && r.DLQARN != "",
			WholeEvent:        r.TargetInputTemplate == "" || r.TargetInputTemplate == provision.TargetInputTemplate,
		}
	}
	if len(local.Tables) != len(topo.AllTables()) || len(local.Routes) != len(topo.RoutesWithDefaults()) {
		t.Fatalf("emulator holds %d tables and %d routes, the topology declares %d and %d",
			len(local.Tables), len(local.Routes), len(topo.AllTables()), len(topo.RoutesWithDefaults()))
	}

	for _, stage := range []stack.Stage{stack.Dev, stack.Prod, dataPlane} {
		s := synthesize(t)[stage]
		t.Run(string(stage), func(t *testing.T) { compareShapes(t, cloudShape(t, s), local) })
	}
}

func compareShapes(t *testing.T, cloud, local shape) {
	for name, want := range local.Tables {
		if got := cloud.Tables[name]; !reflect.DeepEqual(got, want) {
			t.Errorf("table %s:\n cloud %+v\n local %+v", name, got, want)
		}
	}
	for name, want := range local.Routes {
		if got := cloud.Routes[name]; !reflect.DeepEqual(got, want) {
			t.Errorf("route %s:\n cloud %+v\n local %+v", name, got, want)
		}
	}
	if len(cloud.Tables) != len(local.Tables) || len(cloud.Routes) != len(local.Routes) {
		t.Errorf("cloud has %d tables and %d routes, local %d and %d",
			len(cloud.Tables), len(cloud.Routes), len(local.Tables), len(local.Routes))
	}
}

func cloudShape(t *testing.T, s *synthesized) shape {
	out := shape{Tables: map[string]tableShape{}, Routes: map[string]routeShape{}}
	for _, tb := range fooddelivery.App.Topology().AllTables() {
		r, ok := s.resources[stack.LogicalTableID(tb.Name)]
		if !ok {
			continue
		}
		p := r.Properties
		ts := tableShape{
			Keys:    strings.Join(keySchema(p["KeySchema"], p["AttributeDefinitions"]), ", "),
			Billing: p["BillingMode"].(string),
		}
		if v, ok := path(p, "StreamSpecification", "StreamViewType").(string); ok {
			ts.StreamView = v
		}
		if path(p, "TimeToLiveSpecification", "Enabled") == true {
			ts.TTL = path(p, "TimeToLiveSpecification", "AttributeName").(string)
		}
		for _, g := range asList(p["GlobalSecondaryIndexes"]) {
			ts.Indexes = append(ts.Indexes, path(g, "IndexName").(string)+": "+
				strings.Join(keySchema(path(g, "KeySchema"), p["AttributeDefinitions"]), ", ")+" / "+
				path(g, "Projection", "ProjectionType").(string))
		}
		sort.Strings(ts.Indexes)
		out.Tables[tb.Name] = ts
	}
	eventsMaySend := map[string]bool{}
	for _, pol := range s.ofType("AWS::SQS::QueuePolicy") {
		for _, st := range asList(path(pol.Properties, "PolicyDocument", "Statement")) {
			if path(st, "Effect") == "Allow" && path(st, "Principal", "Service") == "events.amazonaws.com" &&
				contains(actions(st), "sqs:SendMessage") {
				for _, q := range asList(pol.Properties["Queues"]) {
					eventsMaySend[jsonString(q)] = true
				}
			}
		}
	}
	for _, pr := range s.st.Pipeline.Routes {
		rule := s.resources[s.id(pr.Rule)].Properties
		q := s.resources[s.id(pr.Queue)].Properties
		dlq := s.resources[s.id(pr.DLQ)].Properties
		targets := asList(rule["Targets"])
		vis, _ := q["VisibilityTimeout"].(float64)
		mrc, _ := path(q, "RedrivePolicy", "maxReceiveCount").(float64)
		ret, _ := dlq["MessageRetentionPeriod"].(float64)
		out.Routes[pr.Route.Name] = routeShape{
			Pattern:           canonical(t, rule["EventPattern"]),
			TargetsOwnQueue:   len(targets) == 1 && reflect.DeepEqual(path(targets[0], "Arn"), getAtt(s.id(pr.Queue), "Arn")),
			VisibilitySeconds: int(vis),
			MaxReceiveCount:   int(mrc),
			DLQRetentionSecs:  int(ret),
			EventsMaySend: eventsMaySend[jsonString(ref(s.id(pr.Queue)))] &&
				reflect.DeepEqual(path(q, "RedrivePolicy", "deadLetterTargetArn"), getAtt(s.id(pr.DLQ), "Arn")),
			WholeEvent: len(targets) == 1 && path(targets[0], "Input") == nil &&
				path(targets[0], "InputPath") == nil && path(targets[0], "InputTransformer") == nil,
		}
	}
	return out
}

func keys(pk topology.Key, sk *topology.Key) string {
	return strings.Join(wantKeys(pk, sk), ", ")
}
