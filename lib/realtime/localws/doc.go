// Package localws plays API Gateway's WebSocket API on a laptop: a real
// WebSocket server whose connections raise the same $connect, $disconnect
// and $default events (events.APIGatewayWebsocketProxyRequest) that API
// Gateway sends to a Lambda, and a Management API (POST, GET and DELETE
// /@connections/{id}, 410 GoneException for an unknown connection) that
// the same handler answers through with the AWS SDK.
//
// Like API Gateway, the Management API takes only signed calls (SigV4
// with Config.Credentials), and a post never waits on the client: each
// connection has a bounded send queue and its own writer with a write
// deadline. A client that cannot keep up is closed with 1013 (its post
// answers 429 LimitExceededException); a client that sends more than
// Config.MessageRate messages a second is closed with 1008; a browser
// origin not in Config.Origins is refused with 403 before $connect.
// Config.ManagementRate holds the Management API to a rate of calls, as
// API Gateway's account throttle does (429 LimitExceededException over
// it), so that benchmarks and tests see the fan-out under that limit.
//
// Where it goes beyond API Gateway, it says so: it closes a connection
// that has not been acknowledged within InitTimeout with 4408, and a
// DeleteConnection carrying the realtime.HeaderCloseCode and
// HeaderCloseReason headers closes the socket with that code and reason,
// which API Gateway cannot do.
package localws
