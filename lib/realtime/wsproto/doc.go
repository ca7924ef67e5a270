// Package wsproto is the graphql-transport-ws protocol (the one the
// graphql-ws library defines and Apollo Client, urql, Apollo Kotlin and
// Apollo iOS speak): its message types, close codes, and message decoding
// with the protocol's validation rules. The operation a subscribe message
// carries is read by lib/gqldoc, the parser the HTTP transport uses too.
package wsproto
