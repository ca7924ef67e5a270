// Package wsproto is the graphql-transport-ws protocol (the one the
// graphql-ws library defines and Apollo Client, urql, Apollo Kotlin and
// Apollo iOS speak): its message types, close codes, message decoding with
// the protocol's validation rules, and the analysis of an operation document
// that a subscribe message carries (its type and root field with arguments).
package wsproto
