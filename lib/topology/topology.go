package topology

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Topology is the one declaration of an app's tables, functions and routes.
// The dev runtime provisions the emulator from it and infra/ turns it into
// CDK, so it holds plain data only: no CDK or SDK types.
type Topology struct {
	// App names the app; it prefixes local resource names and is the
	// default event source. Lower case letters, digits and dashes.
	App string
	// Source is the EventBridge source of change events. Default: App + ".changes".
	Source string
	// Tables are the app's tables. The framework adds its own (see FrameworkTables).
	Tables []Table
	// Functions are the async functions that routes deliver to.
	Functions []Function
	// Routes say which changes reach which function. The framework adds
	// its own (see FrameworkRoutes).
	Routes []Route
	// DisableEventLog leaves the event log out: no eventlog route, queue
	// and function, and no delivery or push records. Items' audit trails,
	// traces, replay and the local restore then have nothing to read.
	DisableEventLog bool
}

// KeyType is a DynamoDB key attribute type.
type KeyType string

// Key attribute types.
const (
	String KeyType = "S"
	Number KeyType = "N"
	Binary KeyType = "B"
)

// Key is a key attribute.
type Key struct {
	Name string
	Type KeyType
}

// Index is a global secondary index, projecting all attributes.
type Index struct {
	Name         string
	PartitionKey Key
	SortKey      *Key
}

// Table is a DynamoDB table.
type Table struct {
	// Name is the logical name, e.g. "orders". Events carry it as "table".
	Name         string
	PartitionKey Key
	SortKey      *Key
	Indexes      []Index
	// Stream turns on a NEW_AND_OLD_IMAGES stream; the router and the
	// realtime fan-out read it.
	Stream bool
	// ParallelizationFactor is how many batches of one stream shard each
	// of its readers (the router and the realtime fan-out) handles at
	// once, 1 to 10; records of one item (one partition key) still go in
	// commit order. Raise it for a table whose write rate is more than
	// one shard's reader keeps up with (see docs/scale.md). Default 1;
	// only with Stream. The dev runtime reads each shard one batch at a
	// time, which is the order any factor keeps.
	ParallelizationFactor int
	// TTLAttribute, when set, names the epoch-seconds expiry attribute.
	TTLAttribute string
}

// MaxParallelizationFactor is the largest parallelization factor a
// DynamoDB stream event source mapping takes.
const MaxParallelizationFactor = 10

// StreamParallelization is the parallelization factor of the table's
// stream mappings, with the default applied.
func (tb Table) StreamParallelization() int {
	return max(1, tb.ParallelizationFactor)
}

// Function is an async function fed by one or more routes.
type Function struct {
	// Name is the function's folder under functions/ and its id everywhere.
	Name string
	// Tables it reads and writes (logical names). It gets each name through
	// the environment variable TableEnv(name).
	Tables []string
	// Timeout is the handler timeout. Default 30s.
	Timeout time.Duration
	// MemoryMB for the Lambda. Default 256.
	MemoryMB int
	// Env is extra environment for the function.
	Env map[string]string
}

// Operation is a DynamoDB stream event name.
type Operation string

// Operations a change event can carry.
const (
	Insert Operation = "INSERT"
	Modify Operation = "MODIFY"
	Remove Operation = "REMOVE"
)

// Route delivers the changes matching Match to Function through one SQS
// queue with a dead-letter queue. A framework route (FrameworkRoutes) has
// an empty Match.Table: it takes every change event of the app.
type Route struct {
	// Name is unique; it names the rule and queues.
	Name     string
	Function string
	Match    Match
	// BatchSize is the SQS batch size for the function. Default 10.
	BatchSize int
	// MaxReceiveCount is how many receives before the DLQ. Default 5.
	MaxReceiveCount int
	// VisibilityTimeout of the queue. Default (and minimum) six times the
	// function's timeout, as AWS recommends for SQS event sources.
	VisibilityTimeout time.Duration
}

