package graphqlhttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/graphqlhttp"
	"github.com/threefactor/framework/lib/identity"
)

type whoResolver struct{}

type whoami struct {
	sub, causedBy, restaurant string
	groups                    []string
}

func (*whoResolver) Whoami(ctx context.Context) *whoami {
	id, ok := identity.From(ctx)
	if !ok {
		return nil
	}
	return &whoami{sub: id.Subject, groups: id.Groups, restaurant: id.Claim("custom:restaurantId"), causedBy: correlation.Subject(ctx)}
}

func (w *whoami) Sub() string        { return w.sub }
func (w *whoami) Groups() []string   { return w.groups }
func (w *whoami) Restaurant() string { return w.restaurant }
func (w *whoami) CausedBy() string   { return w.causedBy }

const whoSDL = `type Query { whoami: Who } type Who { sub: String! groups: [String!]! restaurant: String! causedBy: String! }`

// The claims API Gateway's JWT authorizer verified are the resolvers'
// caller and the subject of the request's log record and writes.
func TestHandleAPIGatewayIdentity(t *testing.T) {
	schema, err := graphqlhttp.ParseSchema(whoSDL, &whoResolver{}, graphqlhttp.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	h, err := graphqlhttp.New(schema, graphqlhttp.Config{
		Claims: identity.Mapping{GroupsClaim: "roles"},
		Logger: slog.New(correlation.WrapHandler(slog.NewJSONHandler(&logs, nil))),
	})
	if err != nil {
		t.Fatal(err)
	}
	req := func(claims map[string]string) events.APIGatewayV2HTTPRequest {
		r := events.APIGatewayV2HTTPRequest{
			RawPath: "/graphql", Headers: map[string]string{"content-type": "application/json"},
			Body: `{"query":"{ whoami { sub groups restaurant causedBy } }"}`,
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				RequestID: "req-1", HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/graphql"},
			},
		}
		if claims != nil {
			r.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
			}
		}
		return r
	}
	resp, _ := h.HandleAPIGateway(context.Background(), req(map[string]string{
		"sub": "alice", "roles": "[restaurant staff]", "custom:restaurantId": "r-pizza", "exp": "1800000000",
	}))
	if want := `{"data":{"whoami":{"sub":"alice","groups":["restaurant","staff"],"restaurant":"r-pizza","causedBy":"alice"}}}`; resp.Body != want {
		t.Fatalf("with claims: %s, want %s", resp.Body, want)
	}
	var rec map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(logs.Bytes()), &rec); err != nil || rec["subject"] != "alice" {
		t.Fatalf("request record %s: want subject alice", logs.Bytes())
	}
	if strings.Contains(logs.String(), "r-pizza") {
		t.Fatalf("claims reached the log: %s", logs.String())
	}
	resp, _ = h.HandleAPIGateway(context.Background(), req(nil))
	if resp.Body != `{"data":{"whoami":null}}` {
		t.Fatalf("without an authorizer: %s", resp.Body)
	}
}
