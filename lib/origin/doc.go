// Package origin decides which browser origins may open the WebSocket
// (and call the HTTP API). Browsers send an Origin header with every
// WebSocket handshake and cross-site request; a page on another site can
// otherwise drive a user's authenticated session (cross-site WebSocket
// hijacking). Native apps and servers send no Origin and are not
// concerned: a request without one is allowed.
//
// The allowed origins come from topology.EnvAllowedOrigins
// (ALLOWED_ORIGINS), comma-separated, each scheme://host[:port] or
// scheme://host:* for any port. Locally the dev runtime adds the loopback
// origins (Policy.WithLoopback).
package origin
