package lambda

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/threefactor/framework/lib/lambdarun"
	"github.com/threefactor/framework/lib/topology"
)

// A function whose template environment lacks a setting it needs fails at
// start, before its handler runs, with an error naming the variable: what
// Lambda would report as the function's init error.
func TestMissingSettingFailsAtStart(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tests := []struct{ function, variable string }{
		{"router", topology.EnvEventBus},
		{"fanout", topology.TableEnv(topology.ConnectionsTable)},
		{"realtime", topology.EnvManagementEndpoint},
		{"realtime", topology.EnvAuthIssuer},
		{"realtime", topology.EnvExpiryScheduleGroup},
		{"graphql", topology.TableEnv("orders")},
		{"validateorder", topology.TableEnv("restaurants")},
		{"processpayment", topology.TableEnv("charges")},
	}
	for _, tt := range tests {
		t.Run(tt.function+" without "+tt.variable, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			env := clone(e.stack.Functions[tt.function].Env)
			if _, ok := env[tt.variable]; !ok {
				t.Fatalf("the template gives %s no %s", tt.function, tt.variable)
			}
			delete(env, tt.variable)
			f, err := e.start(ctx, tt.function, env)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			err = e.trigger(ctx, f)
			var fe *lambdarun.FunctionError
			if !errors.As(err, &fe) || !fe.Init || !strings.Contains(fe.Message, tt.variable+" is not set") {
				t.Fatalf("invoke = %v; want an init error naming %s", err, tt.variable)
			}
			t.Log(fe)
		})
	}
}

// trigger invokes f with an event of its first trigger: an empty batch for
// a mapping, a $connect for a WebSocket API, GET /graphql for an HTTP API.
func (e *env) trigger(ctx context.Context, f *lambdarun.Function) error {
	sf := e.stack.Functions[f.Name()]
	switch {
	case len(sf.Mappings) > 0 && (sf.Mappings[0].Route != "" || sf.Mappings[0].Push):
		_, err := f.SQS(ctx, events.SQSEvent{})
		return err
	case len(sf.Mappings) > 0:
		_, err := f.DynamoDBStream(ctx, events.DynamoDBEvent{})
		return err
	case len(sf.APIs) > 0 && sf.APIs[0].Protocol == "WEBSOCKET":
		_, err := f.WebSocketAPI(ctx, events.APIGatewayWebsocketProxyRequest{
			RequestContext: events.APIGatewayWebsocketProxyRequestContext{RouteKey: "$connect", EventType: "CONNECT", ConnectionID: "c1"},
		})
		return err
	default:
		_, err := f.HTTPAPI(ctx, events.APIGatewayV2HTTPRequest{RawPath: "/graphql",
			RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: "/graphql"}}})
		return err
	}
}
