package graphql_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/threefactor/framework/functions/graphql"
)

// Introspection follows STAGE; no AWS call is made for an introspection
// query, so this needs no emulator.
func TestIntrospectionByStage(t *testing.T) {
	tests := []struct {
		stage string
		want  bool
	}{{"dev", true}, {"prod", false}, {"", false}}
	for _, tt := range tests {
		env := map[string]string{"TABLE_ORDERS": "orders", "STAGE": tt.stage}
		h, err := graphql.NewHandler(aws.Config{Region: "us-east-1"}, func(k string) string { return env[k] }, slog.New(slog.DiscardHandler), graphql.Options{})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := h.HandleAPIGateway(context.Background(), events.APIGatewayV2HTTPRequest{
			RawPath: "/graphql",
			Headers: map[string]string{"content-type": "application/json"},
			Body:    `{"query":"{ __type(name: \"Order\") { name } }"}`,
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
		got := body.Data != nil && body.Data.Type != nil && body.Data.Type.Name == "Order"
		if got != tt.want || (!tt.want && !strings.Contains(resp.Body, "INTROSPECTION_DISABLED")) {
			t.Errorf("STAGE=%q: introspection answered %v, want %v: %s", tt.stage, got, tt.want, resp.Body)
		}
	}
}

func TestNeedsOrdersTable(t *testing.T) {
	_, err := graphql.NewHandler(aws.Config{}, func(string) string { return "" }, slog.New(slog.DiscardHandler), graphql.Options{})
	if err == nil || !strings.Contains(err.Error(), "TABLE_ORDERS") {
		t.Fatalf("err = %v, want one naming TABLE_ORDERS", err)
	}
}
