package graphqlhttp_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/threefactor/framework/lib/benchfig"
	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/graphqlhttp"
)

// cognitoClaims are the claims of a Cognito ID token of a restaurant's
// staff member, as API Gateway's JWT authorizer hands them to the Lambda
// (requestContext.authorizer.jwt.claims).
var cognitoClaims = map[string]string{
	"sub":                 "5f1c2e0a-8b7d-4c11-9a36-2f0e9d6b7c41",
	"iss":                 "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEfGhI",
	"aud":                 "4p1q2r3s4t5u6v7w8x9y0z1a2b",
	"token_use":           "id",
	"auth_time":           "1767225600",
	"iat":                 "1767225600",
	"exp":                 "1767229200",
	"jti":                 "0b7d5f4e-3c2a-4f19-8e6d-7a5b4c3d2e1f",
	"origin_jti":          "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d",
	"event_id":            "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
	"cognito:username":    "pat",
	"cognito:groups":      "[restaurant]",
	"custom:restaurantId": "r-pizza",
	"email":               "pat@example.com",
	"email_verified":      "true",
}

// BenchmarkAuthOverhead serves the same query through HandleAPIGateway
// with the claims the JWT authorizer verified (the caller becomes the
// resolvers' identity and the request's correlation subject) and without
// any, in the same run: auth_overhead_ratio is what reading the caller
// costs a request.
func BenchmarkAuthOverhead(b *testing.B) {
	schema, err := graphqlhttp.ParseSchema(testSDL, &resolver{}, graphqlhttp.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	h, err := graphqlhttp.New(schema, graphqlhttp.Config{
		Logger: slog.New(correlation.WrapHandler(slog.NewJSONHandler(io.Discard, nil))),
	})
	if err != nil {
		b.Fatal(err)
	}
	request := func(claims map[string]string) events.APIGatewayV2HTTPRequest {
		r := events.APIGatewayV2HTTPRequest{
			RawPath: "/graphql", Headers: map[string]string{"content-type": "application/json"},
			Body: benchBody,
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				RequestID: "req-bench", HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/graphql"},
			},
		}
		if claims != nil {
			r.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
			}
		}
		return r
	}
	withID, anonymous := request(cognitoClaims), request(nil)
	ctx := context.Background()
	serveGateway := func(req events.APIGatewayV2HTTPRequest) string {
		resp, _ := h.HandleAPIGateway(ctx, req)
		if resp.StatusCode != 200 {
			b.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
		}
		return resp.Body
	}
	if a, z := serveGateway(withID), serveGateway(anonymous); a != z {
		b.Fatalf("the same query answers differently:\nwith identity %s\nwithout       %s", a, z)
	}
	run := func(req events.APIGatewayV2HTTPRequest, ran *bool) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				serveGateway(req)
			}
			*ran = true
		}
	}
	var withRan, withoutRan bool
	b.Run("without-identity", run(anonymous, &withoutRan))
	b.Run("with-identity", run(withID, &withRan))
	if !withRan || !withoutRan {
		return // -bench selected one side only: no ratio to record
	}
	// Interleaved short batches, which goes first alternating, timed
	// with the process's CPU time rather than the wall clock, so that a
	// shared machine's load stretches neither side; medians discount the
	// batches a garbage collection or a burst hit harder on one side.
	batch := func(req events.APIGatewayV2HTTPRequest) float64 {
		start := benchfig.CPUTime()
		for range overheadBatch {
			serveGateway(req)
		}
		return float64((benchfig.CPUTime() - start).Nanoseconds()) / overheadBatch
	}
	withNs := make([]float64, authBatches)
	withoutNs := make([]float64, authBatches)
	ratios := make([]float64, authBatches)
	for i := range ratios {
		if i%2 == 0 {
			withoutNs[i] = batch(anonymous)
			withNs[i] = batch(withID)
		} else {
			withNs[i] = batch(withID)
			withoutNs[i] = batch(anonymous)
		}
		ratios[i] = withNs[i] / withoutNs[i]
	}
	benchfig.Record("auth_with_identity_cpu_ns_per_op", median(withNs), "ns/op")
	benchfig.Record("auth_without_identity_cpu_ns_per_op", median(withoutNs), "ns/op")
	benchfig.Record("auth_overhead_ratio", median(ratios), "ratio")
}

// authBatches is how many interleaved batches of overheadBatch requests
// each side of BenchmarkAuthOverhead's ratio runs: the difference is a few
// percent, so more than BenchmarkOverhead needs.
const authBatches = 151
