package lambdarun_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/threefactor/framework/lib/lambdarun"
)

func TestEmulatorPolicy(t *testing.T) {
	stmts := []lambdarun.Statement{
		{Effect: "Allow", Action: []string{"dynamodb:GetItem", "sqs:DeleteMessage", "sqs:ReceiveMessage"}, Resource: []string{"arn:aws:dynamodb:us-east-1:1:table/t", "arn:aws:sqs:us-east-1:1:q"}, Source: "P#0"},
		{Effect: "Allow", Action: []string{"events:PutEvents"}, Resource: []string{"*"}, Source: "P#1"},
		{Effect: "Allow", Action: []string{"execute-api:ManageConnections"}, Resource: []string{"arn:aws:execute-api:us-east-1:1:api/dev/*"}, Source: "P#2"},
	}
	doc, widened, err := lambdarun.EmulatorPolicy(stmts)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Statement []struct {
			Effect   string
			Action   []string
			Resource []string
		}
	}
	if err := json.Unmarshal([]byte(doc), &got); err != nil {
		t.Fatal(err)
	}
	type st = struct {
		Effect   string
		Action   []string
		Resource []string
	}
	want := []st{
		{"Allow", []string{"dynamodb:GetItem"}, []string{"*"}},
		{"Allow", []string{"sqs:DeleteMessage", "sqs:DeleteMessageBatch", "sqs:ReceiveMessage"}, []string{"arn:aws:dynamodb:us-east-1:1:table/t", "arn:aws:sqs:us-east-1:1:q"}},
		{"Allow", []string{"events:PutEvents"}, []string{"*"}},
	}
	if !reflect.DeepEqual(got.Statement, want) {
		t.Errorf("statements %+v\nwant %+v", got.Statement, want)
	}
	if len(widened) != 1 || !strings.HasPrefix(widened[0], "P#0: 1 dynamodb actions") {
		t.Errorf("widened %q", widened)
	}

	doc, notes, err := lambdarun.EmulatorPolicy([]lambdarun.Statement{{
		Effect: "Allow", Action: []string{"iam:PassRole"}, Resource: []string{"arn:aws:iam::1:role/r"}, Source: "P#3",
		Condition: map[string]any{"StringEquals": map[string]any{"iam:PassedToService": "scheduler.amazonaws.com"}},
	}})
	if err != nil || strings.Contains(doc, "PassRole") || len(notes) != 1 || !strings.Contains(notes[0], "P#3: iam:PassRole") {
		t.Errorf("iam:PassRole with its condition: %s, %q, %v; want it left out with a note", doc, notes, err)
	}
	doc, notes, err = lambdarun.EmulatorPolicy([]lambdarun.Statement{{
		Effect: "Allow", Action: []string{"dynamodb:GetItem"}, Resource: []string{"arn:aws:dynamodb:us-east-1:1:table/l"}, Source: "P#4",
		Condition: map[string]any{"ForAllValues:StringLike": map[string]any{"dynamodb:LeadingKeys": []any{"T#*"}}},
	}})
	if err != nil || !strings.Contains(doc, `"Action":["dynamodb:GetItem"],"Resource":["*"]`) || len(notes) != 2 || !strings.Contains(notes[0], "P#4: its condition on dynamodb:LeadingKeys") {
		t.Errorf("an Allow narrowed to partitions: %s, %q, %v; want it widened with a note", doc, notes, err)
	}
	doc, _, err = lambdarun.EmulatorPolicy([]lambdarun.Statement{{
		Effect: "Allow", Action: []string{"dynamodb:PutItem", "dynamodb:UpdateItem"}, Resource: []string{"*"}, Source: "P#5",
	}})
	if err != nil || !strings.Contains(doc, `"Action":["dynamodb:PutItem","dynamodb:TransactWriteItems","dynamodb:UpdateItem"]`) {
		t.Errorf("item writes: %s, %v; want TransactWriteItems allowed once with them", doc, err)
	}
	for _, bad := range []lambdarun.Statement{
		{Effect: "Deny", Action: []string{"dynamodb:GetItem"}, Resource: []string{"*"}, Condition: map[string]any{"ForAllValues:StringLike": map[string]any{"dynamodb:LeadingKeys": []any{"T#*"}}}},
		{Effect: "Allow", Action: []string{"sqs:SendMessage"}, Resource: []string{"*"}, Condition: map[string]any{"Bool": map[string]any{"aws:SecureTransport": "true"}}},
		{Effect: "Deny", Action: []string{"dynamodb:DeleteItem"}, Resource: []string{"arn:aws:dynamodb:us-east-1:1:table/t"}},
		{Effect: "Allow", NotAction: []string{"iam:*"}, Resource: []string{"*"}},
	} {
		if _, _, err := lambdarun.EmulatorPolicy([]lambdarun.Statement{bad}); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	doc, _, err = lambdarun.EmulatorPolicy(nil)
	if err != nil || !strings.Contains(doc, `"Effect":"Deny"`) {
		t.Errorf("no statements: %s, %v; want a policy that allows nothing", doc, err)
	}
}

func TestAllowed(t *testing.T) {
	stmts := []lambdarun.Statement{
		{Effect: "Allow", Action: []string{"execute-api:ManageConnections"}, Resource: []string{"arn:aws:execute-api:us-east-1:1:api/dev/*/@connections/*"}},
		{Effect: "Allow", Action: []string{"sqs:Get*"}, Resource: []string{"arn:aws:sqs:us-east-1:1:q?"}},
		{Effect: "Deny", Action: []string{"sqs:GetQueueUrl"}, Resource: []string{"*"}},
		{Effect: "Allow", Action: []string{"s3:GetObject"}, Resource: []string{"*"}, Condition: map[string]any{"Bool": map[string]any{"aws:SecureTransport": "true"}}},
	}
	for _, tt := range []struct {
		action, resource string
		want             bool
	}{
		{"execute-api:ManageConnections", "arn:aws:execute-api:us-east-1:1:api/dev/POST/@connections/abc=", true},
		{"Execute-API:managecONNECTIONS", "arn:aws:execute-api:us-east-1:1:api/dev/DELETE/@connections/x", true},
		{"execute-api:ManageConnections", "arn:aws:execute-api:us-east-1:1:other/dev/POST/@connections/x", false},
		{"execute-api:Invoke", "arn:aws:execute-api:us-east-1:1:api/dev/POST/@connections/x", false},
		{"sqs:GetQueueAttributes", "arn:aws:sqs:us-east-1:1:q1", true},
		{"sqs:GetQueueAttributes", "arn:aws:sqs:us-east-1:1:q12", false},
		{"sqs:GetQueueUrl", "arn:aws:sqs:us-east-1:1:q1", false},
		{"s3:GetObject", "arn:aws:s3:::b/k", false},
	} {
		if got := lambdarun.Allowed(stmts, tt.action, tt.resource); got != tt.want {
			t.Errorf("Allowed(%s, %s) = %v, want %v", tt.action, tt.resource, got, tt.want)
		}
	}
}
