package main

import (
	"strings"
	"testing"
)

// suppresses reports whether a resource's cdk-nag metadata suppresses rule.
func suppresses(r resource, rule string) bool {
	for _, sup := range asList(path(r.Metadata, "cdk_nag", "rules_to_suppress")) {
		if path(sup, "id") == rule {
			return true
		}
	}
	return false
}

// TestServerlessSuppressionsHold checks, on the template, what cdk-nag's
// Serverless pack (TestNagServerlessPack) cannot: that each of its
// suppressed findings is true for the reason given, and that every
// function logs to a log group of its own (the pack has no logging rule).
func TestServerlessSuppressionsHold(t *testing.T) {
	forStages(t, func(t *testing.T, s *synthesized) {
		// Where failures end up: queues' redrive targets, stream mappings'
		// on-failure destinations, rule targets' dead-letter queues.
		dlqs := map[string]bool{}
		for _, q := range s.ofType("AWS::SQS::Queue") {
			if arn := path(q.Properties, "RedrivePolicy", "deadLetterTargetArn"); arn != nil {
				dlqs[jsonString(arn)] = true
			}
		}
		for _, m := range s.ofType("AWS::Lambda::EventSourceMapping") {
			if d := path(m.Properties, "DestinationConfig", "OnFailure", "Destination"); d != nil {
				dlqs[jsonString(d)] = true
			}
		}
		for _, r := range s.ofType("AWS::Events::Rule") {
			for _, tg := range asList(r.Properties["Targets"]) {
				if d := path(tg, "DeadLetterConfig", "Arn"); d != nil {
					dlqs[jsonString(d)] = true
				}
			}
		}
		if len(dlqs) == 0 {
			t.Fatal("no dead-letter destination found at all")
		}
		// Serverless-SQSRedrivePolicy is suppressed only on queues that
		// are themselves dead-letter destinations; any other queue has a
		// redrive policy.
		n := map[string]int{}
		for id, q := range s.ofType("AWS::SQS::Queue") {
			isDLQ := dlqs[jsonString(getAtt(id, "Arn"))]
			if suppresses(q, "Serverless-SQSRedrivePolicy") {
				n["SQSRedrivePolicy"]++
			}
			if suppresses(q, "Serverless-SQSRedrivePolicy") && !isDLQ {
				t.Errorf("%s: SQSRedrivePolicy suppressed, but the queue is no dead-letter destination", id)
			}
			if q.Properties["RedrivePolicy"] == nil && !isDLQ {
				t.Errorf("%s is neither a dead-letter destination nor has one", id)
			}
		}
		// Serverless-LambdaEventSourceMappingDestination is suppressed only
		// on SQS mappings, whose queue has a redrive policy.
		queues := s.ofType("AWS::SQS::Queue")
		for id, m := range s.ofType("AWS::Lambda::EventSourceMapping") {
			if !suppresses(m, "Serverless-LambdaEventSourceMappingDestination") {
				continue
			}
			n["LambdaEventSourceMappingDestination"]++
			qid, _ := path(m.Properties, "EventSourceArn", "Fn::GetAtt", 0).(string)
			q, ok := queues[qid]
			if !ok {
				t.Errorf("%s: destination rule suppressed on a mapping that does not read a queue: %s", id, jsonString(m.Properties["EventSourceArn"]))
			} else if q.Properties["RedrivePolicy"] == nil {
				t.Errorf("%s: its queue %s has no redrive policy", id, qid)
			}
		}
		// Serverless-LambdaDLQ is suppressed because nothing invokes a
		// function asynchronously: no event invoke configuration, and only
		// API Gateway (synchronous) may invoke; mappings need no permission.
		if c := s.ofType("AWS::Lambda::EventInvokeConfig"); len(c) > 0 {
			t.Errorf("asynchronous invocation configured: %v", sortedKeys(c))
		}
		for id, p := range s.ofType("AWS::Lambda::Permission") {
			if p.Properties["Principal"] != "apigateway.amazonaws.com" {
				t.Errorf("%s: %v may invoke, perhaps asynchronously; revisit the LambdaDLQ suppression", id, p.Properties["Principal"])
			}
		}
		for id, f := range s.ofType("AWS::Lambda::Function") {
			if !suppresses(f, "Serverless-LambdaDLQ") {
				continue
			}
			n["LambdaDLQ"]++
			if f.Properties["DeadLetterConfig"] != nil {
				t.Errorf("%s: LambdaDLQ suppressed, yet the function has a DLQ", id)
			}
		}
		// Every function logs to its own log group, kept for a while.
		for id, f := range s.ofType("AWS::Lambda::Function") {
			g := jsonString(path(f.Properties, "LoggingConfig", "LogGroup"))
			if !strings.Contains(g, `"Ref":"`) {
				t.Errorf("%s logs to %s, want a log group of this stack", id, g)
			}
		}
		// The alarm e-mails are the only SNS subscriptions without a DLQ.
		for id, sub := range s.ofType("AWS::SNS::Subscription") {
			if suppresses(sub, "Serverless-SNSRedrivePolicy") && sub.Properties["Protocol"] != "email" {
				t.Errorf("%s: SNSRedrivePolicy suppressed on a %v subscription", id, sub.Properties["Protocol"])
			}
		}
		// Each suppression above was found, so its check ran.
		for _, rule := range []string{"SQSRedrivePolicy", "LambdaEventSourceMappingDestination", "LambdaDLQ"} {
			if n[rule] == 0 {
				t.Errorf("no Serverless-%s suppression found: this test or the stack changed", rule)
			}
		}
	})
}