// Condition is the list of EventBridge matchers for one field: a value
// list, or content filters such as anything-but, prefix and exists.
type Condition []any

// Is matches any of the given values.
func Is(values ...any) Condition { return Condition(values) }

// AnythingBut matches any value (present) but these.
func AnythingBut(values ...any) Condition {
	return Condition{map[string]any{"anything-but": values}}
}

// Prefix matches strings starting with p.
func Prefix(p string) Condition { return Condition{map[string]any{"prefix": p}} }

// Exists matches presence (true) or absence (false) of the field.
func Exists(present bool) Condition { return Condition{map[string]any{"exists": present}} }

// Match selects change events, like a trigger on a column.
type Match struct {
	Table string
	// Operations, empty for all.
	Operations []Operation
	// New and Old are conditions on top-level attributes of the new and old images.
	New map[string]Condition
	Old map[string]Condition
	// Changed matches when any of these attributes changed.
	Changed []string
}

// Change event detail field names; patterns and the change package share them.
const (
	DetailType = "Change"
)

// FrameworkTable names of the framework's own tables.
const (
	IdempotencyTable   = "idempotency"
	ConnectionsTable   = "connections"
	SubscriptionsTable = "subscriptions"
	// SubscriptionsByConnection is the index of subscriptions by connection id.
	SubscriptionsByConnection = "byConnection"
	// EventLogTable keeps change events, deliveries, pushes and the
	// realtime topic log (package eventlog); its indexes follow.
	EventLogTable = "eventlog"
	// EventLogByItem: an item's changes in stream sequence order.
	EventLogByItem = "byItem"
	// EventLogByCorrelation: the changes of one request, in time order.
	EventLogByCorrelation = "byCorrelation"
	// EventLogByTime: changes by day bucket (and shard), in time order.
	EventLogByTime = "byTime"
)

// FrameworkTables are the tables every app gets: the idempotency records,
// the realtime connection and subscription stores, and the event log.
func FrameworkTables() []Table {
	return []Table{
		{Name: IdempotencyTable, PartitionKey: Key{"pk", String}, TTLAttribute: "expiresAt"},
		{Name: ConnectionsTable, PartitionKey: Key{"connectionId", String}, TTLAttribute: "expiresAt"},
		{
			Name:         SubscriptionsTable,
			PartitionKey: Key{"topic", String},
			SortKey:      &Key{"subKey", String},
			Indexes: []Index{{
				Name:         SubscriptionsByConnection,
				PartitionKey: Key{"connectionId", String},
				SortKey:      &Key{"subKey", String},
			}},
			TTLAttribute: "expiresAt",
		},
		{
			Name:         EventLogTable,
			PartitionKey: Key{"pk", String},
			SortKey:      &Key{"sk", String},
			Indexes: []Index{ // by name, the order DescribeTable lists them in
				{Name: EventLogByCorrelation, PartitionKey: Key{"correlationId", String}, SortKey: &Key{"at", String}},
				{Name: EventLogByItem, PartitionKey: Key{"item", String}, SortKey: &Key{"itemSeq", String}},
				{Name: EventLogByTime, PartitionKey: Key{"bucket", String}, SortKey: &Key{"at", String}},
			},
			TTLAttribute: "expiresAt",
		},
	}
}

// The framework's event log feed: a route of every change event of the
// app to the eventlog function, which writes them to the event log
// (package eventlog). It is the framework's at-least-once path (rule,
// queue, dead-letter queue, function), not a third stream reader.
const (
	// EventLogRoute is the framework route's name; apps cannot use it.
	EventLogRoute = "eventlog"
	// EventLogMaxReceiveCount: the log keeps trying for a while (about
	// half an hour with the backoff) before a change lands in its
	// dead-letter queue.
	EventLogMaxReceiveCount = 20
)

