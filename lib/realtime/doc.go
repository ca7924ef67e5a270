// Package realtime serves GraphQL subscriptions over WebSocket with the
// graphql-transport-ws protocol the way API Gateway's WebSocket API runs
// them: a Handler takes the $connect, $disconnect and $default events
// (events.APIGatewayWebsocketProxyRequest), keeps each connection's
// protocol state and subscriptions in DynamoDB (package store), and answers
// through the API Gateway Management API. Committed changes reach the
// stored subscriptions through package fanout. Locally, package localws
// plays API Gateway: a real WebSocket server that raises the same events
// and a Management API, so the same handler runs on a laptop and on AWS.
//
// The app plugs in its schema and a Topics pair: the topic a subscription
// listens on, and the topics a change concerns. Connections authenticate
// in connection_init (Authenticate: an OIDC token, see lib/identity); the
// verified identity is the connection's session, every operation runs with
// it (identity.From), and the connection ends when it expires (Expire, run
// by an in-process timer or, on AWS, an EventBridge Scheduler schedule
// through Invoke; see package expiry).
//
// A subscription is authorized by its resolver when it starts and again
// for every push: before storing it the handler runs the operation once as
// the subscriber, with no change in the context (ChangeFrom reports
// false), and an error the resolver returns refuses it; the fan-out runs
// it for each change as the identity stored with it, and the resolver
// yields nothing for a change the subscriber may not see.
package realtime
