package main

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/consumer"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/topology"
)

// twoRoutesFunction is fed by both routes of twoRoutesTopology.
const twoRoutesFunction = "check"

var twoRoutesTopology = topology.Topology{
	App:       "tworoutes",
	Tables:    []topology.Table{{Name: "items", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true, ParallelizationFactor: 4}},
	Functions: []topology.Function{{Name: twoRoutesFunction, Tables: []string{"items"}, Timeout: 5 * time.Second}},
	Routes: []topology.Route{
		{Name: "check-new", Function: twoRoutesFunction,
			Match: topology.Match{Table: "items", Operations: []topology.Operation{topology.Insert}}},
		{Name: "check-changed", Function: twoRoutesFunction, MaxReceiveCount: 7,
			Match: topology.Match{Table: "items", Operations: []topology.Operation{topology.Modify}}},
	},
}

// Deployed values of the references a template's function environment
// holds, the way CloudFormation resolves them: a queue's Arn attribute
// and its Ref (the queue URL).
func deployedARN(id string) string { return "arn:aws:sqs:eu-west-1:123456789012:" + id }
func deployedURL(id string) string { return "https://sqs.eu-west-1.amazonaws.com/123456789012/" + id }

// resolve turns an environment value of the template into what the
// function sees once deployed; it fails on a reference to anything but a
// queue.
func (s *synthesized) resolve(t *testing.T, v any) string {
	t.Helper()
	switch v := v.(type) {
	case string:
		return v
	case map[string]any:
		if id, ok := v["Ref"].(string); ok && s.resources[id].Type == "AWS::SQS::Queue" {
			return deployedURL(id)
		}
		if att := asList(v["Fn::GetAtt"]); len(att) == 2 && att[1] == "Arn" && s.resources[fmt.Sprint(att[0])].Type == "AWS::SQS::Queue" {
			return deployedARN(fmt.Sprint(att[0]))
		}
	}
	t.Fatalf("environment value %s is not a queue's URL or ARN", jsonString(v))
	return ""
}

// recordingSQS records where the consumer dead-letters.
type recordingSQS struct {
	mu   sync.Mutex
	sent []*sqs.SendMessageInput
}

func (r *recordingSQS) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, in)
	return &sqs.SendMessageOutput{MessageId: aws.String("m")}, nil
}

// TestTwoRoutesDeadLetterToTheirOwnQueues holds the synthesized template
// of a function fed by two routes to what the consumer needs: from the
// environment the template gives the function (resolved as
// CloudFormation would), the consumer sends a permanent failure of a
// message that arrives through each route's event source mapping to the
// dead-letter queue that route's queue redrives to, names the route, and
// the function's role may send there.
func TestTwoRoutesDeadLetterToTheirOwnQueues(t *testing.T) {
	synthesize(t)
	s := synth.twoRoutes
	fn := s.st.Pipeline.Functions[twoRoutesFunction]
	fnID := s.id(fn)
	env := map[string]string{}
	for k, v := range s.env(t, fn) {
		if strings.HasPrefix(k, "ROUTE_") {
			env[k] = s.resolve(t, v)
		}
	}
	if len(env) != 4 {
		t.Errorf("route variables %v, want a queue ARN and a DLQ URL for each of the two routes", sortedKeys(env))
	}
	cfg, err := consumer.ConfigFromEnv(twoRoutesTopology, twoRoutesFunction, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("the function cannot configure its consumer from the template's environment: %v", err)
	}
	dlqs := &recordingSQS{}
	cfg.SQS, cfg.Logger = dlqs, slog.New(slog.DiscardHandler)
	c, err := consumer.New(func(ctx context.Context, ch change.Change[map[string]any]) error {
		return errs.Newf(errs.FailedPrecondition, "item %v refused", (*ch.NewItem)["id"])
	}, cfg)
	if err != nil {
		t.Fatal(err)
	}

	statements := s.statementsOf(t, fn)
	routes := 0
	for id, m := range s.ofType("AWS::Lambda::EventSourceMapping") {
		if !reflect.DeepEqual(m.Properties["FunctionName"], ref(fnID)) {
			continue
		}
		routes++
		queueID := fmt.Sprint(path(m.Properties, "EventSourceArn", "Fn::GetAtt", 0))
		var route string
		for _, pr := range s.st.Pipeline.Routes {
			if s.id(pr.Queue) == queueID {
				route = pr.Route.Name
			}
		}
		if route == "" {
			t.Fatalf("mapping %s reads %s, the queue of no route", id, queueID)
		}
		dlqID := fmt.Sprint(path(s.resources[queueID].Properties, "RedrivePolicy", "deadLetterTargetArn", "Fn::GetAtt", 0))
		if s.resources[dlqID].Type != "AWS::SQS::Queue" {
			t.Fatalf("route %s: queue %s redrives to %q", route, queueID, dlqID)
		}
		mayDeadLetter := false
		for _, st := range statements {
			if path(st, "Effect") == "Allow" && contains(actions(st), "sqs:SendMessage") && contains(resources(st), getAtt(dlqID, "Arn")) {
				mayDeadLetter = true
			}
		}
		if !mayDeadLetter {
			t.Errorf("route %s: the function may not send to its dead-letter queue %s", route, dlqID)
		}

		// A record as this mapping delivers it: eventSourceARN is the
		// deployed ARN of the queue it reads.
		dlqs.sent = nil
		msg := events.SQSMessage{
			MessageId: "m-" + route, Attributes: map[string]string{"ApproximateReceiveCount": "1"},
			EventSource: "aws:sqs", EventSourceARN: s.resolve(t, path(m.Properties, "EventSourceArn")), AWSRegion: "eu-west-1",
			Body: `{"id":"eb","detail-type":"Change","source":"tworoutes.changes","detail":{"id":"ev-` + route +
				`","table":"items","operation":"INSERT","keys":{"id":"it-1"},"new":{"id":"it-1"}}}`,
		}
		resp, err := c.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{msg}})
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("route %s: %+v %v", route, resp, err)
		}
		if len(dlqs.sent) != 1 {
			t.Fatalf("route %s: %d messages dead-lettered, want 1", route, len(dlqs.sent))
		}
		in := dlqs.sent[0]
		if got, want := aws.ToString(in.QueueUrl), deployedURL(dlqID); got != want {
			t.Errorf("route %s: dead-lettered to %s, want %s (its queue's own DLQ)", route, got, want)
		}
		if got := aws.ToString(in.MessageAttributes[consumer.AttrRoute].StringValue); got != route {
			t.Errorf("route %s: dead-letter route attribute %q", route, got)
		}
	}
	if routes != 2 {
		t.Errorf("%d event source mappings feed %s, want 2", routes, twoRoutesFunction)
	}
}
