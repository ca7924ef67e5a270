package app_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/consumer"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/graphqlhttp"
	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/topology"
)

type note struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

type root struct{}

func (*root) Hello() string { return "hello" }

func (*root) NoteChanged(ctx context.Context, args struct{ ID string }) (<-chan string, error) {
	ch := make(chan string)
	close(ch)
	return ch, nil
}

// notes is a small app: one table, one function, one subscription.
var notes = app.App{
	Name: "notes",
	Tables: []topology.Table{
		{Name: "notes", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true},
	},
	Functions: []app.Function{{
		Function: topology.Function{Name: "index", Tables: []string{"notes"}},
		Handler: app.Handle(func(_ context.Context, env *app.Env) (consumer.Handler[note], error) {
			if _, err := env.Table("notes"); err != nil {
				return nil, err
			}
			return func(context.Context, change.Change[note]) error { return nil }, nil
		}),
	}},
	Routes: []topology.Route{{Name: "index-notes", Function: "index", Match: topology.Match{Table: "notes"}}},
	GraphQL: app.GraphQL{
		SDL: `schema { query: Query subscription: Subscription }
type Query { hello: String! }
type Subscription { noteChanged(id: String!): String! }`,
		Resolver: func(context.Context, *app.Env) (any, error) { return &root{}, nil },
		Topics: realtime.Topics{
			Subscription: func(field string, args map[string]any) (string, error) { return "note:" + args["id"].(string), nil },
			Change:       func(e change.Event) []string { return []string{"note:" + string(e.Keys)} },
		},
	},
}

func TestValidate(t *testing.T) {
	if err := notes.Validate(); err != nil {
		t.Fatalf("valid app: %v", err)
	}
	bad := notes
	bad.Functions = []app.Function{{Function: topology.Function{Name: "router"}}}
	bad.Routes = nil
	bad.GraphQL.Topics = realtime.Topics{}
	err := bad.Validate()
	for _, want := range []string{`function "router" has no handler`, `"router": the name belongs to a framework function`, "Topics.Subscription"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want it to say %s", err, want)
		}
	}
}

// GraphiQL's ready tabs are held to the schema: a tab that opens with an
// operation the API refuses would teach the wrong thing.
func TestValidateExamples(t *testing.T) {
	good := notes
	good.GraphQL.Examples = []graphqlhttp.GraphiQLTab{
		{Query: "query Hello { hello }"},
		{Query: "subscription Watch($id: String!) { noteChanged(id: $id) }", Variables: `{"id": "n1"}`},
	}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid examples: %v", err)
	}
	bad := notes
	bad.GraphQL.Examples = []graphqlhttp.GraphiQLTab{
		{Query: "query Hello { hello }"},
		{Query: "query { goodbye }"},
		{Query: "subscription Watch($id: String!) { noteChanged(id: $id) }", Variables: `{"other": "n1"}`},
		{Query: "{ hello }", Variables: "[]"},
	}
	err := bad.Validate()
	for _, want := range []string{`example 2: Cannot query field "goodbye"`, "example 3: Variable \"id\" has invalid value null", "tab 4: variables are not a JSON object"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want it to say %s", err, want)
		}
	}
}

func TestLambdas(t *testing.T) {
	got := strings.Join(notes.Lambdas(), ",")
	if got != "eventlog,fanout,graphql,index,pushworker,realtime,router" {
		t.Errorf("Lambdas = %s", got)
	}
}

func env(vars map[string]string) *app.Env {
	return app.NewEnv(aws.Config{Region: "us-east-1"}, app.MapEnv(vars), slog.New(slog.DiscardHandler))
}

