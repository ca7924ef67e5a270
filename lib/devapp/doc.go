// Package devapp runs an app, as declared with package app, on the local
// dev runtime: the stream router and the realtime fan-out as the two
// readers of every table stream, each function behind its routes' queues,
// the GraphQL API over HTTP at /graphql behind a JWT authorizer, the
// WebSocket API (front door and Management API) at the same path, the
// local token issuer (package devissuer, its keys in the state
// directory), the local console at /console/ (package console: the event
// log and the dead-letter queues) and, the dev stage's, GraphiQL at
// /graphiql, all built by the same builders as the Lambda mains. `make
// dev` is Main; tests use Wire on a runtime of their own.
package devapp
