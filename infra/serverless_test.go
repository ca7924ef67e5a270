package main

import (
	"reflect"
	"strings"
	"testing"
)

// TestServerlessRules checks the rules of cdk-nag's Serverless pack, which
// the pinned cdk-nag (v2.35) does not ship, on the template itself.
func TestServerlessRules(t *testing.T) {
	forStages(t, func(t *testing.T, s *synthesized) {
		for id, f := range s.ofType("AWS::Lambda::Function") {
			p := f.Properties
			// Serverless-LambdaTracing, -LambdaDefaultMemorySize, -LambdaDefaultTimeout, -LambdaLogging.
			if path(p, "TracingConfig", "Mode") != "Active" {
				t.Errorf("LambdaTracing: %s", id)
			}
			if p["MemorySize"] == nil || p["Timeout"] == nil {
				t.Errorf("LambdaDefaultMemorySize/Timeout: %s", id)
			}
			if path(p, "LoggingConfig", "LogGroup") == nil {
				t.Errorf("LambdaLogging: %s has no explicit log group", id)
			}
		}
		// Serverless-LambdaEventSourceMappingDestination: stream mappings
		// send what fails somewhere.
		for id, m := range s.ofType("AWS::Lambda::EventSourceMapping") {
			arn := jsonString(m.Properties["EventSourceArn"])
			if strings.Contains(arn, "StreamArn") && path(m.Properties, "DestinationConfig", "OnFailure", "Destination") == nil {
				t.Errorf("LambdaEventSourceMappingDestination: %s", id)
			}
		}
		// Serverless-SQSRedrivePolicy: every queue is a DLQ or has one.
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
				} else {
					// Serverless-EventBusDLQ.
					t.Errorf("EventBusDLQ: a target of a rule has no dead-letter queue")
				}
			}
		}
		for id, q := range s.ofType("AWS::SQS::Queue") {
			if q.Properties["RedrivePolicy"] == nil && !dlqs[jsonString(getAtt(id, "Arn"))] {
				t.Errorf("SQSRedrivePolicy: %s is neither a dead-letter queue nor has one", id)
			}
		}
		// Serverless-APIGWDefaultThrottling and -APIGWStructuredLogging.
		for id, st := range s.ofType("AWS::ApiGatewayV2::Stage") {
			if path(st.Properties, "DefaultRouteSettings", "ThrottlingRateLimit") == nil {
				t.Errorf("APIGWDefaultThrottling: %s", id)
			}
			if f, _ := path(st.Properties, "AccessLogSettings", "Format").(string); !strings.HasPrefix(f, "{") {
				t.Errorf("APIGWStructuredLogging: %s logs %q", id, f)
			}
		}
		// Serverless-CloudWatchLogGroupRetentionPeriod.
		for id, g := range s.ofType("AWS::Logs::LogGroup") {
			if g.Properties["RetentionInDays"] == nil {
				t.Errorf("CloudWatchLogGroupRetentionPeriod: %s", id)
			}
		}
		if reflect.DeepEqual(dlqs, map[string]bool{}) {
			t.Error("no dead-letter queue found at all")
		}
	})
}
