package graphqlhttp_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/threefactor/framework/lib/graphqlhttp"
)

// TestRequestLog: one record per request, with the ids, operation, status
// and error count, and never the variables or the Authorization header.
func TestRequestLog(t *testing.T) {
	fx := newFixture(t, "prod")
	const token = "Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2Vu.sig"
	const variable = "4111-1111-1111-1111"
	off := len(fx.log.String())
	req := post(`query Greet($n: String) { hello(name: $n) fail(code: "NOT_FOUND") }`, map[string]any{"n": variable}, "Greet",
		"Authorization", token, "X-Correlation-Id", "flow-1")
	res := viaHTTP(t, fx, req)
	if res.status != http.StatusOK {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	recs := fx.log.records(t, off)
	var got []map[string]any
	for _, r := range recs {
		if r["msg"] == "graphql request" {
			got = append(got, r)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d request records, want 1: %v", len(got), recs)
	}
	rec := got[0]
	want := map[string]any{
		"requestId":     res.header.Get("X-Request-Id"),
		"correlationId": "flow-1",
		"method":        "POST",
		"operationName": "Greet",
		"operationType": "query",
		"status":        float64(200),
		"errors":        float64(1),
		"level":         "INFO",
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("record %s = %v, want %v", k, rec[k], v)
		}
	}
	if d, ok := rec["durationMs"].(float64); !ok || d < 0 {
		t.Errorf("durationMs = %v", rec["durationMs"])
	}
	logged := fx.log.String()[off:]
	for _, secret := range []string{variable, "eyJhbGciOiJIUzI1NiJ9", "Authorization"} {
		if strings.Contains(logged, secret) {
			t.Errorf("the log holds %q:\n%s", secret, logged)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  graphqlhttp.Config
		want string // part of the error; "" for none
	}{
		{name: "zero value", cfg: graphqlhttp.Config{}},
		{name: "dev", cfg: graphqlhttp.Config{Limits: graphqlhttp.Limits{AllowIntrospection: true}, AllowGET: true}},
		{name: "limits off", cfg: graphqlhttp.Config{Limits: graphqlhttp.Limits{MaxDepth: -1, MaxQueryLength: -1, OverlapValidationLimit: -1}, Timeout: -1}},
		{name: "negative body", cfg: graphqlhttp.Config{MaxBodyBytes: -1}, want: "MaxBodyBytes"},
		{name: "negative parallelism", cfg: graphqlhttp.Config{Limits: graphqlhttp.Limits{MaxParallelism: -1}}, want: "MaxParallelism"},
		{name: "negative selections", cfg: graphqlhttp.Config{Limits: graphqlhttp.Limits{MaxSelections: -2}}, want: "MaxSelections"},
		{name: "query longer than body", cfg: graphqlhttp.Config{MaxBodyBytes: 100}, want: "exceeds MaxBodyBytes"},
		{name: "timeout", cfg: graphqlhttp.Config{Timeout: 2 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v, want an error about %s", err, tt.want)
			}
			schema, perr := graphqlhttp.ParseSchema(testSDL, &resolver{}, tt.cfg.Limits)
			if perr != nil {
				if tt.cfg.Limits.Validate() == nil {
					t.Fatalf("ParseSchema: %v", perr)
				}
				return
			}
			if _, nerr := graphqlhttp.New(schema, tt.cfg); (nerr != nil) != (err != nil) {
				t.Errorf("New() = %v, Validate() = %v: they must agree", nerr, err)
			}
		})
	}
}

func TestNewNilSchema(t *testing.T) {
	if _, err := graphqlhttp.New(nil, graphqlhttp.Config{}); err == nil {
		t.Error("New(nil) succeeded")
	}
}

// TestHandlerPanic: a panic outside the resolvers (here in the Context
// hook) is a 500 with a GraphQL error, on both transports, never a crash
// of the Lambda or a stack in the body.
func TestHandlerPanic(t *testing.T) {
	fx := newFixtureWith(t, graphqlhttp.Config{
		Context: func(ctx context.Context, r *http.Request) context.Context { panic("hook broke: " + secret) },
	})
	for name, do := range map[string]transport{"http": viaHTTP, "apigateway": viaAPIGateway(false)} {
		t.Run(name, func(t *testing.T) {
			off := len(fx.log.String())
			res := do(t, fx, post("{ hello }", nil, ""))
			checkResponse(t, tcase{status: 500, ctype: typeJSON, codes: []string{"INTERNAL_SERVER_ERROR"}}, res)
			if strings.Contains(string(res.body), "hook broke") || strings.Contains(string(res.body), "goroutine") {
				t.Errorf("body leaks the panic: %s", res.body)
			}
			var logged bool
			for _, rec := range fx.log.records(t, off) {
				if rec["msg"] == "graphql handler panic" && strings.Contains(rec["stack"].(string), "log_test.go") &&
					rec["requestId"] == res.header.Get("X-Request-Id") {
					logged = true
				}
			}
			if !logged {
				t.Errorf("no panic record with the stack:\n%s", fx.log.String()[off:])
			}
		})
	}
}
