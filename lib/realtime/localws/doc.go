// Package localws plays API Gateway's WebSocket API on a laptop: a real
// WebSocket server whose connections raise the same $connect, $disconnect
// and $default events (events.APIGatewayWebsocketProxyRequest) that API
// Gateway sends to a Lambda, and a Management API (POST, GET and DELETE
// /@connections/{id}, 410 GoneException for an unknown connection) that
// the same handler answers through with the AWS SDK.
//
// Where it goes beyond API Gateway, it says so: it closes a connection
// that has not been acknowledged within InitTimeout with 4408, and a
// DeleteConnection carrying the realtime.HeaderCloseCode and
// HeaderCloseReason headers closes the socket with that code and reason,
// which API Gateway cannot do.
package localws
