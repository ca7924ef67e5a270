package lambdarun

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/threefactor/framework/lib/cfn"
	"github.com/threefactor/framework/lib/provision"
	"github.com/threefactor/framework/lib/topology"
)

// StackConfig says how to read a synthesized template against local
// resources.
type StackConfig struct {
	// Template is the app's synthesized stack.
	Template *cfn.Template
	// Topology is the app's declaration the template was made from, and
	// Resources what the dev provisioner made of it on the emulator.
	Topology  topology.Topology
	Resources *provision.Resources
	// Functions maps each function's name to the logical id of its
	// AWS::Lambda::Function in Template.
	Functions map[string]string
	// Region and AccountID are the emulator's.
	Region, AccountID string
	// APIs are the local front doors standing in for the template's APIs,
	// by protocol type (HTTP, WEBSOCKET): a value naming an API's
	// execute-api endpoint (https://{id}.execute-api.{region}.{suffix})
	// names its front door's base URL instead, the path kept.
	APIs map[string]string
	// Identity, when set, stands in for the template's Cognito user pools
	// and their clients.
	Identity *Identity
}

// Identity is a local OpenID Connect issuer standing in for a stack's
// user pools.
type Identity struct {
	// Issuer is the iss of its tokens: a value naming a pool's issuer
	// (https://cognito-idp.{region}.{suffix}/{pool id}) names it instead.
	Issuer string
	// ClientID is its client id, the aud of its tokens: a pool client's
	// Ref names it.
	ClientID string
	// JWKSURL is where it serves its keys. A function told an issuer
	// (topology.EnvAuthIssuer) gets it as topology.EnvAuthJWKSURL: on AWS
	// the function finds the keys through the issuer's discovery
	// document, and a local issuer's name resolves nowhere.
	JWKSURL string
}

// Stack is what a template gives each function, with every reference to a
// resource resolved to the local resource the dev provisioner made for it:
// tables, the bus, each route's queue and dead-letter queue, streams, and
// the APIs' front doors.
type Stack struct {
	// Functions by name.
	Functions map[string]*StackFunction
	// Notes list what could not be bound locally and why that is harmless
	// (resources the dev provisioner does not make, such as log groups).
	Notes []string
}

// StackFunction is one function as its template declares it.
type StackFunction struct {
	Name      string
	LogicalID string
	// Env is its environment, resolved.
	Env map[string]string
	// Statements are its execution role's policy statements, resources
	// resolved.
	Statements []Statement
	// ManagedPolicyARNs are policies attached to its role by ARN.
	ManagedPolicyARNs []string
	Timeout           time.Duration
	MemoryMB          int
	Runtime           string
	Architectures     []string
	// Mappings are its event source mappings.
	Mappings []Mapping
	// APIs are the APIs that invoke it.
	APIs []API
}

// Mapping is an event source mapping, bound to the local resource it reads.
type Mapping struct {
	// Route is the route whose queue it reads (an SQS mapping), Table the
	// logical table whose stream it reads (a DynamoDB stream mapping);
	// Push is set when it reads the realtime fan-out's push queue.
	Route, Table            string
	Push                    bool
	BatchSize               int
	ReportBatchItemFailures bool
	StartingPosition        string
}

// API is an API that invokes a function.
type API struct {
	// Protocol is HTTP or WEBSOCKET, Stage the API's stage.
	Protocol, Stage string
	// ID is the API's id locally (the template's logical id).
	ID string
	// Routes are its route keys with their authorization types.
	Routes map[string]string
}

// Statement is an IAM policy statement with its resources resolved. A
// reference to a resource that has no local counterpart resolves to an
// ARN that names nothing (see UnboundPrefix), and so allows nothing.
type Statement struct {
	Effect            string
	Action, NotAction []string
	Resource          []string
	NotResource       []string
	Condition         map[string]any
	// Source is "<policy logical id>#<index>".
	Source string
}

