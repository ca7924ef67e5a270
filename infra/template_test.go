package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/infra/stack"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/topology"
)

func TestTerminationProtection(t *testing.T) {
	forStages(t, func(t *testing.T, s *synthesized) {
		if got := *s.st.TerminationProtection(); got != (s.stage == stack.Prod) {
			t.Errorf("termination protection %v", got)
		}
	})
}

func TestTables(t *testing.T) {
	forStages(t, func(t *testing.T, s *synthesized) {
		tables := s.ofType("AWS::DynamoDB::Table")
		if got, want := len(tables), len(fooddelivery.App.Topology().AllTables()); got != want {
			t.Errorf("%d tables, want %d (app + framework)", got, want)
		}
		for _, tb := range fooddelivery.App.Topology().AllTables() {
			t.Run(tb.Name, func(t *testing.T) {
				id := stack.LogicalTableID(tb.Name)
				r, ok := tables[id]
				if !ok {
					t.Fatalf("no table with the stable logical id %s", id)
				}
				p := r.Properties
				if got := keySchema(p["KeySchema"], p["AttributeDefinitions"]); !reflect.DeepEqual(got, wantKeys(tb.PartitionKey, tb.SortKey)) {
					t.Errorf("key schema %v, want %v", got, wantKeys(tb.PartitionKey, tb.SortKey))
				}
				if p["BillingMode"] != "PAY_PER_REQUEST" {
					t.Errorf("BillingMode %v", p["BillingMode"])
				}
				if path(p, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled") != true {
					t.Errorf("point-in-time recovery off: %v", p["PointInTimeRecoverySpecification"])
				}
				stream := path(p, "StreamSpecification", "StreamViewType")
				if tb.Stream && stream != "NEW_AND_OLD_IMAGES" || !tb.Stream && stream != nil {
					t.Errorf("stream view %v, declared stream %v", stream, tb.Stream)
				}
				ttl := p["TimeToLiveSpecification"]
				if tb.TTLAttribute != "" {
					want := map[string]any{"AttributeName": tb.TTLAttribute, "Enabled": true}
					if !reflect.DeepEqual(ttl, want) {
						t.Errorf("TTL %v, want %v", ttl, want)
					}
				} else if ttl != nil {
					t.Errorf("TTL %v, none declared", ttl)
				}
				var gsis []any
				if l, ok := p["GlobalSecondaryIndexes"].([]any); ok {
					gsis = l
				}
				if len(gsis) != len(tb.Indexes) {
					t.Errorf("%d GSIs, want %d", len(gsis), len(tb.Indexes))
				}
				for i, ix := range tb.Indexes {
					if i >= len(gsis) {
						break
					}
					g := gsis[i]
					if path(g, "IndexName") != ix.Name || path(g, "Projection", "ProjectionType") != "ALL" {
						t.Errorf("GSI %d: %v, want %s projecting ALL", i, g, ix.Name)
					}
					if got := keySchema(path(g, "KeySchema"), p["AttributeDefinitions"]); !reflect.DeepEqual(got, wantKeys(ix.PartitionKey, ix.SortKey)) {
						t.Errorf("GSI %s keys %v, want %v", ix.Name, got, wantKeys(ix.PartitionKey, ix.SortKey))
					}
				}
				wantPolicy, wantProtect := "Delete", false
				if s.stage == stack.Prod {
					wantPolicy, wantProtect = "Retain", true
				}
				if r.DeletionPolicy != wantPolicy || r.UpdateReplacePolicy != wantPolicy {
					t.Errorf("DeletionPolicy %q UpdateReplacePolicy %q, want %q", r.DeletionPolicy, r.UpdateReplacePolicy, wantPolicy)
				}
				if p["DeletionProtectionEnabled"] != wantProtect {
					t.Errorf("DeletionProtectionEnabled %v, want %v", p["DeletionProtectionEnabled"], wantProtect)
				}
			})
		}
	})
}

