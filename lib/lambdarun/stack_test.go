package lambdarun_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/threefactor/framework/lib/cfn"
	"github.com/threefactor/framework/lib/lambdarun"
	"github.com/threefactor/framework/lib/provision"
	"github.com/threefactor/framework/lib/topology"
)

var notesTopology = topology.Topology{
	App:       "notes",
	Tables:    []topology.Table{{Name: "notes", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true}},
	Functions: []topology.Function{{Name: "index", Tables: []string{"notes"}}},
	Routes: []topology.Route{{Name: "index-notes", Function: "index", Match: topology.Match{
		Table: "notes", Operations: []topology.Operation{topology.Insert},
	}}},
}

func notesResources() *provision.Resources {
	const arn = "arn:aws:sqs:us-east-1:123456789012:"
	return &provision.Resources{
		Tables: map[string]provision.Table{"notes": {Name: "notes-notes", StreamARN: "arn:aws:dynamodb:us-east-1:123456789012:table/notes-notes/stream/1"}},
		Bus:    provision.Bus{Name: "notes-bus", ARN: "arn:aws:events:us-east-1:123456789012:event-bus/notes-bus"},
		Routes: map[string]provision.Route{"index-notes": {
			Name: "index-notes", Function: "index", RuleName: "notes-index-notes", RuleARN: "arn:aws:events:us-east-1:123456789012:rule/notes-bus/notes-index-notes",
			QueueName: "notes-index-notes", QueueURL: "http://sqs/123456789012/notes-index-notes", QueueARN: arn + "notes-index-notes",
			DLQName: "notes-index-notes-dlq", DLQURL: "http://sqs/123456789012/notes-index-notes-dlq", DLQARN: arn + "notes-index-notes-dlq",
		}},
	}
}

func loadTemplate(t *testing.T) *cfn.Template {
	t.Helper()
	b, err := os.ReadFile("testdata/stack.json")
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := cfn.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

// Every reference of the template resolves to what the dev provisioner
// made: the table through TABLE_NOTES, the bus through EVENT_BUS_NAME, the
// queue through the rule with the route's pattern, the DLQ through the
// queue's redrive policy, the API's endpoint to its front door, the user
// pool's issuer and client to the local issuer's (whose keys the function
// is told where to find); roles to names made of their logical ids.
func TestLoadStack(t *testing.T) {
	st, err := lambdarun.LoadStack(lambdarun.StackConfig{
		Template: loadTemplate(t), Topology: notesTopology, Resources: notesResources(),
		Functions: map[string]string{"index": "Index"}, Region: "us-east-1", AccountID: "123456789012",
		APIs:     map[string]string{"WEBSOCKET": "http://127.0.0.1:9999/"},
		Identity: &lambdarun.Identity{Issuer: "https://dev.local/notes", ClientID: "client1", JWKSURL: "http://127.0.0.1:9999/.well-known/jwks.json"},
	})
	if err != nil {
		t.Fatal(err)
	}
	f := st.Functions["index"]
	wantEnv := map[string]string{
		"TABLE_NOTES":            "notes-notes",
		"EVENT_BUS_NAME":         "notes-bus",
		"DLQ_URL":                "http://sqs/123456789012/notes-index-notes-dlq",
		"WS_MANAGEMENT_ENDPOINT": "http://127.0.0.1:9999/dev",
		"AUTH_ISSUER":            "https://dev.local/notes",
		"AUTH_AUDIENCE":          "client1",
		"AUTH_JWKS_URL":          "http://127.0.0.1:9999/.well-known/jwks.json",
		"ROLE_ARN":               "arn:aws:iam::123456789012:role/IndexRole",
	}
	if !reflect.DeepEqual(f.Env, wantEnv) {
		t.Errorf("env %v\nwant %v", f.Env, wantEnv)
	}
	res := [][]string{}
	for _, s := range f.Statements {
		res = append(res, s.Resource)
	}
	wantRes := [][]string{
		{"arn:aws:logs:us-east-1:123456789012:" + lambdarun.UnboundPrefix + "IndexLogs"},
		{"arn:aws:sqs:us-east-1:123456789012:notes-index-notes"},
		{"arn:aws:dynamodb:us-east-1:123456789012:table/notes-notes/stream/1"},
		{"arn:aws:execute-api:us-east-1:123456789012:WsApi/dev/*/@connections/*"},
	}
	if !reflect.DeepEqual(res, wantRes) {
		t.Errorf("statement resources %v\nwant %v", res, wantRes)
	}
	if f.Statements[1].Source != "IndexPolicy#1" || f.Timeout.Seconds() != 20 || f.MemoryMB != 256 {
		t.Errorf("function %+v", f)
	}
	wantMappings := []lambdarun.Mapping{
		{Route: "index-notes", BatchSize: 10, ReportBatchItemFailures: true},
		{Table: "notes", StartingPosition: "LATEST"},
	}
	if !reflect.DeepEqual(f.Mappings, wantMappings) {
		t.Errorf("mappings %+v", f.Mappings)
	}
	wantAPIs := []lambdarun.API{{Protocol: "WEBSOCKET", Stage: "dev", ID: "WsApi", Routes: map[string]string{"$connect": "NONE", "$default": "NONE"}}}
	if !reflect.DeepEqual(f.APIs, wantAPIs) {
		t.Errorf("APIs %+v", f.APIs)
	}
	if len(st.Notes) != 1 || !strings.Contains(st.Notes[0], "IndexLogs (AWS::Logs::LogGroup) has no local counterpart") {
		t.Errorf("notes %q", st.Notes)
	}
}

// A value that refers to a resource with no local counterpart is an
// error naming the function, the variable and the resource; so is a route
// no rule of the template carries.
func TestLoadStackErrors(t *testing.T) {
	cfg := lambdarun.StackConfig{
		Template: loadTemplate(t), Topology: notesTopology, Resources: notesResources(),
		Functions: map[string]string{"broken": "Broken"}, Region: "us-east-1", AccountID: "123456789012",
	}
	_, err := lambdarun.LoadStack(cfg)
	if err == nil || !strings.Contains(err.Error(), "function broken: SECRET: no value for Fn::GetAtt SomeSecret.Arn (AWS::SecretsManager::Secret)") {
		t.Errorf("err = %v", err)
	}
	cfg.Functions = map[string]string{"index": "Index"}
	cfg.Topology.Routes = append(cfg.Topology.Routes, topology.Route{Name: "index-all", Function: "index", Match: topology.Match{Table: "notes"}})
	_, err = lambdarun.LoadStack(cfg)
	if err == nil || !strings.Contains(err.Error(), "route index-all: no rule of the template") {
		t.Errorf("err = %v", err)
	}
}
