// Package graphqlhttp serves a graph-gophers/graphql-go schema over HTTP,
// following the GraphQL over HTTP specification, from one handler that
// runs the same way behind API Gateway (HTTP API, payload format 2.0) and
// in the dev runtime (net/http).
//
// The Handler is an http.Handler; HandleAPIGateway converts an
// events.APIGatewayV2HTTPRequest into an *http.Request and runs the very
// same ServeHTTP into an in-memory response, so the Lambda edge and the
// local server cannot behave differently.
//
// What it does for every request:
//
//   - POST application/json {query, variables, operationName, extensions};
//     GET with query parameters, for queries only and only when
//     Config.AllowGET is set (a mutation or subscription over GET is 405).
//   - Content negotiation: application/graphql-response+json when the
//     client accepts it (parse and validation failures are then 400),
//     application/json otherwise (always 200 once the request is
//     well-formed), 406 when neither is acceptable.
//   - A Gate reads the query once (lib/gqldoc, the framework's one GraphQL
//     parser) and refuses what must not run before graphql-go sees it:
//     limits that are on by default (body size, query length, depth, an
//     estimated cost, parallelism, overlap validation, introspection, a
//     request timeout) and variables that do not coerce to their types
//     (BAD_USER_INPUT). The WebSocket transport (lib/realtime) uses the
//     same Gate.
//   - Errors carry extensions.code (lib/errs). Resolver errors go through
//     the lib/errs vocabulary, so an error that is not an *errs.Error
//     reaches the client as "internal error" (INTERNAL_SERVER_ERROR) with
//     the request id, and its detail only reaches the log. A resolver
//     panic becomes such an error too, and is logged with its stack.
//   - A request id (API Gateway's requestContext.requestId, or a fresh one)
//     in X-Request-Id, and a correlation id (a valid X-Correlation-Id from
//     the client, or the request id) in X-Correlation-Id and in the
//     resolvers' context through lib/correlation.
//   - One JSON log record per request: operation, status, duration, error
//     count, request and correlation ids; never variables or tokens.
//   - The caller: behind API Gateway's JWT authorizer (HandleAPIGateway),
//     the claims it verified become the resolvers' identity.From and the
//     correlation subject every write records.
//   - A GraphiQL page, served by its own handler (GraphiQL) at its own
//     path, so the page needs no token and the endpoint serves only the API.
//
// Build the schema with ParseSchema so graphql-go's own limits and the
// panic handler are applied, and pass the same Limits in Config.Limits:
//
//	limits := graphqlhttp.Limits{AllowIntrospection: dev}
//	schema, err := graphqlhttp.ParseSchema(sdl, resolver, limits)
//	h, err := graphqlhttp.New(schema, graphqlhttp.Config{Limits: limits})
//
// See docs/graphql.md for the status codes, error codes and limits.
package graphqlhttp