// Each builder fails at start naming every variable its component needs
// and does not find.
func TestBuildersNameMissingVariables(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		build func(*app.Env) error
		want  []string
	}{
		{"function", func(e *app.Env) error { _, err := app.NewConsumer(ctx, notes, "index", e); return err }, []string{"TABLE_NOTES is not set"}},
		{"router", func(e *app.Env) error { _, err := app.NewRouter(ctx, notes, e); return err }, []string{"EVENT_BUS_NAME is not set", "TABLE_NOTES is not set"}},
		{"realtime", func(e *app.Env) error { _, err := app.NewRealtime(ctx, notes, e, app.RealtimeOptions{}); return err }, []string{
			"TABLE_CONNECTIONS is not set", "TABLE_SUBSCRIPTIONS is not set", "AUTH_ISSUER is not set", "AUTH_AUDIENCE is not set",
			"EXPIRY_SCHEDULE_GROUP is not set", "EXPIRY_SCHEDULER_ROLE_ARN is not set",
		}},
		{"fanout", func(e *app.Env) error { _, err := app.NewFanout(ctx, notes, e, nil); return err }, []string{"TABLE_CONNECTIONS is not set", "PUSH_QUEUE_URL is not set", "TABLE_EVENTLOG is not set"}},
		{"pushworker", func(e *app.Env) error { _, err := app.NewPushWorker(ctx, notes, e, nil); return err }, []string{"TABLE_CONNECTIONS is not set", "WS_MANAGEMENT_ENDPOINT is not set", "TABLE_EVENTLOG is not set"}},
		{"eventlog", func(e *app.Env) error { _, err := app.NewEventLogFeed(ctx, notes, e); return err }, []string{"TABLE_EVENTLOG is not set"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.build(env(nil))
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v; want it to say %s", err, w)
				}
			}
		})
	}
	t.Run("eventlog retention", func(t *testing.T) {
		_, err := app.NewEventLogFeed(ctx, notes, env(map[string]string{"TABLE_EVENTLOG": "l", "EVENTLOG_RETENTION": "a while"}))
		if err == nil || !strings.Contains(err.Error(), "EVENTLOG_RETENTION") {
			t.Errorf("err = %v", err)
		}
		off := notes
		off.DisableEventLog = true
		if _, err := app.NewEventLogFeed(ctx, off, env(map[string]string{"TABLE_EVENTLOG": "l"})); err == nil || !strings.Contains(err.Error(), "disabled") {
			t.Errorf("an app without a log built its feed: %v", err)
		}
	})
	t.Run("push queue threshold", func(t *testing.T) {
		for _, v := range []string{"0", "-3", "many"} {
			_, err := app.NewFanout(ctx, notes, env(map[string]string{topology.EnvPushQueueThreshold: v}), nil)
			if err == nil || !strings.Contains(err.Error(), topology.EnvPushQueueThreshold+`="`+v+`": want a positive number`) {
				t.Errorf("%s=%s: err = %v", topology.EnvPushQueueThreshold, v, err)
			}
		}
	})
	t.Run("management endpoint", func(t *testing.T) {
		_, err := app.NewRealtime(ctx, notes, env(map[string]string{"TABLE_CONNECTIONS": "c", "TABLE_SUBSCRIPTIONS": "s"}), app.RealtimeOptions{InProcessExpiry: true})
		if err == nil || !strings.Contains(err.Error(), topology.EnvManagementEndpoint) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("realtime with every variable set", func(t *testing.T) {
		_, err := app.NewRealtime(ctx, notes, env(map[string]string{
			"TABLE_CONNECTIONS": "c", "TABLE_SUBSCRIPTIONS": "s", "TABLE_EVENTLOG": "l", topology.EnvManagementEndpoint: "https://abc.execute-api.us-east-1.amazonaws.com/prod",
			topology.EnvAuthIssuer: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc", topology.EnvAuthAudience: "client",
			topology.EnvExpiryScheduleGroup: "g", topology.EnvExpirySchedulerRoleARN: "arn:aws:iam::123456789012:role/r",
		}), app.RealtimeOptions{})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unknown function", func(t *testing.T) {
		if _, err := app.NewConsumer(ctx, notes, "nope", env(nil)); err == nil || !strings.Contains(err.Error(), `no function "nope"`) {
			t.Errorf("err = %v", err)
		}
	})
}

// Introspection follows STAGE: answered on dev only. No AWS call is made.
func TestGraphQLIntrospectionByStage(t *testing.T) {
	for _, tt := range []struct {
		stage string
		want  bool
	}{{"dev", true}, {"prod", false}, {"", false}} {
		h, err := app.NewGraphQL(context.Background(), notes, env(map[string]string{topology.EnvStage: tt.stage}))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := h.HandleAPIGateway(context.Background(), events.APIGatewayV2HTTPRequest{
			RawPath: "/graphql",
			Headers: map[string]string{"content-type": "application/json"},
			Body:    `{"query":"{ __type(name: \"Query\") { name } }"}`,
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/graphql"},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Data *struct {
				Type *struct{ Name string } `json:"__type"`
			}
		}
		_ = json.Unmarshal([]byte(resp.Body), &body)
		got := body.Data != nil && body.Data.Type != nil && body.Data.Type.Name == "Query"
		if got != tt.want || (!tt.want && !strings.Contains(resp.Body, "INTROSPECTION_DISABLED")) {
			t.Errorf("STAGE=%q: introspection answered %v, want %v: %s", tt.stage, got, tt.want, resp.Body)
		}
	}
}

// A change whose images do not decode into the handler's type fails
// permanently: no retry can fix it.
func TestHandleDecodeFailureIsPermanent(t *testing.T) {
	h, err := notes.Functions[0].Handler(context.Background(), env(map[string]string{"TABLE_NOTES": "n"}))
	if err != nil {
		t.Fatal(err)
	}
	err = h(context.Background(), change.Event{ID: "e1", Table: "notes", New: json.RawMessage(`{"id": 7}`)})
	if !errs.IsPermanent(err) {
		t.Fatalf("err = %v, want a permanent error", err)
	}
	if err := h(context.Background(), change.Event{ID: "e2", Table: "notes", New: json.RawMessage(`{"id":"n1"}`)}); err != nil {
		t.Fatalf("good change: %v", err)
	}
}

// The graphql function serves the GraphiQL page at topology.GraphiQLPath
// on the dev stage only; the API is at topology.GraphQLPath on both.
func TestGraphQLFunctionGraphiQL(t *testing.T) {
	req := func(path string) events.APIGatewayV2HTTPRequest {
		return events.APIGatewayV2HTTPRequest{
			RawPath: path, Headers: map[string]string{"accept": "text/html"},
			RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: path}},
		}
	}
	for _, stage := range []string{"dev", "prod"} {
		fn, err := app.NewGraphQLFunction(context.Background(), notes, env(map[string]string{topology.EnvStage: stage}), app.GraphiQLOptions{})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := fn(context.Background(), req(topology.GraphiQLPath))
		if err != nil {
			t.Fatal(err)
		}
		page := resp.StatusCode == 200 && strings.HasPrefix(resp.Headers["Content-Type"], "text/html") && strings.Contains(resp.Body, `"endpoint":"/graphql"`)
		if page != (stage == "dev") {
			t.Errorf("STAGE=%s: GET %s = %d %s %.80s; page served: %v", stage, topology.GraphiQLPath, resp.StatusCode, resp.Headers["Content-Type"], resp.Body, page)
		}
		resp, _ = fn(context.Background(), req(topology.GraphQLPath))
		if strings.HasPrefix(resp.Headers["Content-Type"], "text/html") {
			t.Errorf("STAGE=%s: GET %s served a page", stage, topology.GraphQLPath)
		}
	}
}

func TestUsersValidate(t *testing.T) {
	good := notes
	good.Users = app.Users{Groups: []string{"restaurant", "courier"}, AdminOnlyAttributes: []string{"restaurantId", "zone_2"}}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid users: %v", err)
	}
	bad := notes
	bad.Users = app.Users{
		Groups:              []string{"", "two words", strings.Repeat("g", 129), "staff", "staff"},
		AdminOnlyAttributes: []string{"custom:restaurantId", "1st", strings.Repeat("a", 21), "zone", "zone"},
	}
	err := bad.Validate()
	for _, want := range []string{
		`user group ""`, `user group "two words"`, `user group "ggg`, `user group "staff" is listed twice`,
		`user attribute "custom:restaurantId"`, `user attribute "1st"`, `user attribute "aaa`, `user attribute "zone" is listed twice`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want it to say %s", err, want)
		}
	}
	if got := app.AttributeClaim("restaurantId"); got != "custom:restaurantId" {
		t.Errorf("AttributeClaim = %q", got)
	}
}
