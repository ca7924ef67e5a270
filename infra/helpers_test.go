package main

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"

	"github.com/threefactor/framework/infra/stack"
)

// routesOf maps an API's route keys to their targets.
func (s *synthesized) routesOf(api constructs.IConstruct) map[string]any {
	out := map[string]any{}
	for _, r := range s.ofType("AWS::ApiGatewayV2::Route") {
		if reflect.DeepEqual(r.Properties["ApiId"], ref(s.id(api))) {
			out[r.Properties["RouteKey"].(string)] = r.Properties["Target"]
		}
	}
	return out
}

// integrationURI follows a route target "integrations/<id>" to the
// integration's URI.
func (s *synthesized) integrationURI(target any) any {
	parts := asList(path(target, "Fn::Join", 1))
	if len(parts) != 2 || parts[0] != "integrations/" {
		return nil
	}
	id, _ := path(parts[1], "Ref").(string)
	in, ok := s.resources[id]
	if !ok || in.Type != "AWS::ApiGatewayV2::Integration" {
		return nil
	}
	return in.Properties["IntegrationUri"]
}

// checkInvokePermission: API Gateway may invoke fn, from this API only.
func (s *synthesized) checkInvokePermission(t *testing.T, fn awslambda.Function, api constructs.IConstruct) {
	t.Helper()
	n := 0
	for id, p := range s.ofType("AWS::Lambda::Permission") {
		if !reflect.DeepEqual(p.Properties["FunctionName"], getAtt(s.id(fn), "Arn")) {
			continue
		}
		n++
		if p.Properties["Principal"] != "apigateway.amazonaws.com" || p.Properties["Action"] != "lambda:InvokeFunction" {
			t.Errorf("%s: %v", id, p.Properties)
		}
		if !strings.Contains(jsonString(p.Properties["SourceArn"]), `{"Ref":"`+s.id(api)+`"}`) {
			t.Errorf("%s: invoke allowed from %s, want only this API", id, jsonString(p.Properties["SourceArn"]))
		}
	}
	if n == 0 {
		t.Errorf("API Gateway may not invoke %s", s.id(fn))
	}
}

// checkStage: throttling and JSON access logs to the construct's log group.
func (s *synthesized) checkStage(t *testing.T, st map[string]any, logs awslogs.LogGroup, field string) {
	t.Helper()
	th := stack.DefaultThrottle(s.stage)
	if path(st, "DefaultRouteSettings", "ThrottlingRateLimit") != th.RatePerSecond ||
		path(st, "DefaultRouteSettings", "ThrottlingBurstLimit") != th.Burst {
		t.Errorf("throttling %v, want %+v", st["DefaultRouteSettings"], th)
	}
	if !reflect.DeepEqual(path(st, "AccessLogSettings", "DestinationArn"), getAtt(s.id(logs), "Arn")) {
		t.Errorf("access logs to %v", path(st, "AccessLogSettings", "DestinationArn"))
	}
	format, _ := path(st, "AccessLogSettings", "Format").(string)
	var fields map[string]string
	if err := json.Unmarshal([]byte(format), &fields); err != nil {
		t.Errorf("access log format is not JSON: %v: %s", err, format)
	}
	for _, f := range []string{"requestId", "status", field} {
		if fields[f] == "" {
			t.Errorf("access log format lacks %s: %s", f, format)
		}
	}
	g := s.res(t, logs, "AWS::Logs::LogGroup")
	if g.Properties["RetentionInDays"] == nil {
		t.Errorf("access log group keeps logs forever")
	}
}

// statementsOf lists the statements of every policy attached to fn's role.
func (s *synthesized) statementsOf(t *testing.T, fn awslambda.Function) []any {
	t.Helper()
	role := ref(s.id(fn.Role()))
	var out []any
	for _, p := range s.ofType("AWS::IAM::Policy") {
		for _, r := range asList(p.Properties["Roles"]) {
			if reflect.DeepEqual(r, role) {
				out = append(out, asList(path(p.Properties, "PolicyDocument", "Statement"))...)
			}
		}
	}
	return out
}

// actions of a statement, whether one string or a list.
func actions(st any) []any {
	switch a := path(st, "Action").(type) {
	case string:
		return []any{a}
	case []any:
		return a
	}
	return nil
}

// resources of a statement, whether one value or a list.
func resources(st any) []any {
	switch r := path(st, "Resource").(type) {
	case []any:
		return r
	case nil:
		return nil
	default:
		return []any{r}
	}
}

func contains(l []any, v any) bool {
	for _, x := range l {
		if reflect.DeepEqual(x, v) {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// allowsRule reports whether a queue's policy lets EventBridge send to it
// on behalf of the rule ruleID, and only that rule.
func (s *synthesized) allowsRule(queue constructs.IConstruct, ruleID string) bool {
	for _, pol := range s.ofType("AWS::SQS::QueuePolicy") {
		if !contains(asList(pol.Properties["Queues"]), ref(s.id(queue))) {
			continue
		}
		for _, st := range asList(path(pol.Properties, "PolicyDocument", "Statement")) {
			if path(st, "Effect") == "Allow" && path(st, "Principal", "Service") == "events.amazonaws.com" &&
				contains(actions(st), "sqs:SendMessage") &&
				reflect.DeepEqual(path(st, "Condition", "ArnEquals", "aws:SourceArn"), getAtt(ruleID, "Arn")) {
				return true
			}
		}
	}
	return false
}