// FrameworkRoutes are the routes the framework adds to the app's: the
// event log feed, unless DisableEventLog. Their defaults are applied.
func (t Topology) FrameworkRoutes() []Route {
	if t.DisableEventLog {
		return nil
	}
	return []Route{t.withDefaults(Route{Name: EventLogRoute, Function: EventLogFunction, MaxReceiveCount: EventLogMaxReceiveCount})}
}

// IsFrameworkRoute reports whether a route is the framework's.
func (r Route) IsFrameworkRoute() bool { return r.Match.Table == "" }

// frameworkFunction is a framework function fed by a framework route, as
// a Function: what the provisioner, the dev runtime and infra need.
func (t Topology) frameworkFunction(name string) (Function, bool) {
	if name == EventLogFunction && !t.DisableEventLog {
		return Function{Name: EventLogFunction, Tables: []string{EventLogTable}, Timeout: 30 * time.Second, MemoryMB: 256}, true
	}
	return Function{}, false
}

// AllTables is the app's tables followed by the framework's.
func (t Topology) AllTables() []Table {
	return append(append([]Table(nil), t.Tables...), FrameworkTables()...)
}

// EventSource is the EventBridge source of change events.
func (t Topology) EventSource() string {
	if t.Source != "" {
		return t.Source
	}
	return t.App + ".changes"
}

// Table finds a table (app or framework) by logical name.
func (t Topology) Table(name string) (Table, bool) {
	for _, tb := range t.AllTables() {
		if tb.Name == name {
			return tb, true
		}
	}
	return Table{}, false
}

// Function finds a function by name, with defaults applied: one of the
// app's, or the framework function a framework route feeds (eventlog).
func (t Topology) Function(name string) (Function, bool) {
	for _, f := range t.Functions {
		if f.Name == name {
			return f.withDefaults(), true
		}
	}
	return t.frameworkFunction(name)
}

// Route finds a route by name, the app's or the framework's, with
// defaults applied.
func (t Topology) Route(name string) (Route, bool) {
	for _, r := range t.RoutesWithDefaults() {
		if r.Name == name {
			return r, true
		}
	}
	return Route{}, false
}

// RoutesWithDefaults returns every route with its defaults applied: the
// app's in declaration order, then the framework's (FrameworkRoutes).
// These are what is provisioned and deployed.
func (t Topology) RoutesWithDefaults() []Route {
	out := make([]Route, 0, len(t.Routes)+1)
	for _, r := range t.Routes {
		out = append(out, t.withDefaults(r))
	}
	return append(out, t.FrameworkRoutes()...)
}

func (f Function) withDefaults() Function {
	if f.Timeout == 0 {
		f.Timeout = 30 * time.Second
	}
	if f.MemoryMB == 0 {
		f.MemoryMB = 256
	}
	return f
}

