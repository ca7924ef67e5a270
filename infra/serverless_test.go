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
	forFullStacks(t, func(t *testing.T, s *synthesized) {
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
		for _, f := range s.ofType("AWS::Lambda::Function") {
			if d := path(f.Properties, "DeadLetterConfig", "TargetArn"); d != nil {
				dlqs[jsonString(d)] = true
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
		// Serverless-LambdaDLQ is suppressed on functions nothing invokes
		// asynchronously: there is no event invoke configuration, only API
		// Gateway (synchronously) may invoke by resource policy, mappings
		// need no permission, and a function a role may invoke (the expiry
		// schedules invoke the realtime function asynchronously) has a
		// dead-letter queue instead.
		if c := s.ofType("AWS::Lambda::EventInvokeConfig"); len(c) > 0 {
			t.Errorf("asynchronous invocation configured: %v", sortedKeys(c))
		}
		for id, p := range s.ofType("AWS::Lambda::Permission") {
			if p.Properties["Principal"] != "apigateway.amazonaws.com" {
				t.Errorf("%s: %v may invoke, perhaps asynchronously; revisit the LambdaDLQ suppression", id, p.Properties["Principal"])
			}
		}
		invokedByRole := map[string]bool{}
		for _, pol := range s.ofType("AWS::IAM::Policy") {
			for _, st := range asList(path(pol.Properties, "PolicyDocument", "Statement")) {
				if contains(actions(st), "lambda:InvokeFunction") {
					for _, r := range resources(st) {
						fn, _ := path(r, "Fn::GetAtt", 0).(string)
						if fn == "" {
							t.Errorf("lambda:InvokeFunction on %s: want one function of this stack", jsonString(r))
						}
						invokedByRole[fn] = true
					}
				}
			}
		}
		if !invokedByRole[s.id(s.st.Realtime.Function)] {
			t.Error("no role may invoke the realtime function: the expiry schedules could not close connections")
		}
		for id, f := range s.ofType("AWS::Lambda::Function") {
			hasDLQ := f.Properties["DeadLetterConfig"] != nil
			if invokedByRole[id] && !hasDLQ {
				t.Errorf("%s is invoked by a role (perhaps asynchronously) but has no dead-letter queue", id)
			}
			if !suppresses(f, "Serverless-LambdaDLQ") {
				if !hasDLQ {
					t.Errorf("%s has neither a dead-letter queue nor a LambdaDLQ suppression", id)
				}
				continue
			}
			n["LambdaDLQ"]++
			if hasDLQ {
				t.Errorf("%s: LambdaDLQ suppressed, yet the function has a DLQ", id)
			}
			if invokedByRole[id] {
				t.Errorf("%s: LambdaDLQ suppressed, yet a role may invoke it", id)
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