// LoadStack binds the template's resources to the local ones and reads
// every function of cfg.Functions. Local names come from the contract
// between the template and the code: a table is the one whose
// topology.TableEnv variable refers to it, the bus the one
// topology.EnvEventBus refers to, a queue the target of the rule whose
// pattern is its route's, a dead-letter queue the one a route queue's
// redrive policy names. The error names every value that cannot be
// resolved.
func LoadStack(cfg StackConfig) (*Stack, error) {
	if cfg.Template == nil || cfg.Resources == nil || len(cfg.Functions) == 0 {
		return nil, errors.New("lambdarun: stack: Template, Resources and Functions are required")
	}
	b := &binder{cfg: cfg, r: &cfn.Resolver{Template: cfg.Template, Region: cfg.Region, AccountID: cfg.AccountID}, hosts: map[string]string{}}
	if err := b.bind(); err != nil {
		return nil, fmt.Errorf("lambdarun: stack: %w", err)
	}
	st := &Stack{Functions: map[string]*StackFunction{}}
	var errs []error
	names := make([]string, 0, len(cfg.Functions))
	for n := range cfg.Functions {
		names = append(names, n)
	}
	sort.Strings(names)
	notes := map[string]bool{}
	for _, name := range names {
		f, err := b.function(name, cfg.Functions[name], notes)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		st.Functions[name] = f
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("lambdarun: stack: %w", err)
	}
	for n := range notes {
		st.Notes = append(st.Notes, n)
	}
	sort.Strings(st.Notes)
	return st, nil
}

type binder struct {
	cfg StackConfig
	r   *cfn.Resolver
	// routeQueues maps a queue's logical id to its route; pushQueue is the
	// push queue's logical id.
	routeQueues map[string]string
	pushQueue   string
	// tables maps a table's logical id to its logical table name.
	tables map[string]string
	// hosts maps an API's execute-api origin to its local front door.
	hosts map[string]string
}

