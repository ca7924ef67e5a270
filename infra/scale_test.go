package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/infra/stack"
	"github.com/threefactor/framework/lib/topology"
)

// TestStreamParallelization: a table's ParallelizationFactor reaches both
// of its stream mappings, the router's and the fan-out's.
func TestStreamParallelization(t *testing.T) {
	synthesize(t)
	s := synth.twoRoutes
	mappings := s.streamMappings("items")
	if len(mappings) != 2 {
		t.Fatalf("%d stream mappings on items, want the router's and the fan-out's", len(mappings))
	}
	for _, fn := range []string{s.id(s.st.Pipeline.Router), s.id(s.st.Realtime.FanOut)} {
		found := false
		for _, m := range mappings {
			if reflect.DeepEqual(m.Properties["FunctionName"], ref(fn)) {
				found = true
				if got := m.Properties["ParallelizationFactor"]; got != float64(4) {
					t.Errorf("%s: ParallelizationFactor %v, want the table's 4", fn, got)
				}
			}
		}
		if !found {
			t.Errorf("no stream mapping of items to %s", fn)
		}
	}
}

// TestPushQueueThreshold: the stack's PushQueueThreshold (context
// pushQueueThreshold) reaches the fan-out; unset, the fan-out keeps its
// default.
func TestPushQueueThreshold(t *testing.T) {
	for stage, s := range synthesize(t) {
		if s.st.Realtime == nil {
			continue
		}
		if v, ok := s.env(t, s.st.Realtime.FanOut)[topology.EnvPushQueueThreshold]; ok {
			t.Errorf("%s: fan-out %s = %v without the setting", stage, topology.EnvPushQueueThreshold, v)
		}
	}
	s := synth.twoRoutes
	if v := s.env(t, s.st.Realtime.FanOut)[topology.EnvPushQueueThreshold]; v != "250" {
		t.Errorf("fan-out %s = %v, want the stack's 250", topology.EnvPushQueueThreshold, v)
	}
	if _, err := stack.NewStack(awscdk.NewApp(nil), "bad", stack.Props{Topology: twoRoutesTopology, Stage: stack.Dev,
		DataPlaneOnly: true, PushQueueThreshold: -1}); err == nil || !strings.Contains(err.Error(), "push queue threshold") {
		t.Errorf("a negative threshold: %v", err)
	}
}

// TestPushQueue: the fan-out's push queue is FIFO in high-throughput mode,
// redrives to a FIFO dead-letter queue after topology.PushMaxReceiveCount
// receives, and is read by the push worker through a mapping that reports
// partial batch failures; the fan-out knows its URL and may send to it,
// and nothing else may; the worker may read the app's tables and write
// the realtime stores; the DLQ raises the dead-letter alarm and is listed
// in the stack's DeadLetterQueueUrls output.
func TestPushQueue(t *testing.T) {
	forStages(t, func(t *testing.T, s *synthesized) {
		r := s.st.Realtime
		q := s.res(t, r.PushQueue, "AWS::SQS::Queue").Properties
		dlqID := s.id(r.PushDLQ)
		want := map[string]any{
			"FifoQueue":           true,
			"FifoThroughputLimit": "perMessageGroupId",
			"DeduplicationScope":  "messageGroup",
			"VisibilityTimeout":   topology.PushVisibilityTimeout.Seconds(),
			"RedrivePolicy": map[string]any{
				"deadLetterTargetArn": getAtt(dlqID, "Arn"),
				"maxReceiveCount":     float64(topology.PushMaxReceiveCount),
			},
		}
		for k, v := range want {
			if !reflect.DeepEqual(q[k], v) {
				t.Errorf("push queue %s = %s, want %s", k, jsonString(q[k]), jsonString(v))
			}
		}
		if d := s.res(t, r.PushDLQ, "AWS::SQS::Queue").Properties; d["FifoQueue"] != true || d["MessageRetentionPeriod"] != float64(14*24*3600) {
			t.Errorf("push DLQ %s, want FIFO with 14 days' retention", jsonString(d))
		}

		var mappings []resource
		for _, m := range s.ofType("AWS::Lambda::EventSourceMapping") {
			if reflect.DeepEqual(path(m.Properties, "EventSourceArn"), getAtt(s.id(r.PushQueue), "Arn")) {
				mappings = append(mappings, m)
			}
		}
		if len(mappings) != 1 {
			t.Fatalf("%d mappings read the push queue, want 1", len(mappings))
		}
		m := mappings[0].Properties
		if !reflect.DeepEqual(m["FunctionName"], ref(s.id(r.PushWorker))) || m["BatchSize"] != float64(topology.PushBatchSize) ||
			!reflect.DeepEqual(m["FunctionResponseTypes"], []any{"ReportBatchItemFailures"}) {
			t.Errorf("push mapping %s", jsonString(m))
		}

		env := s.env(t, r.FanOut)
		if !reflect.DeepEqual(env[topology.EnvPushQueueURL], ref(s.id(r.PushQueue))) {
			t.Errorf("fan-out %s = %s", topology.EnvPushQueueURL, jsonString(env[topology.EnvPushQueueURL]))
		}
		senders := map[string]bool{}
		for name, fn := range map[string]awslambda.Function{"fanout": r.FanOut, "pushworker": r.PushWorker, "realtime": r.Function, "router": s.st.Pipeline.Router} {
			for _, st := range s.statementsOf(t, fn) {
				if path(st, "Effect") == "Allow" && contains(actions(st), "sqs:SendMessage") && contains(resources(st), getAtt(s.id(r.PushQueue), "Arn")) {
					senders[name] = true
				}
			}
		}
		if !reflect.DeepEqual(senders, map[string]bool{"fanout": true}) {
			t.Errorf("may send to the push queue: %v, want the fan-out only", senders)
		}
		wenv := s.env(t, r.PushWorker)
		for _, tb := range append(fooddelivery.App.Topology().StreamTables(), topology.ConnectionsTable, topology.SubscriptionsTable) {
			if wenv[topology.TableEnv(tb)] == nil {
				t.Errorf("push worker has no %s", topology.TableEnv(tb))
			}
		}
		// Its pushes are recorded in the event log, as the fan-out's are:
		// the table's name and a write grant on it.
		logTable := stack.LogicalTableID(topology.EventLogTable)
		if !reflect.DeepEqual(wenv[topology.TableEnv(topology.EventLogTable)], ref(logTable)) {
			t.Errorf("push worker %s = %s", topology.TableEnv(topology.EventLogTable), jsonString(wenv[topology.TableEnv(topology.EventLogTable)]))
		}
		writes := false
		for _, st := range s.statementsOf(t, r.PushWorker) {
			writes = writes || (path(st, "Effect") == "Allow" && contains(actions(st), "dynamodb:BatchWriteItem") &&
				contains(resources(st), getAtt(logTable, "Arn")))
		}
		if !writes {
			t.Error("the push worker may not write the event log")
		}
		if _, ok := wenv[topology.EnvPushQueueURL]; ok {
			t.Error("the push worker knows the push queue's URL: it never sends")
		}
		if out := jsonString(s.outputs[stack.OutputDeadLetterQueues]); !strings.Contains(out, `PushDLQ=`) || !strings.Contains(out, dlqID) {
			t.Errorf("%s output %s does not list the push DLQ", stack.OutputDeadLetterQueues, out)
		}
	})
}