// keySchema renders a KeySchema as "HASH name S" lines using the attribute types.
func keySchema(ks, defs any) []string {
	types := map[any]any{}
	for _, d := range asList(defs) {
		types[path(d, "AttributeName")] = path(d, "AttributeType")
	}
	var out []string
	for _, k := range asList(ks) {
		n := path(k, "AttributeName")
		out = append(out, strings.Join([]string{path(k, "KeyType").(string), n.(string), types[n].(string)}, " "))
	}
	return out
}

func wantKeys(pk topology.Key, sk *topology.Key) []string {
	out := []string{"HASH " + pk.Name + " " + string(pk.Type)}
	if sk != nil {
		out = append(out, "RANGE "+sk.Name+" "+string(sk.Type))
	}
	return out
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// streamMappings are the event source mappings reading a table's stream.
func (s *synthesized) streamMappings(table string) map[string]resource {
	out := map[string]resource{}
	for id, r := range s.ofType("AWS::Lambda::EventSourceMapping") {
		if reflect.DeepEqual(r.Properties["EventSourceArn"], getAtt(stack.LogicalTableID(table), "StreamArn")) {
			out[id] = r
		}
	}
	return out
}

func TestStreamReaders(t *testing.T) {
	forStages(t, func(t *testing.T, s *synthesized) {
		readers := []struct {
			name                  string
			fn                    awslambda.Function
			onFailure             awssqs.Queue
			start                 string
			batch, retries, maxAg float64
		}{
			{"router", s.st.Pipeline.Router, s.st.Pipeline.RouterOnFailure, "TRIM_HORIZON",
				stack.RouterBatchSize, stack.RouterRetryAttempts, stack.RouterMaxRecordAge},
			{"fanout", s.st.Realtime.FanOut, s.st.Realtime.FanOutOnFailure, "LATEST",
				stack.FanOutBatchSize, stack.FanOutRetryAttempts, stack.FanOutMaxRecordAge},
		}
		if len(fooddelivery.App.Topology().StreamTables()) == 0 {
			t.Fatal("the app declares no stream table")
		}
		for _, table := range fooddelivery.App.Topology().StreamTables() {
			mappings := s.streamMappings(table)
			// DynamoDB serves two readers per shard: the router and the fan-out.
			if len(mappings) != 2 {
				t.Errorf("%s: %d stream readers, want exactly 2", table, len(mappings))
			}
			for _, rd := range readers {
				var found []resource
				for _, m := range mappings {
					if reflect.DeepEqual(m.Properties["FunctionName"], ref(s.id(rd.fn))) {
						found = append(found, m)
					}
				}
				if len(found) != 1 {
					t.Errorf("%s: %d mappings to %s, want 1", table, len(found), rd.name)
					continue
				}
				p := found[0].Properties
				want := map[string]any{
					"FunctionResponseTypes":      []any{"ReportBatchItemFailures"},
					"BisectBatchOnFunctionError": true,
					"MaximumRetryAttempts":       rd.retries,
					"MaximumRecordAgeInSeconds":  rd.maxAg,
					"BatchSize":                  rd.batch,
					"StartingPosition":           rd.start,
					"ParallelizationFactor":      float64(1),
					"DestinationConfig": map[string]any{"OnFailure": map[string]any{
						"Destination": getAtt(s.id(rd.onFailure), "Arn"),
					}},
				}
				for k, v := range want {
					if !reflect.DeepEqual(p[k], v) {
						t.Errorf("%s/%s: %s = %s, want %s", table, rd.name, k, jsonString(p[k]), jsonString(v))
					}
				}
			}
		}
		// Tables without streams have no readers.
		for _, tb := range fooddelivery.App.Topology().AllTables() {
			if !tb.Stream && len(s.streamMappings(tb.Name)) > 0 {
				t.Errorf("%s has no stream but has readers", tb.Name)
			}
		}
		// The router puts on the bus, and knows the bus and the source.
		env := s.env(t, s.st.Pipeline.Router)
		if !reflect.DeepEqual(env[topology.EnvEventBus], ref(s.id(s.st.Pipeline.Bus))) {
			t.Errorf("router %s = %v", topology.EnvEventBus, env[topology.EnvEventBus])
		}
		for _, tb := range fooddelivery.App.Topology().StreamTables() {
			if !reflect.DeepEqual(env[topology.TableEnv(tb)], ref(stack.LogicalTableID(tb))) {
				t.Errorf("router %s = %v", topology.TableEnv(tb), env[topology.TableEnv(tb)])
			}
		}
	})
}

func TestQueuesEncryptedAndTLSOnly(t *testing.T) {
	forStages(t, func(t *testing.T, s *synthesized) {
		queues := s.ofType("AWS::SQS::Queue")
		// A route queue and DLQ each (the framework's eventlog route's
		// too), plus the two on-failure queues, the rule targets'
		// dead-letter queue, the realtime function's, and the fan-out's
		// push queue and its DLQ.
		if want := 2*len(fooddelivery.App.Topology().RoutesWithDefaults()) + 6; len(queues) != want {
			t.Errorf("%d queues, want %d", len(queues), want)
		}
		tlsOnly := map[string]bool{}
		for _, pol := range s.ofType("AWS::SQS::QueuePolicy") {
			for _, st := range asList(path(pol.Properties, "PolicyDocument", "Statement")) {
				if path(st, "Effect") == "Deny" && path(st, "Condition", "Bool", "aws:SecureTransport") == "false" {
					for _, q := range asList(pol.Properties["Queues"]) {
						tlsOnly[jsonString(q)] = true
					}
				}
			}
		}
		for id, q := range queues {
			if q.Properties["SqsManagedSseEnabled"] != true {
				t.Errorf("%s not encrypted: %v", id, q.Properties)
			}
			if !tlsOnly[jsonString(ref(id))] {
				t.Errorf("%s does not deny requests without TLS", id)
			}
		}
		for name, q := range s.st.Pipeline.DeadLetterQueues() {
			r := s.res(t, q, "AWS::SQS::Queue")
			if r.Properties["MessageRetentionPeriod"] != float64(14*24*3600) {
				t.Errorf("%s retention %v, want 14 days", name, r.Properties["MessageRetentionPeriod"])
			}
		}
	})
}

func TestRoutes(t *testing.T) {
	forStages(t, func(t *testing.T, s *synthesized) {
		topo := fooddelivery.App.Topology()
		routes := topo.RoutesWithDefaults()
		if got, want := len(s.ofType("AWS::Events::Rule")), len(routes); got != want {
			t.Errorf("%d rules, want one per route (%d)", got, want)
		}
		if len(s.st.Pipeline.Routes) != len(routes) || s.st.Pipeline.Routes[len(routes)-1].Function != s.st.Pipeline.EventLog {
			t.Fatalf("%d pipeline routes, want %d, the framework's eventlog route to its function last", len(s.st.Pipeline.Routes), len(routes))
		}
		for _, pr := range s.st.Pipeline.Routes {
			r := pr.Route
			t.Run(r.Name, func(t *testing.T) {
				want, _ := topo.Route(r.Name)
				if !reflect.DeepEqual(r, want) {
					t.Fatalf("pipeline route %+v, topology says %+v", r, want)
				}
				fnDecl, _ := topo.Function(r.Function)

				rule := s.res(t, pr.Rule, "AWS::Events::Rule").Properties
				if !reflect.DeepEqual(rule["EventBusName"], ref(s.id(s.st.Pipeline.Bus))) {
					t.Errorf("rule on bus %v", rule["EventBusName"])
				}
				if got, want := canonical(t, rule["EventPattern"]), canonical(t, topo.EventPattern(r)); got != want {
					t.Errorf("pattern\n got %s\nwant %s", got, want)
				}
				targets := asList(rule["Targets"])
				if len(targets) != 1 {
					t.Fatalf("%d targets, want 1", len(targets))
				}
				tg := targets[0]
				if !reflect.DeepEqual(path(tg, "Arn"), getAtt(s.id(pr.Queue), "Arn")) {
					t.Errorf("target %v, want the route queue", path(tg, "Arn"))
				}
				if !reflect.DeepEqual(path(tg, "DeadLetterConfig", "Arn"), getAtt(s.id(s.st.Pipeline.Undeliverable), "Arn")) {
					t.Errorf("target dead-letter config %v", path(tg, "DeadLetterConfig"))
				}

				// Only this rule may send to the route queue; every rule may
				// send what it cannot deliver to the undeliverable queue.
				for _, qc := range []awssqs.Queue{pr.Queue, s.st.Pipeline.Undeliverable} {
					if !s.allowsRule(qc, s.id(pr.Rule)) {
						t.Errorf("%s: the policy does not let the rule send", s.id(qc))
					}
				}

				q := s.res(t, pr.Queue, "AWS::SQS::Queue").Properties
				wantRedrive := map[string]any{
					"deadLetterTargetArn": getAtt(s.id(pr.DLQ), "Arn"),
					"maxReceiveCount":     float64(r.MaxReceiveCount),
				}
				if !reflect.DeepEqual(q["RedrivePolicy"], wantRedrive) {
					t.Errorf("RedrivePolicy %s, want %s", jsonString(q["RedrivePolicy"]), jsonString(wantRedrive))
				}
				vis, _ := q["VisibilityTimeout"].(float64)
				if vis != r.VisibilityTimeout.Seconds() {
					t.Errorf("VisibilityTimeout %v, want %v", vis, r.VisibilityTimeout.Seconds())
				}
				fn := s.res(t, pr.Function, "AWS::Lambda::Function").Properties
				if timeout, _ := fn["Timeout"].(float64); timeout != fnDecl.Timeout.Seconds() || vis < 6*timeout {
					t.Errorf("function timeout %v (declared %v), queue visibility %v: want visibility >= 6x timeout", timeout, fnDecl.Timeout, vis)
				}

				var esm []resource
				for _, m := range s.ofType("AWS::Lambda::EventSourceMapping") {
					if reflect.DeepEqual(m.Properties["EventSourceArn"], getAtt(s.id(pr.Queue), "Arn")) {
						esm = append(esm, m)
					}
				}
				if len(esm) != 1 {
					t.Fatalf("%d mappings read the route queue, want 1", len(esm))
				}
				m := esm[0].Properties
				if !reflect.DeepEqual(m["FunctionName"], ref(s.id(pr.Function))) {
					t.Errorf("queue read by %v, want %s", m["FunctionName"], r.Function)
				}
				if !reflect.DeepEqual(m["FunctionResponseTypes"], []any{"ReportBatchItemFailures"}) {
					t.Errorf("FunctionResponseTypes %v", m["FunctionResponseTypes"])
				}
				if m["BatchSize"] != float64(r.BatchSize) {
					t.Errorf("BatchSize %v, want %d", m["BatchSize"], r.BatchSize)
				}

				env := s.env(t, pr.Function)
				if v := env[topology.RouteQueueARNEnv(r.Name)]; !reflect.DeepEqual(v, getAtt(s.id(pr.Queue), "Arn")) {
					t.Errorf("%s = %v, want the route queue's ARN", topology.RouteQueueARNEnv(r.Name), v)
				}
				if v := env[topology.RouteDLQURLEnv(r.Name)]; !reflect.DeepEqual(v, ref(s.id(pr.DLQ))) {
					t.Errorf("%s = %v, want the DLQ's URL", topology.RouteDLQURLEnv(r.Name), v)
				}
				tables := fnDecl.Tables
				if !r.IsFrameworkRoute() {
					tables = append(tables, topology.IdempotencyTable)
				}
				// Every function records in the event log, with its
				// retention (30 days unless the context says otherwise).
				tables = append(tables, topology.EventLogTable)
				if env[eventlog.EnvRetention] != "720h0m0s" {
					t.Errorf("%s = %v", eventlog.EnvRetention, env[eventlog.EnvRetention])
				}
				for _, tb := range tables {
					if !reflect.DeepEqual(env[topology.TableEnv(tb)], ref(stack.LogicalTableID(tb))) {
						t.Errorf("%s = %v", topology.TableEnv(tb), env[topology.TableEnv(tb)])
					}
				}
			})
		}
	})
}

// canonical renders a pattern as JSON with sorted keys, so patterns
// compare by meaning rather than by key order.
func canonical(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(x)
	return string(b)
}

func TestArchive(t *testing.T) {
	forStages(t, func(t *testing.T, s *synthesized) {
		a := s.res(t, s.st.Pipeline.Archive, "AWS::Events::Archive").Properties
		if !reflect.DeepEqual(a["SourceArn"], getAtt(s.id(s.st.Pipeline.Bus), "Arn")) {
			t.Errorf("archive of %v, want the bus", a["SourceArn"])
		}
		if got := canonical(t, a["EventPattern"]); got != canonical(t, map[string]any{"source": []any{fooddelivery.App.Topology().EventSource()}}) {
			t.Errorf("archive pattern %s", got)
		}
		want := 30.0
		if s.stage == stack.Prod {
			want = 365
		}
		if a["RetentionDays"] != want {
			t.Errorf("RetentionDays %v, want %v", a["RetentionDays"], want)
		}
	})
}

// env is a function's environment.
func (s *synthesized) env(t *testing.T, fn awslambda.Function) map[string]any {
	t.Helper()
	r := s.res(t, fn, "AWS::Lambda::Function")
	env, _ := path(r.Properties, "Environment", "Variables").(map[string]any)
	return env
}

func TestFunctions(t *testing.T) {
	forStages(t, func(t *testing.T, s *synthesized) {
		fns := s.ofType("AWS::Lambda::Function")
		if got, want := len(fns), len(fooddelivery.App.Lambdas()); got != want {
			t.Errorf("%d functions, want %d", got, want)
		}
		logGroups := s.ofType("AWS::Logs::LogGroup")
		wantRetention := 7.0
		if s.stage == stack.Prod {
			wantRetention = 180
		}
		codes := map[string]string{}
		for id, f := range fns {
			p := f.Properties
			checks := map[string]any{
				"Runtime":       "provided.al2023",
				"Architectures": []any{"arm64"},
				"Handler":       "bootstrap",
				"TracingConfig": map[string]any{"Mode": "Active"},
			}
			for k, v := range checks {
				if !reflect.DeepEqual(p[k], v) {
					t.Errorf("%s: %s = %v, want %v", id, k, p[k], v)
				}
			}
			if m, _ := p["MemorySize"].(float64); m < 128 {
				t.Errorf("%s: MemorySize %v not set", id, p["MemorySize"])
			}
			if to, _ := p["Timeout"].(float64); to <= 3 {
				t.Errorf("%s: Timeout %v left at the default", id, p["Timeout"])
			}
			lg := path(p, "LoggingConfig", "LogGroup", "Ref")
			g, ok := logGroups[jsonString(lg)[1:len(jsonString(lg))-1]]
			if !ok {
				t.Errorf("%s: no log group of its own: %v", id, p["LoggingConfig"])
			} else if g.Properties["RetentionInDays"] != wantRetention {
				t.Errorf("%s: log retention %v, want %v", id, g.Properties["RetentionInDays"], wantRetention)
			}
			env, _ := path(p, "Environment", "Variables").(map[string]any)
			if env[topology.EnvStage] != string(s.stage) || env[stack.EnvLogLevel] != s.stage.LogLevel() {
				t.Errorf("%s: STAGE %v LOG_LEVEL %v", id, env[topology.EnvStage], env[stack.EnvLogLevel])
			}
			key := jsonString(path(p, "Code", "S3Key"))
			if other, dup := codes[key]; dup {
				t.Errorf("%s and %s deploy the same code", id, other)
			}
			codes[key] = id
		}
		for _, g := range logGroups {
			if g.Properties["RetentionInDays"] != wantRetention {
				t.Errorf("log group retention %v, want %v", g.Properties["RetentionInDays"], wantRetention)
			}
			wantPolicy := "Delete"
			if s.stage == stack.Prod {
				wantPolicy = "Retain"
			}
			if g.DeletionPolicy != wantPolicy {
				t.Errorf("log group DeletionPolicy %q, want %q", g.DeletionPolicy, wantPolicy)
			}
		}
		// The GraphQL functions allow introspection when STAGE is dev only.
		for _, fn := range []awslambda.Function{s.st.HTTP.Function, s.st.Realtime.Function} {
			if got := s.env(t, fn)[topology.EnvStage]; (got == "dev") != s.stage.Introspection() {
				t.Errorf("%s = %v: introspection would be %v", topology.EnvStage, got, !s.stage.Introspection())
			}
		}
	})
}

func TestHttpApi(t *testing.T) {
	forStages(t, func(t *testing.T, s *synthesized) {
		h := s.st.HTTP
		api := s.res(t, h.Api, "AWS::ApiGatewayV2::Api").Properties
		if api["ProtocolType"] != "HTTP" {
			t.Errorf("ProtocolType %v", api["ProtocolType"])
		}
		cors := api["CorsConfiguration"]
		wantOrigins := []any{"*"}
		if s.stage == stack.Prod {
			wantOrigins = nil
			for _, o := range prodOrigins {
				wantOrigins = append(wantOrigins, o)
			}
		}
		if !reflect.DeepEqual(path(cors, "AllowOrigins"), wantOrigins) {
			t.Errorf("CORS origins %v, want %v", path(cors, "AllowOrigins"), wantOrigins)
		}
		for _, m := range []string{"GET", "POST", "OPTIONS"} {
			if !contains(asList(path(cors, "AllowMethods")), m) {
				t.Errorf("CORS methods %v lack %s", path(cors, "AllowMethods"), m)
			}
		}
		for _, hdr := range []string{"content-type", "authorization"} {
			if !contains(asList(path(cors, "AllowHeaders")), hdr) {
				t.Errorf("CORS headers %v lack %s", path(cors, "AllowHeaders"), hdr)
			}
		}
		if path(cors, "AllowCredentials") == true {
			t.Error("CORS allows credentials; the API takes bearer tokens, never cookies")
		}
		routes := s.routesOf(h.Api)
		want := []string{"GET /graphql", "POST /graphql"}
		if s.stage == stack.Dev {
			want = []string{"GET /graphiql", "GET /graphql", "POST /graphql"}
		}
		if !reflect.DeepEqual(sortedKeys(routes), want) {
			t.Errorf("routes %v, want %v", sortedKeys(routes), want)
		}
		for key, target := range routes {
			if !reflect.DeepEqual(s.integrationURI(target), getAtt(s.id(h.Function), "Arn")) {
				t.Errorf("%s integrates %v, want the graphql function", key, s.integrationURI(target))
			}
		}
		s.checkInvokePermission(t, h.Function, h.Api)
		// The dev stage's GraphiQL page subscribes over the WebSocket API.
		ws, set := s.env(t, h.Function)[topology.EnvGraphiQLSubscriptionsURL]
		if set != (s.stage == stack.Dev) || (set && !strings.Contains(jsonString(ws), s.id(s.st.Realtime.Api))) {
			t.Errorf("%s = %s on %s, want the WebSocket API's URL on dev only", topology.EnvGraphiQLSubscriptionsURL, jsonString(ws), s.stage)
		}

		st := s.res(t, h.Stage, "AWS::ApiGatewayV2::Stage").Properties
		if st["StageName"] != "$default" || st["AutoDeploy"] != true {
			t.Errorf("stage %v autodeploy %v", st["StageName"], st["AutoDeploy"])
		}
		s.checkStage(t, st, h.AccessLogs, "httpMethod")
		out := jsonString(s.outputs[stack.OutputGraphQLURL])
		if !strings.Contains(out, `"https://"`) || !strings.Contains(out, `/graphql"`) || !strings.Contains(out, s.id(h.Api)) {
			t.Errorf("GraphQL URL output %s", out)
		}
	})
}

func TestRealtime(t *testing.T) {
	forStages(t, func(t *testing.T, s *synthesized) {
		r := s.st.Realtime
		api := s.res(t, r.Api, "AWS::ApiGatewayV2::Api").Properties
		if api["ProtocolType"] != "WEBSOCKET" {
			t.Errorf("ProtocolType %v", api["ProtocolType"])
		}
		routes := s.routesOf(r.Api)
		want := []string{"$connect", "$default", "$disconnect"}
		if !reflect.DeepEqual(sortedKeys(routes), want) {
			t.Errorf("routes %v, want %v", sortedKeys(routes), want)
		}
		for key, target := range routes {
			uri := jsonString(s.integrationURI(target))
			if !strings.Contains(uri, s.id(r.Function)) {
				t.Errorf("%s integrates %s, want the realtime function", key, uri)
			}
		}
		s.checkInvokePermission(t, r.Function, r.Api)

		st := s.res(t, r.Stage, "AWS::ApiGatewayV2::Stage").Properties
		if st["StageName"] != string(s.stage) || st["AutoDeploy"] != true {
			t.Errorf("stage %v autodeploy %v", st["StageName"], st["AutoDeploy"])
		}
		s.checkStage(t, st, r.AccessLogs, "connectionId")
		if len(s.ofType("AWS::ApiGateway::Account")) != 1 {
			t.Errorf("no API Gateway account logging role; WebSocket access logs need one")
		}

		// The functions that post may manage this API's stage connections, nothing else.
		for _, fn := range []awslambda.Function{r.Function, r.FanOut, r.PushWorker} {
			env := s.env(t, fn)
			if !strings.Contains(jsonString(env[topology.EnvManagementEndpoint]), `"https://"`) ||
				!strings.Contains(jsonString(env[topology.EnvManagementEndpoint]), s.id(r.Api)) {
				t.Errorf("%s = %s", topology.EnvManagementEndpoint, jsonString(env[topology.EnvManagementEndpoint]))
			}
			var grants []string
			for _, st := range s.statementsOf(t, fn) {
				if contains(actions(st), "execute-api:ManageConnections") {
					grants = append(grants, jsonString(path(st, "Resource")))
				}
			}
			if len(grants) != 1 || !strings.Contains(grants[0], s.id(r.Api)) ||
				!strings.HasSuffix(grants[0], `"/`+string(s.stage)+`/*/@connections/*"]]}`) {
				t.Errorf("ManageConnections grants %v, want one on this API's %s stage @connections", grants, s.stage)
			}
		}
		out := jsonString(s.outputs[stack.OutputWebSocketURL])
		if !strings.Contains(out, `"wss://"`) || !strings.Contains(out, s.id(r.Api)) {
			t.Errorf("WebSocket URL output %s", out)
		}
	})
}

// The event log is fed by the framework's eventlog route like any
// function, retained for the stage's retention, and found by the
// threefactor CLI through the stack's outputs.
func TestEventLogFeed(t *testing.T) {
	forStages(t, func(t *testing.T, s *synthesized) {
		topo := fooddelivery.App.Topology()
		fn := s.res(t, s.st.Pipeline.EventLog, "AWS::Lambda::Function").Properties
		if fn["Description"] != "Writes every change event to the event log" {
			t.Errorf("eventlog function %v", fn["Description"])
		}
		env := s.env(t, s.st.Pipeline.EventLog)
		if !reflect.DeepEqual(env[topology.TableEnv(topology.EventLogTable)], ref(stack.LogicalTableID(topology.EventLogTable))) || env[eventlog.EnvRetention] != "720h0m0s" {
			t.Errorf("eventlog function env %v", env)
		}
		// The fan-out records pushes with the same retention.
		if fo := s.env(t, s.st.Realtime.FanOut); fo[eventlog.EnvRetention] != "720h0m0s" || fo[topology.TableEnv(topology.EventLogTable)] == nil {
			t.Errorf("fan-out env %v", fo)
		}
		if tb := s.resources[stack.LogicalTableID(topology.EventLogTable)].Properties; path(tb, "TimeToLiveSpecification", "AttributeName") != "expiresAt" {
			t.Errorf("eventlog table TTL %v", tb["TimeToLiveSpecification"])
		}
		want := map[string]any{topology.OutputEventLogTable: ref(stack.LogicalTableID(topology.EventLogTable))}
		for _, tb := range topo.Tables {
			want[topology.TableOutput(tb.Name)] = ref(stack.LogicalTableID(tb.Name))
		}
		for _, pr := range s.st.Pipeline.Routes {
			want[topology.QueueOutput(pr.Route.Name)] = ref(s.id(pr.Queue))
			want[topology.DLQOutput(pr.Route.Name)] = ref(s.id(pr.DLQ))
		}
		for name, v := range want {
			if got := path(s.outputs[name], "Value"); !reflect.DeepEqual(got, v) {
				t.Errorf("output %s = %v, want %v", name, got, v)
			}
		}
	})
}