func (b *binder) bind() error {
	t, topo, res := b.cfg.Template, b.cfg.Topology, b.cfg.Resources
	var errs []error
	b.tables = map[string]string{}
	bound := func(id, what string) bool {
		if prev, ok := b.tables[id]; ok && prev != what {
			errs = append(errs, fmt.Errorf("%s stands for both %s and %s", id, prev, what))
			return false
		}
		return true
	}
	// Tables and the bus, through the variables that name them.
	for _, fid := range t.OfType(cfn.TypeFunction) {
		fn, err := t.Function(fid)
		if err != nil {
			continue
		}
		for k, v := range fn.Env {
			id, attr, ok := cfn.Target(v)
			if !ok || attr != "" {
				continue
			}
			if k == topology.EnvEventBus && t.Type(id) == cfn.TypeEventBus {
				b.r.Bind(id, res.Bus.Name, map[string]string{"Arn": res.Bus.ARN, "Name": res.Bus.Name})
				continue
			}
			// The push queue, through the fan-out's variable, and its
			// dead-letter queue, through its redrive policy.
			if k == topology.EnvPushQueueURL && t.Type(id) == cfn.TypeQueue {
				pq := res.PushQueue
				b.pushQueue = id
				b.r.Bind(id, pq.URL, map[string]string{"Arn": pq.ARN, "QueueName": pq.Name, "QueueUrl": pq.URL})
				if dlq, attr, ok := cfn.Target(path(t.Resources[id].Properties, "RedrivePolicy", "deadLetterTargetArn")); ok && attr == "Arn" {
					b.r.Bind(dlq, pq.DLQURL, map[string]string{"Arn": pq.DLQARN, "QueueName": pq.DLQName, "QueueUrl": pq.DLQURL})
				}
				continue
			}
			for _, tb := range topo.AllTables() {
				if k != topology.TableEnv(tb.Name) || t.Type(id) != cfn.TypeTable || !bound(id, "table "+tb.Name) {
					continue
				}
				local, ok := res.Tables[tb.Name]
				if !ok {
					errs = append(errs, fmt.Errorf("table %s is not provisioned", tb.Name))
					continue
				}
				b.tables[id] = "table " + tb.Name
				b.r.Bind(id, local.Name, map[string]string{
					"Arn":       fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", b.cfg.Region, b.cfg.AccountID, local.Name),
					"StreamArn": local.StreamARN,
				})
			}
		}
	}
	// Route queues and their dead-letter queues, through the rules.
	b.routeQueues = map[string]string{}
	patterns := map[string]string{}
	for _, r := range topo.RoutesWithDefaults() {
		patterns[canonical(topo.EventPattern(r))] = r.Name
	}
	for _, id := range t.OfType(cfn.TypeRule) {
		p := t.Resources[id].Properties
		route, ok := patterns[canonical(p["EventPattern"])]
		if !ok {
			continue
		}
		local := res.Routes[route]
		b.r.Bind(id, local.RuleName, map[string]string{"Arn": local.RuleARN})
		for _, target := range list(p["Targets"]) {
			q, attr, ok := cfn.Target(path(target, "Arn"))
			if !ok || attr != "Arn" || t.Type(q) != cfn.TypeQueue {
				continue
			}
			b.routeQueues[q] = route
			b.r.Bind(q, local.QueueURL, map[string]string{"Arn": local.QueueARN, "QueueName": local.QueueName, "QueueUrl": local.QueueURL})
			dlq, attr, ok := cfn.Target(path(t.Resources[q].Properties, "RedrivePolicy", "deadLetterTargetArn"))
			if ok && attr == "Arn" {
				b.r.Bind(dlq, local.DLQURL, map[string]string{"Arn": local.DLQARN, "QueueName": local.DLQName, "QueueUrl": local.DLQURL})
			}
		}
	}
	for _, r := range topo.Routes {
		found := false
		for _, route := range b.routeQueues {
			found = found || route == r.Name
		}
		if !found {
			errs = append(errs, fmt.Errorf("route %s: no rule of the template has its pattern %s and a queue target", r.Name, topo.EventPatternJSON(r)))
		}
	}
	// APIs: their ids, and their endpoints' local front doors.
	suffix := "amazonaws.com"
	for _, id := range t.OfType(cfn.TypeAPI) {
		b.r.Bind(id, id, nil)
		proto, _ := t.Resources[id].Properties["ProtocolType"].(string)
		if base, ok := b.cfg.APIs[proto]; ok {
			b.hosts[fmt.Sprintf("https://%s.execute-api.%s.%s", id, b.cfg.Region, suffix)] = strings.TrimRight(base, "/")
			b.hosts[fmt.Sprintf("wss://%s.execute-api.%s.%s", id, b.cfg.Region, suffix)] = "ws" + strings.TrimPrefix(strings.TrimRight(base, "/"), "http")
		}
	}
	// Resources the dev provisioner does not make that functions only pass
	// on by name (execution and scheduler roles, identity, schedule
	// groups): bound to names made of their logical ids.
	for _, id := range t.OfType(cfn.TypeRole) {
		b.r.Bind(id, id, map[string]string{"Arn": fmt.Sprintf("arn:aws:iam::%s:role/%s", b.cfg.AccountID, id), "RoleId": id})
	}
	for _, id := range t.OfType(cfn.TypeUserPool) {
		provider := fmt.Sprintf("cognito-idp.%s.%s/%s", b.cfg.Region, suffix, id)
		b.r.Bind(id, id, map[string]string{
			"Arn":          fmt.Sprintf("arn:aws:cognito-idp:%s:%s:userpool/%s", b.cfg.Region, b.cfg.AccountID, id),
			"ProviderName": provider, "ProviderURL": "https://" + provider, "UserPoolId": id,
		})
		if b.cfg.Identity != nil {
			b.hosts["https://"+provider] = strings.TrimRight(b.cfg.Identity.Issuer, "/")
		}
	}
	for _, id := range t.OfType(cfn.TypeUserPoolClient) {
		client := id
		if b.cfg.Identity != nil {
			client = b.cfg.Identity.ClientID
		}
		b.r.Bind(id, client, map[string]string{"ClientId": client})
	}
	for _, id := range t.OfType(cfn.TypeScheduleGroup) {
		name, _ := t.Resources[id].Properties["Name"].(string)
		name = or(name, id)
		b.r.Bind(id, name, map[string]string{"Arn": fmt.Sprintf("arn:aws:scheduler:%s:%s:schedule-group/%s", b.cfg.Region, b.cfg.AccountID, name)})
	}
	// The functions themselves.
	for name, id := range b.cfg.Functions {
		b.r.Bind(id, name, map[string]string{"Arn": fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", b.cfg.Region, b.cfg.AccountID, name)})
	}
	return errors.Join(errs...)
}

func (b *binder) function(name, id string, notes map[string]bool) (*StackFunction, error) {
	t := b.cfg.Template
	fn, err := t.Function(id)
	if err != nil {
		return nil, fmt.Errorf("function %s: %w", name, err)
	}
	f := &StackFunction{
		Name: name, LogicalID: id, Env: map[string]string{}, Timeout: fn.Timeout, MemoryMB: fn.MemoryMB,
		Runtime: fn.Runtime, Architectures: fn.Architectures,
	}
	var errs []error
	for k, v := range fn.Env {
		s, err := b.r.Resolve(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("function %s: %s: %w", name, k, err))
			continue
		}
		f.Env[k] = b.localURL(s)
	}
	if id := b.cfg.Identity; id != nil && id.JWKSURL != "" && f.Env[topology.EnvAuthIssuer] == strings.TrimRight(id.Issuer, "/") {
		if _, set := f.Env[topology.EnvAuthJWKSURL]; !set {
			f.Env[topology.EnvAuthJWKSURL] = id.JWKSURL
		}
	}
	stmts, err := t.RoleStatements(fn.Role)
	if err != nil {
		errs = append(errs, fmt.Errorf("function %s: %w", name, err))
	}
	for _, s := range stmts {
		f.Statements = append(f.Statements, Statement{
			Effect: s.Effect, Action: s.Action, NotAction: s.NotAction, Condition: s.Condition,
			Resource:    b.resources(s.Resource, notes),
			NotResource: b.resources(s.NotResource, notes),
			Source:      fmt.Sprintf("%s#%d", s.Policy, s.Index),
		})
	}
	for _, arn := range t.RoleManagedPolicyARNs(fn.Role) {
		s, err := b.r.Resolve(arn)
		if err != nil {
			errs = append(errs, fmt.Errorf("function %s: managed policy: %w", name, err))
			continue
		}
		f.ManagedPolicyARNs = append(f.ManagedPolicyARNs, s)
	}
	ms, err := t.Mappings(id)
	if err != nil {
		errs = append(errs, fmt.Errorf("function %s: %w", name, err))
	}
	for _, m := range ms {
		local := Mapping{BatchSize: m.BatchSize, ReportBatchItemFailures: m.ReportBatchItemFailures, StartingPosition: m.StartingPosition}
		switch {
		case t.Type(m.Source) == cfn.TypeQueue && b.routeQueues[m.Source] != "":
			local.Route = b.routeQueues[m.Source]
		case t.Type(m.Source) == cfn.TypeQueue && m.Source == b.pushQueue:
			local.Push = true
		case t.Type(m.Source) == cfn.TypeTable && m.SourceAttr == "StreamArn" && b.tables[m.Source] != "":
			local.Table = strings.TrimPrefix(b.tables[m.Source], "table ")
		default:
			errs = append(errs, fmt.Errorf("function %s: mapping %s reads %s.%s, which is neither a route's queue, the push queue nor an app table's stream", name, m.ID, m.Source, m.SourceAttr))
			continue
		}
		f.Mappings = append(f.Mappings, local)
	}
	// One entry per API: a WebSocket API has an integration per route.
	for _, in := range t.Integrations(id) {
		i := slices.IndexFunc(f.APIs, func(a API) bool { return a.ID == in.API })
		if i < 0 {
			f.APIs = append(f.APIs, API{Protocol: in.Protocol, Stage: t.StageName(in.API), ID: in.API, Routes: map[string]string{}})
			i = len(f.APIs) - 1
		}
		for k, v := range in.Routes {
			f.APIs[i].Routes[k] = v
		}
	}
	return f, errors.Join(errs...)
}

// resources resolves a statement's resources one by one; one that refers
// to a resource with no local counterpart becomes an ARN of its service
// that names no resource (see unboundARN).
func (b *binder) resources(v any, notes map[string]bool) []string {
	var out []string
	for _, e := range list(v) {
		s, err := b.r.Resolve(e)
		var unbound *cfn.UnboundError
		switch {
		case errors.As(err, &unbound):
			s = b.unboundARN(unbound.ID, unbound.Type)
			notes[fmt.Sprintf("%s (%s) has no local counterpart: statements naming it allow nothing locally", unbound.ID, unbound.Type)] = true
		case err != nil:
			s = b.unboundARN(fmt.Sprint(e), "")
		}
		out = append(out, s)
	}
	return out
}

// UnboundPrefix starts the resource name of a statement's resource that
// has no local counterpart: arn:aws:{service}:{region}:{account}:unbound-{LogicalId}
// is a well-formed ARN (IAM refuses a policy that names anything else)
// that no local resource has.
const UnboundPrefix = "unbound-"

func (b *binder) unboundARN(id, typ string) string {
	service := "unknown"
	if parts := strings.Split(typ, "::"); len(parts) == 3 {
		service = strings.ToLower(parts[1])
	}
	return fmt.Sprintf("arn:aws:%s:%s:%s:%s%s", service, b.cfg.Region, b.cfg.AccountID, UnboundPrefix, id)
}

func (b *binder) localURL(s string) string {
	for origin, base := range b.hosts {
		if s == origin || strings.HasPrefix(s, origin+"/") {
			return base + strings.TrimPrefix(s, origin)
		}
	}
	return s
}

// canonical is v as JSON with sorted keys.
func canonical(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var norm any
	if json.Unmarshal(b, &norm) != nil {
		return ""
	}
	b, _ = json.Marshal(norm)
	return string(b)
}

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
