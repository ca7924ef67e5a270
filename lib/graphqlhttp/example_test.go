package graphqlhttp_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	graphql "github.com/graph-gophers/graphql-go"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/graphqlhttp"
)

const orderSDL = `
type Query { order(id: ID!): Order }
type Order { id: ID! status: String! }
`

type orders struct{}

func (*orders) Order(args struct{ ID graphql.ID }) (*order, error) {
	if args.ID != "o1" {
		return nil, errs.Newf(errs.NotFound, "no order %s", args.ID)
	}
	return &order{id: "o1", status: "PLACED"}, nil
}

type order struct{ id, status string }

func (o *order) ID() graphql.ID { return graphql.ID(o.id) }
func (o *order) Status() string { return o.status }

// quiet keeps the examples' output to what they print.
var quiet = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

func Example() {
	limits := graphqlhttp.Limits{AllowIntrospection: false} // production
	schema, err := graphqlhttp.ParseSchema(orderSDL, &orders{}, limits)
	if err != nil {
		panic(err)
	}
	h, err := graphqlhttp.New(schema, graphqlhttp.Config{Limits: limits, Logger: quiet})
	if err != nil {
		panic(err)
	}
	// http.Handle("/graphql", h) in a server; a recorder here.
	for _, id := range []string{"o1", "o2"} {
		body := `{"query":"query($id: ID!) { order(id: $id) { id status } }","variables":{"id":"` + id + `"}}`
		req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/graphql-response+json, application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
		fmt.Println(rec.Body)
	}
	// Output:
	// 200 application/graphql-response+json; charset=utf-8
	// {"data":{"order":{"id":"o1","status":"PLACED"}}}
	// 200 application/graphql-response+json; charset=utf-8
	// {"errors":[{"message":"no order o2","path":["order"],"extensions":{"code":"NOT_FOUND"}}],"data":{"order":null}}
}

func ExampleHandler_HandleAPIGateway() {
	schema, err := graphqlhttp.ParseSchema(orderSDL, &orders{}, graphqlhttp.Limits{})
	if err != nil {
		panic(err)
	}
	h, err := graphqlhttp.New(schema, graphqlhttp.Config{Logger: quiet})
	if err != nil {
		panic(err)
	}
	// In a Lambda main: lambda.Start(h.HandleAPIGateway).
	res, err := h.HandleAPIGateway(context.Background(), events.APIGatewayV2HTTPRequest{
		RawPath: "/graphql",
		Headers: map[string]string{"content-type": "application/json"},
		Body:    `{"query":"{ order(id: \"o1\") { status } }"}`,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: "JhQ2xgZxIAMEV9Q=",
			HTTP:      events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST"},
		},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.StatusCode, res.Headers["X-Request-Id"], res.Headers["X-Correlation-Id"])
	fmt.Println(res.Body)
	// Output:
	// 200 JhQ2xgZxIAMEV9Q= JhQ2xgZxIAMEV9Q=
	// {"data":{"order":{"status":"PLACED"}}}
}

func ExampleConfig() {
	dev := graphqlhttp.Config{
		Limits:   graphqlhttp.Limits{AllowIntrospection: true},
		AllowGET: true,
	}
	fmt.Println(dev.Validate())
	fmt.Println(graphqlhttp.Config{MaxBodyBytes: 4096}.Validate())
	// Output:
	// <nil>
	// MaxQueryLength 10000 exceeds MaxBodyBytes 4096: no such query could arrive
}
