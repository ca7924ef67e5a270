package cfn_test

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/threefactor/framework/lib/cfn"
)

func load(t *testing.T) *cfn.Template {
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

func resolver(tmpl *cfn.Template) *cfn.Resolver {
	r := &cfn.Resolver{Template: tmpl, Region: "us-east-1", AccountID: "123456789012"}
	r.Bind("TableOrders", "app-orders", map[string]string{
		"Arn":       "arn:aws:dynamodb:us-east-1:123456789012:table/app-orders",
		"StreamArn": "arn:aws:dynamodb:us-east-1:123456789012:table/app-orders/stream/1",
	})
	r.Bind("Queue1", "http://q/app-q", map[string]string{"Arn": "arn:aws:sqs:us-east-1:123456789012:app-q", "QueueName": "app-q"})
	r.Bind("Api1", "api1", nil)
	return r
}

func TestParseRejects(t *testing.T) {
	for _, tt := range []struct{ doc, want string }{
		{`{`, "unexpected end"},
		{`{"Resources": {}}`, "no Resources"},
		{`{"Resources": {"A": {"Properties": {}}}}`, "resource A has no Type"},
	} {
		if _, err := cfn.Parse([]byte(tt.doc)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%s) = %v, want an error saying %q", tt.doc, err, tt.want)
		}
	}
}

func TestFunction(t *testing.T) {
	tmpl := load(t)
	f, err := tmpl.Function("Fn1")
	if err != nil {
		t.Fatal(err)
	}
	if f.Role != "Fn1Role" || f.Timeout != 10*time.Second || f.MemoryMB != 512 || f.Handler != "bootstrap" ||
		f.Runtime != "provided.al2023" || !reflect.DeepEqual(f.Architectures, []string{"arm64"}) || len(f.Env) != 4 {
		t.Errorf("Function = %+v", f)
	}
	if _, err := tmpl.Function("Queue1"); err == nil {
		t.Error("Function of a queue: no error")
	}
}

func TestResolveEnvironment(t *testing.T) {
	tmpl := load(t)
	f, _ := tmpl.Function("Fn1")
	r := resolver(tmpl)
	want := map[string]string{
		"TABLE_ORDERS":           "app-orders",
		"STAGE":                  "dev",
		"WS_MANAGEMENT_ENDPOINT": "https://api1.execute-api.us-east-1.amazonaws.com/dev",
		"QUEUE":                  "app-q in us-east-1, ${Literal}",
	}
	for k, v := range f.Env {
		got, err := r.Resolve(v)
		if err != nil || got != want[k] {
			t.Errorf("%s = %q, %v; want %q", k, got, err, want[k])
		}
	}
	parts, err := r.ResolveList(map[string]any{"Fn::Split": []any{",", "a,b"}})
	if err != nil || !reflect.DeepEqual(parts, []string{"a", "b"}) {
		t.Errorf("Fn::Split = %v, %v", parts, err)
	}
	sel, err := r.Resolve(map[string]any{"Fn::Select": []any{1.0, []any{"x", map[string]any{"Ref": "Api1"}}}})
	if err != nil || sel != "api1" {
		t.Errorf("Fn::Select = %q, %v", sel, err)
	}
}

func TestResolveUnbound(t *testing.T) {
	tmpl := load(t)
	r := &cfn.Resolver{Template: tmpl, Region: "us-east-1"}
	_, err := r.Resolve(map[string]any{"Fn::Join": []any{"", []any{"x", map[string]any{"Fn::GetAtt": []any{"Queue1", "Arn"}}}}})
	var unbound *cfn.UnboundError
	if !errors.As(err, &unbound) || unbound.ID != "Queue1" || unbound.Attr != "Arn" {
		t.Fatalf("err = %v, want an UnboundError for Queue1.Arn", err)
	}
	if got := err.Error(); got != "no value for Fn::GetAtt Queue1.Arn (AWS::SQS::Queue)" {
		t.Errorf("message %q", got)
	}
	if _, err := r.Resolve(map[string]any{"Fn::ImportValue": "x"}); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("Fn::ImportValue: %v", err)
	}
}

func TestMappingsAndIntegrations(t *testing.T) {
	tmpl := load(t)
	ms, err := tmpl.Mappings("Fn1")
	if err != nil {
		t.Fatal(err)
	}
	want := []cfn.Mapping{
		{ID: "Mapping1", Source: "Queue1", SourceAttr: "Arn", BatchSize: 10, ReportBatchItemFailures: true},
		{ID: "Mapping2", Source: "TableOrders", SourceAttr: "StreamArn", BatchSize: 100, StartingPosition: "LATEST"},
	}
	if !reflect.DeepEqual(ms, want) {
		t.Errorf("Mappings = %+v\nwant %+v", ms, want)
	}
	ins := tmpl.Integrations("Fn1")
	if len(ins) != 1 || ins[0].API != "Api1" || ins[0].Protocol != "WEBSOCKET" ||
		!reflect.DeepEqual(ins[0].Routes, map[string]string{"$connect": "NONE", "$default": "NONE"}) {
		t.Errorf("Integrations = %+v", ins)
	}
	if got := tmpl.StageName("Api1"); got != "dev" {
		t.Errorf("StageName = %q", got)
	}
}

func TestRoleStatements(t *testing.T) {
	tmpl := load(t)
	st, err := tmpl.RoleStatements("Fn1Role")
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 3 {
		t.Fatalf("%d statements, want 3 (one inline, two of the role's policy; none of another role's): %+v", len(st), st)
	}
	if st[0].Policy != "Fn1Role" || !reflect.DeepEqual(st[0].Action, []string{"xray:PutTraceSegments"}) {
		t.Errorf("inline statement %+v", st[0])
	}
	if st[1].Policy != "Fn1RolePolicy" || st[1].Index != 0 || len(st[1].Action) != 2 {
		t.Errorf("policy statement %+v", st[1])
	}
	res, err := resolver(tmpl).ResolveList(st[1].Resource)
	want := []string{"arn:aws:dynamodb:us-east-1:123456789012:table/app-orders", "arn:aws:dynamodb:us-east-1:123456789012:table/app-orders/index/*"}
	if err != nil || !reflect.DeepEqual(res, want) {
		t.Errorf("resources %v, %v", res, err)
	}
	if refs := cfn.References(st[1].Resource); !reflect.DeepEqual(refs, []string{"TableOrders"}) {
		t.Errorf("References = %v", refs)
	}
}
