package cfn

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Resource types the package reads.
const (
	TypeFunction           = "AWS::Lambda::Function"
	TypeEventSourceMapping = "AWS::Lambda::EventSourceMapping"
	TypeRole               = "AWS::IAM::Role"
	TypePolicy             = "AWS::IAM::Policy"
	TypeManagedPolicy      = "AWS::IAM::ManagedPolicy"
	TypeTable              = "AWS::DynamoDB::Table"
	TypeQueue              = "AWS::SQS::Queue"
	TypeEventBus           = "AWS::Events::EventBus"
	TypeRule               = "AWS::Events::Rule"
	TypeAPI                = "AWS::ApiGatewayV2::Api"
	TypeIntegration        = "AWS::ApiGatewayV2::Integration"
	TypeRoute              = "AWS::ApiGatewayV2::Route"
	TypeStage              = "AWS::ApiGatewayV2::Stage"
	TypeUserPool           = "AWS::Cognito::UserPool"
	TypeUserPoolClient     = "AWS::Cognito::UserPoolClient"
	TypeScheduleGroup      = "AWS::Scheduler::ScheduleGroup"
)

// Template is a CloudFormation template.
type Template struct {
	Resources map[string]Resource `json:"Resources"`
	Outputs   map[string]Output   `json:"Outputs"`
}

// Resource is one resource of a template.
type Resource struct {
	Type       string         `json:"Type"`
	Properties map[string]any `json:"Properties"`
}

// Output is one output of a template.
type Output struct {
	Value       any    `json:"Value"`
	Description string `json:"Description"`
}

// Parse reads a template in JSON, as `cdk synth` writes it.
func Parse(b []byte) (*Template, error) {
	var t Template
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("cfn: template: %w", err)
	}
	if len(t.Resources) == 0 {
		return nil, errors.New("cfn: template has no Resources")
	}
	var errs []error
	for id, r := range t.Resources {
		if r.Type == "" {
			errs = append(errs, fmt.Errorf("resource %s has no Type", id))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("cfn: template: %w", err)
	}
	return &t, nil
}

