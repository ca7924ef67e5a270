package main

import (
	"reflect"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
)

func TestAlarms(t *testing.T) {
	forStages(t, func(t *testing.T, s *synthesized) {
		alarms := s.ofType("AWS::CloudWatch::Alarm")
		find := func(metric string, dim map[string]any) []resource {
			var out []resource
			for _, a := range alarms {
				if a.Properties["MetricName"] != metric {
					continue
				}
				for _, d := range asList(a.Properties["Dimensions"]) {
					if reflect.DeepEqual(d, dim) {
						out = append(out, a)
					}
				}
			}
			return out
		}
		dlqs := s.st.Pipeline.DeadLetterQueues()
		dlqs["FanOutOnFailure"] = s.st.Realtime.FanOutOnFailure
		dlqs["RealtimeAsyncFailures"] = s.st.Realtime.AsyncFailures
		dlqs["PushDLQ"] = s.st.Realtime.PushDLQ
		for name, q := range dlqs {
			found := find("ApproximateNumberOfMessagesVisible",
				map[string]any{"Name": "QueueName", "Value": getAtt(s.id(q.(awssqs.Queue)), "QueueName")})
			if len(found) != 1 {
				t.Errorf("%s: %d alarms on visible messages, want 1", name, len(found))
				continue
			}
			p := found[0].Properties
			if p["Namespace"] != "AWS/SQS" || p["Threshold"] != 0.0 || p["ComparisonOperator"] != "GreaterThanThreshold" ||
				p["Statistic"] != "Maximum" || p["EvaluationPeriods"] != 1.0 {
				t.Errorf("%s alarm: %s, want any visible message to alarm at once", name, jsonString(p))
			}
		}
		for name, fn := range map[string]awslambda.Function{"router": s.st.Pipeline.Router, "fanout": s.st.Realtime.FanOut} {
			found := find("IteratorAge", map[string]any{"Name": "FunctionName", "Value": ref(s.id(fn))})
			if len(found) != 1 {
				t.Errorf("%s: %d iterator age alarms, want 1", name, len(found))
				continue
			}
			p := found[0].Properties
			if p["Namespace"] != "AWS/Lambda" || p["Statistic"] != "Maximum" || p["ComparisonOperator"] != "GreaterThanThreshold" {
				t.Errorf("%s iterator age alarm: %s", name, jsonString(p))
			}
			if th, _ := p["Threshold"].(float64); th <= 0 || th > 15*60*1000 {
				t.Errorf("%s iterator age threshold %v ms", name, p["Threshold"])
			}
		}
		// Every alarm notifies the topic, on alarm and on recovery.
		o := s.st.Observability
		topic := ref(s.id(o.Topic))
		for id, a := range alarms {
			if !reflect.DeepEqual(a.Properties["AlarmActions"], []any{topic}) || !reflect.DeepEqual(a.Properties["OKActions"], []any{topic}) {
				t.Errorf("%s: actions %v / %v, want the alarm topic", id, a.Properties["AlarmActions"], a.Properties["OKActions"])
			}
		}
		tp := s.res(t, o.Topic, "AWS::SNS::Topic").Properties
		if !reflect.DeepEqual(tp["KmsMasterKeyId"], getAtt(s.id(o.Key), "Arn")) {
			t.Errorf("topic key %v, want the alarm key", tp["KmsMasterKeyId"])
		}
		if s.res(t, o.Key, "AWS::KMS::Key").Properties["EnableKeyRotation"] != true {
			t.Error("alarm key without rotation")
		}
		var mayPublish bool
		for _, pol := range s.ofType("AWS::SNS::TopicPolicy") {
			for _, st := range asList(path(pol.Properties, "PolicyDocument", "Statement")) {
				if path(st, "Effect") == "Allow" && path(st, "Principal", "Service") == "cloudwatch.amazonaws.com" &&
					reflect.DeepEqual(path(st, "Condition", "StringEquals", "aws:SourceAccount"), ref("AWS::AccountId")) {
					mayPublish = true
				}
			}
		}
		if !mayPublish {
			t.Error("CloudWatch (of this account) may not publish to the alarm topic")
		}
		var emails []string
		for _, sub := range s.ofType("AWS::SNS::Subscription") {
			if sub.Properties["Protocol"] == "email" && reflect.DeepEqual(sub.Properties["TopicArn"], topic) {
				emails = append(emails, sub.Properties["Endpoint"].(string))
			}
		}
		if !reflect.DeepEqual(emails, alarmEmails[s.stage]) {
			t.Errorf("email subscriptions %v, want %v", emails, alarmEmails[s.stage])
		}
		for id, fn := range s.ofType("AWS::Lambda::Function") {
			if len(find("Errors", map[string]any{"Name": "FunctionName", "Value": ref(id)})) != 1 {
				t.Errorf("%s has no errors alarm (%v)", id, fn.Properties["Description"])
			}
		}
	})
}