func (t Topology) withDefaults(r Route) Route {
	if r.BatchSize == 0 {
		r.BatchSize = 10
	}
	if r.MaxReceiveCount == 0 {
		r.MaxReceiveCount = 5
	}
	f, _ := t.Function(r.Function)
	if min := 6 * f.withDefaults().Timeout; r.VisibilityTimeout < min {
		r.VisibilityTimeout = min
	}
	return r
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,39}$`)

// Validate reports every problem in the declaration at once.
func (t Topology) Validate() error {
	var errs []error
	if !nameRE.MatchString(t.App) {
		errs = append(errs, fmt.Errorf("app name %q: want lower case letters, digits and dashes, starting with a letter", t.App))
	}
	tables := map[string]Table{}
	for _, tb := range t.AllTables() {
		if !nameRE.MatchString(tb.Name) {
			errs = append(errs, fmt.Errorf("table %q: bad name", tb.Name))
		}
		if _, dup := tables[tb.Name]; dup {
			errs = append(errs, fmt.Errorf("table %q declared twice (or clashes with a framework table)", tb.Name))
		}
		if tb.PartitionKey.Name == "" {
			errs = append(errs, fmt.Errorf("table %q: no partition key", tb.Name))
		}
		switch pf := tb.ParallelizationFactor; {
		case pf < 0 || pf > MaxParallelizationFactor:
			errs = append(errs, fmt.Errorf("table %q: parallelization factor %d outside 1..%d", tb.Name, pf, MaxParallelizationFactor))
		case pf > 1 && !tb.Stream:
			errs = append(errs, fmt.Errorf("table %q: parallelization factor %d without a stream", tb.Name, pf))
		}
		tables[tb.Name] = tb
	}
	funcs := map[string]bool{}
	for _, f := range t.Functions {
		if !nameRE.MatchString(f.Name) {
			errs = append(errs, fmt.Errorf("function %q: bad name", f.Name))
		}
		if funcs[f.Name] {
			errs = append(errs, fmt.Errorf("function %q declared twice", f.Name))
		}
		funcs[f.Name] = true
		if f.Name == EventLogFunction && !t.DisableEventLog {
			errs = append(errs, fmt.Errorf("function %q: the name belongs to the framework's event log function", f.Name))
		}
		for _, tn := range f.Tables {
			if _, ok := tables[tn]; !ok {
				errs = append(errs, fmt.Errorf("function %q: unknown table %q", f.Name, tn))
			}
		}
		if f.Timeout < 0 || f.Timeout > 15*time.Minute {
			errs = append(errs, fmt.Errorf("function %q: timeout %s outside 0..15m", f.Name, f.Timeout))
		}
	}
	routes := map[string]bool{}
	for _, r := range t.Routes {
		if !nameRE.MatchString(r.Name) {
			errs = append(errs, fmt.Errorf("route %q: bad name", r.Name))
		}
		if routes[r.Name] {
			errs = append(errs, fmt.Errorf("route %q declared twice", r.Name))
		}
		routes[r.Name] = true
		if r.Name == EventLogRoute {
			errs = append(errs, fmt.Errorf("route %q: the name belongs to the framework's event log route", r.Name))
		}
		if !funcs[r.Function] {
			errs = append(errs, fmt.Errorf("route %q: unknown function %q", r.Name, r.Function))
		}
		tb, ok := tables[r.Match.Table]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("route %q: unknown table %q", r.Name, r.Match.Table))
		case !tb.Stream:
			errs = append(errs, fmt.Errorf("route %q: table %q has no stream", r.Name, r.Match.Table))
		}
		for _, op := range r.Match.Operations {
			if op != Insert && op != Modify && op != Remove {
				errs = append(errs, fmt.Errorf("route %q: operation %q: want INSERT, MODIFY or REMOVE", r.Name, op))
			}
		}
		if r.BatchSize < 0 || r.BatchSize > 10 {
			errs = append(errs, fmt.Errorf("route %q: batch size %d outside 1..10", r.Name, r.BatchSize))
		}
		if r.MaxReceiveCount < 0 || r.MaxReceiveCount > 1000 {
			errs = append(errs, fmt.Errorf("route %q: max receive count %d outside 1..1000", r.Name, r.MaxReceiveCount))
		}
		if r.VisibilityTimeout > 12*time.Hour {
			errs = append(errs, fmt.Errorf("route %q: visibility timeout %s over 12h", r.Name, r.VisibilityTimeout))
		}
	}
	return errors.Join(errs...)
}

// EventPattern is the EventBridge pattern of a route: the change source,
// the detail type, and conditions on the change event's detail fields
// (table, operation, new, old, changed). A framework route's pattern
// (no table) is every change event of the app.
func (t Topology) EventPattern(r Route) map[string]any {
	if r.IsFrameworkRoute() {
		return map[string]any{
			"source":      []any{t.EventSource()},
			"detail-type": []any{DetailType},
		}
	}
	detail := map[string]any{"table": []any{r.Match.Table}}
	if len(r.Match.Operations) > 0 {
		ops := make([]any, len(r.Match.Operations))
		for i, op := range r.Match.Operations {
			ops[i] = string(op)
		}
		detail["operation"] = ops
	}
	if len(r.Match.New) > 0 {
		detail["new"] = conditions(r.Match.New)
	}
	if len(r.Match.Old) > 0 {
		detail["old"] = conditions(r.Match.Old)
	}
	if len(r.Match.Changed) > 0 {
		ch := make([]any, len(r.Match.Changed))
		for i, c := range r.Match.Changed {
			ch[i] = c
		}
		detail["changed"] = ch
	}
	return map[string]any{
		"source":      []any{t.EventSource()},
		"detail-type": []any{DetailType},
		"detail":      detail,
	}
}

// EventPatternJSON is EventPattern as JSON with sorted keys, stable for
// comparison between the local provisioning and the synthesized template.
func (t Topology) EventPatternJSON(r Route) string {
	b, err := json.Marshal(t.EventPattern(r))
	if err != nil {
		// Conditions hold JSON-safe values by construction.
		panic(fmt.Sprintf("route %s: pattern: %v", r.Name, err))
	}
	return string(b)
}

func conditions(m map[string]Condition) map[string]any {
	out := make(map[string]any, len(m))
	for k, c := range m {
		out[k] = []any(c)
	}
	return out
}

// Local resource names. The dev runtime names emulator resources with
// these; in the cloud CDK generates names and functions learn them from
// the environment variables below.

// TableName is the local physical name of a table.
func (t Topology) TableName(table string) string { return t.App + "-" + table }

// BusName is the local event bus name.
func (t Topology) BusName() string { return t.App + "-bus" }

// RuleName is the local rule name of a route.
func (t Topology) RuleName(route string) string { return t.App + "-" + route }

// QueueName is the local queue name of a route.
func (t Topology) QueueName(route string) string { return t.App + "-" + route }

// DLQName is the local dead-letter queue name of a route.
func (t Topology) DLQName(route string) string { return t.App + "-" + route + "-dlq" }

// Environment variables through which functions learn resource names,
// locally and on AWS.
const (
	EnvEventBus = "EVENT_BUS_NAME"
	// EnvManagementEndpoint is the WebSocket Management API endpoint.
	EnvManagementEndpoint = "WS_MANAGEMENT_ENDPOINT"
	// EnvStage is dev or prod.
	EnvStage = "STAGE"
	// EnvGraphiQLSubscriptionsURL is the WebSocket URL the dev stage's
	// GraphiQL page opens for subscriptions (infra sets the WebSocket
	// API's on the graphql function); unset, the page has none.
	EnvGraphiQLSubscriptionsURL = "GRAPHIQL_SUBSCRIPTIONS_URL"
	// EnvAllowedOrigins lists the browser origins (comma-separated,
	// scheme://host[:port] or scheme://host:*) that may open the WebSocket
	// and call the HTTP API; see package origin.
	EnvAllowedOrigins = "ALLOWED_ORIGINS"
)

// Paths of the HTTP API, on AWS and locally.
const (
	// GraphQLPath is the GraphQL endpoint, over HTTP (behind the JWT
	// authorizer) and WebSocket (the dev runtime's front door; on AWS the
	// WebSocket API has its own domain).
	GraphQLPath = "/graphql"
	// GraphiQLPath serves the GraphiQL page, without authorization, on the
	// dev stage and in the dev runtime only.
	GraphiQLPath = "/graphiql"
)

// Environment variables of identity (see lib/identity), set by infra on
// AWS and by the dev runtime locally.
const (
	// EnvAuthIssuer is the OIDC issuer tokens must come from: their iss
	// claim equals it exactly.
	EnvAuthIssuer = "AUTH_ISSUER"
	// EnvAuthAudience lists, comma-separated, the audiences (client ids)
	// a token may be for.
	EnvAuthAudience = "AUTH_AUDIENCE"
	// EnvAuthJWKSURL is where the issuer's keys are; unset, it is
	// discovered at AUTH_ISSUER/.well-known/openid-configuration.
	EnvAuthJWKSURL = "AUTH_JWKS_URL"
	// EnvAuthGroupsClaim names the claim holding the caller's groups;
	// unset, "cognito:groups".
	EnvAuthGroupsClaim = "AUTH_GROUPS_CLAIM"
	// EnvExpiryScheduleGroup is the EventBridge Scheduler group holding
	// the one-time schedules that close WebSocket connections when their
	// token expires.
	EnvExpiryScheduleGroup = "EXPIRY_SCHEDULE_GROUP"
	// EnvExpirySchedulerRoleARN is the role EventBridge Scheduler assumes
	// to invoke the realtime function at a token's expiry.
	EnvExpirySchedulerRoleARN = "EXPIRY_SCHEDULER_ROLE_ARN"
)

// TableEnv is the environment variable holding a table's physical name,
// e.g. TABLE_ORDERS for "orders".
func TableEnv(table string) string {
	return "TABLE_" + envName(table)
}

// RouteQueueARNEnv is the environment variable holding the ARN of a
// route's queue, e.g. ROUTE_VALIDATE_ORDER_QUEUE_ARN for
// "validate-order". The route's function gets it for each route feeding
// it: an SQS message names the queue it came from by this ARN (its
// eventSourceARN), which tells the function the message's route.
func RouteQueueARNEnv(route string) string {
	return "ROUTE_" + envName(route) + "_QUEUE_ARN"
}

// RouteDLQURLEnv is the environment variable holding the URL of a route's
// dead-letter queue, e.g. ROUTE_VALIDATE_ORDER_DLQ_URL: the route's
// function sends a message of that route that fails permanently there at
// once.
func RouteDLQURLEnv(route string) string {
	return "ROUTE_" + envName(route) + "_DLQ_URL"
}

// envName turns a table or route name (lower case letters, digits and
// dashes) into the upper case part of a variable name.
func envName(name string) string {
	return strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// RoutesOf lists the routes that feed function, with defaults applied,
// in declaration order (a framework function's are the framework's).
func (t Topology) RoutesOf(function string) []Route {
	var out []Route
	for _, r := range t.RoutesWithDefaults() {
		if r.Function == function {
			out = append(out, r)
		}
	}
	return out
}

// TableNames maps logical to local physical names for every table.
func (t Topology) TableNames() map[string]string {
	m := map[string]string{}
	for _, tb := range t.AllTables() {
		m[tb.Name] = t.TableName(tb.Name)
	}
	return m
}

// StreamTables lists the tables with streams, sorted.
func (t Topology) StreamTables() []string {
	var out []string
	for _, tb := range t.Tables {
		if tb.Stream {
			out = append(out, tb.Name)
		}
	}
	sort.Strings(out)
	return out
}

// StreamTablesFromEnv maps the physical name of each stream table, read
// from its topology.TableEnv variable, to its logical name: what stream
// readers need to name the table of a record by its stream ARN. The error
// names every variable that is not set.
func (t Topology) StreamTablesFromEnv(getenv func(string) string) (map[string]string, error) {
	out := map[string]string{}
	var missing []error
	for _, logical := range t.StreamTables() {
		physical := getenv(TableEnv(logical))
		if physical == "" {
			missing = append(missing, fmt.Errorf("%s is not set", TableEnv(logical)))
			continue
		}
		out[physical] = logical
	}
	return out, errors.Join(missing...)
}

// The framework's own functions: every app gets them, built from its
// declaration by package app. Their names are reserved.
const (
	// RouterFunction reads every table stream and publishes change events.
	RouterFunction = "router"
	// FanOutFunction reads every table stream and pushes to subscribers.
	FanOutFunction = "fanout"
	// GraphQLFunction serves queries and mutations over HTTP.
	GraphQLFunction = "graphql"
	// RealtimeFunction is the WebSocket API's handler.
	RealtimeFunction = "realtime"
	// PushFunction is the fan-out's push worker: it reads the push queue,
	// where the fan-out puts the changes whose audience is too large to
	// push from the stream, partitioned by connection.
	PushFunction = "pushworker"
	// EventLogFunction writes the change events the eventlog route
	// delivers to the event log.
	EventLogFunction = "eventlog"
)

// FrameworkFunctions are the framework's function names, sorted.
var FrameworkFunctions = []string{EventLogFunction, FanOutFunction, GraphQLFunction, PushFunction, RealtimeFunction, RouterFunction}

// The push queue: a FIFO queue whose message groups are partitions of
// connections, so that each connection's pushes keep their order while
// the partitions are pushed in parallel; its dead-letter queue takes a
// message after PushMaxReceiveCount receives.
const (
	// PushTimeout is the push worker's timeout.
	PushTimeout = time.Minute
	// PushBatchSize is the push queue mapping's batch size.
	PushBatchSize = 10
	// PushMaxReceiveCount is how many receives before the dead-letter queue.
	PushMaxReceiveCount = 5
	// PushVisibilityTimeout is the push queue's visibility timeout: six
	// times the worker's timeout, as AWS recommends for SQS event sources.
	PushVisibilityTimeout = 6 * PushTimeout
	// EnvPushQueueURL is the push queue's URL, which the fan-out sends to.
	EnvPushQueueURL = "PUSH_QUEUE_URL"
	// EnvPushQueueThreshold, optional, is the audience (subscriptions of a
	// change) over which the fan-out hands a change to the push queue; a
	// positive integer, default fanout.DefaultQueueThreshold.
	EnvPushQueueThreshold = "PUSH_QUEUE_THRESHOLD"
)

// PushQueueName is the local name of the push queue.
func (t Topology) PushQueueName() string { return t.App + "-push.fifo" }

// PushDLQName is the local name of the push queue's dead-letter queue.
func (t Topology) PushDLQName() string { return t.App + "-push-dlq.fifo" }

// IsFrameworkFunction reports whether name is a framework function's.
func IsFrameworkFunction(name string) bool {
	for _, n := range FrameworkFunctions {
		if n == name {
			return true
		}
	}
	return false
}

// Lambdas are every Lambda a deployment runs, sorted: the framework's and
// the app's functions. Each is a folder functions/<name>/lambda.
func (t Topology) Lambdas() []string {
	var names []string
	for _, n := range FrameworkFunctions {
		if n != EventLogFunction || !t.DisableEventLog {
			names = append(names, n)
		}
	}
	for _, f := range t.Functions {
		names = append(names, f.Name)
	}
	sort.Strings(names)
	return names
}

// Outputs of the deployed stack through which tools (the threefactor
// CLI's log, trace, replay and dlq) find the resources CloudFormation
// named.
const (
	// OutputEventLogTable is the event log table's name.
	OutputEventLogTable = "EventLogTable"
)

// TableOutput is the stack output holding an app table's name, e.g.
// TableOrders for "orders".
func TableOutput(table string) string { return "Table" + Pascal(table) }

// QueueOutput is the stack output holding a route's queue URL, e.g.
// QueueValidateOrder for "validate-order".
func QueueOutput(route string) string { return "Queue" + Pascal(route) }

// DLQOutput is the stack output holding a route's dead-letter queue
// URL, e.g. DLQValidateOrder for "validate-order".
func DLQOutput(route string) string { return "DLQ" + Pascal(route) }

// Pascal turns a name of lower case letters, digits and dashes into
// PascalCase ("validate-order" -> "ValidateOrder").
func Pascal(name string) string {
	var b strings.Builder
	up := true
	for _, r := range name {
		if r == '-' || r == '_' {
			up = true
			continue
		}
		if up && r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		up = false
		b.WriteRune(r)
	}
	return b.String()
}