// OfType lists the logical ids of the resources of type typ, sorted.
func (t *Template) OfType(typ string) []string {
	var ids []string
	for id, r := range t.Resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// Type is the type of resource id, "" when there is none.
func (t *Template) Type(id string) string { return t.Resources[id].Type }

// Target is the logical id (and attribute, for Fn::GetAtt) v refers to
// when v is exactly {"Ref": id} or {"Fn::GetAtt": [id, attr]}.
func Target(v any) (id, attr string, ok bool) {
	m, isMap := v.(map[string]any)
	if !isMap || len(m) != 1 {
		return "", "", false
	}
	if r, isRef := m["Ref"].(string); isRef {
		return r, "", !isPseudo(r)
	}
	switch g := m["Fn::GetAtt"].(type) {
	case []any:
		if len(g) == 2 {
			id, _ := g[0].(string)
			attr, _ := g[1].(string)
			return id, attr, id != "" && attr != ""
		}
	case string:
		id, attr, found := strings.Cut(g, ".")
		return id, attr, found
	}
	return "", "", false
}

func isPseudo(name string) bool { return strings.HasPrefix(name, "AWS::") }

// Function is what a template says about a Lambda function.
type Function struct {
	// ID is its logical id.
	ID string
	// Env is its environment, unresolved (values may be intrinsic functions).
	Env map[string]any
	// Role is the logical id of its execution role.
	Role string
	// Timeout is its timeout; Lambda's default 3s when unset.
	Timeout time.Duration
	// MemoryMB is its memory size; Lambda's default 128 when unset.
	MemoryMB      int
	Runtime       string
	Handler       string
	Architectures []string
}

// Function reads the AWS::Lambda::Function id.
func (t *Template) Function(id string) (Function, error) {
	r, ok := t.Resources[id]
	if !ok || r.Type != TypeFunction {
		return Function{}, fmt.Errorf("cfn: no %s %q", TypeFunction, id)
	}
	p := r.Properties
	f := Function{ID: id, Env: map[string]any{}, Timeout: 3 * time.Second, MemoryMB: 128}
	if vars, ok := path(p, "Environment", "Variables").(map[string]any); ok {
		f.Env = vars
	}
	role, _, ok := Target(p["Role"])
	if !ok {
		return f, fmt.Errorf("cfn: function %s: its Role is not a reference to a role of the template", id)
	}
	f.Role = role
	if n, ok := number(p["Timeout"]); ok {
		f.Timeout = time.Duration(n) * time.Second
	}
	if n, ok := number(p["MemorySize"]); ok {
		f.MemoryMB = n
	}
	f.Runtime, _ = p["Runtime"].(string)
	f.Handler, _ = p["Handler"].(string)
	for _, a := range list(p["Architectures"]) {
		if s, ok := a.(string); ok {
			f.Architectures = append(f.Architectures, s)
		}
	}
	return f, nil
}

// Mapping is an event source mapping of a function.
type Mapping struct {
	ID string
	// Source is the logical id of the queue or table it reads, and
	// SourceAttr the attribute it names ("Arn" for a queue, "StreamArn"
	// for a table's stream).
	Source, SourceAttr string
	BatchSize          int
	// ReportBatchItemFailures: the function answers with the failed items.
	ReportBatchItemFailures bool
	StartingPosition        string
}

// Mappings lists the event source mappings that invoke function id,
// sorted by logical id.
func (t *Template) Mappings(function string) ([]Mapping, error) {
	var out []Mapping
	for _, id := range t.OfType(TypeEventSourceMapping) {
		p := t.Resources[id].Properties
		if fn, _, ok := Target(p["FunctionName"]); !ok || fn != function {
			continue
		}
		src, attr, ok := Target(p["EventSourceArn"])
		if !ok {
			return nil, fmt.Errorf("cfn: mapping %s: its EventSourceArn is not a reference to a resource of the template", id)
		}
		m := Mapping{ID: id, Source: src, SourceAttr: attr}
		m.BatchSize, _ = number(p["BatchSize"])
		for _, rt := range list(p["FunctionResponseTypes"]) {
			m.ReportBatchItemFailures = m.ReportBatchItemFailures || rt == "ReportBatchItemFailures"
		}
		m.StartingPosition, _ = p["StartingPosition"].(string)
		out = append(out, m)
	}
	return out, nil
}

// Integration is an API Gateway (v2) API that invokes a function.
type Integration struct {
	ID string
	// API is the logical id of the API and Protocol its ProtocolType
	// (HTTP or WEBSOCKET).
	API, Protocol string
	// PayloadFormat is the HTTP API's payload format version ("2.0").
	PayloadFormat string
	// Routes are the route keys served by the integration ("POST
	// /graphql", "$connect"), each with its AuthorizationType (NONE, JWT,
	// CUSTOM, AWS_IAM).
	Routes map[string]string
}

// Integrations lists the API integrations that invoke function id, sorted
// by logical id.
func (t *Template) Integrations(function string) []Integration {
	var out []Integration
	for _, id := range t.OfType(TypeIntegration) {
		p := t.Resources[id].Properties
		if !refersTo(p["IntegrationUri"], function) {
			continue
		}
		api, _, _ := Target(p["ApiId"])
		in := Integration{ID: id, API: api, Routes: map[string]string{}}
		in.Protocol, _ = t.Resources[api].Properties["ProtocolType"].(string)
		in.PayloadFormat, _ = p["PayloadFormatVersion"].(string)
		for _, rid := range t.OfType(TypeRoute) {
			rp := t.Resources[rid].Properties
			if !refersTo(rp["Target"], id) {
				continue
			}
			key, _ := rp["RouteKey"].(string)
			auth, _ := rp["AuthorizationType"].(string)
			if auth == "" {
				auth = "NONE"
			}
			in.Routes[key] = auth
		}
		out = append(out, in)
	}
	return out
}

// StageName is the name of the (first) stage of API id, "" when it has none.
func (t *Template) StageName(api string) string {
	for _, id := range t.OfType(TypeStage) {
		p := t.Resources[id].Properties
		if a, _, ok := Target(p["ApiId"]); ok && a == api {
			s, _ := p["StageName"].(string)
			return s
		}
	}
	return ""
}

// References lists the logical ids v refers to (Ref, Fn::GetAtt, and
// ${...} in Fn::Sub), sorted and without pseudo parameters.
func References(v any) []string {
	seen := map[string]bool{}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if id, _, ok := Target(x); ok {
				seen[id] = true
				return
			}
			if sub, ok := x["Fn::Sub"]; ok && len(x) == 1 {
				s, _ := sub.(string)
				if l, ok := sub.([]any); ok && len(l) > 0 {
					s, _ = l[0].(string)
					walk(l[1:])
				}
				for _, name := range subVars(s) {
					id, _, _ := strings.Cut(name, ".")
					if !isPseudo(id) {
						seen[id] = true
					}
				}
				return
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	out := make([]string, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func refersTo(v any, id string) bool {
	for _, r := range References(v) {
		if r == id {
			return true
		}
	}
	return false
}

// path walks nested maps: path(v, "A", "B").
func path(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// list is v as a list: a single value is a list of one.
func list(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	default:
		return []any{x}
	}
}

func number(v any) (int, bool) {
	switch x := v.(type) {
	case float64:
		return int(x), true
	case string:
		var n int
		_, err := fmt.Sscan(x, &n)
		return n, err == nil
	}
	return 0, false
}
