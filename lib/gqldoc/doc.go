// Package gqldoc reads executable GraphQL documents: the one parser the
// framework's GraphQL transports (HTTP and WebSocket) use to learn, before
// anything runs, which operation a request selects (its type and name),
// whether it asks for introspection, what it would cost (depth and an
// estimate of the work), its root fields with their arguments resolved,
// and whether its variables coerce to the types the operation declares.
//
// The language it reads is the one graph-gophers/graphql-go v1.11.0
// executes, quirks included (its lexer is Go's text/scanner after a
// rewrite of \u escapes), so that the two cannot disagree on what a
// document is: whether it parses, and which operation of which type and
// name it selects. A fuzz test holds the two together. Where graphql-go
// accepts a literal it would later fail to decode (and panic on), such as
// 1_000 or "\400", Check reports it instead.
//
// Parsing allocates nothing once a Document's buffers have grown: keep
// Documents in a sync.Pool and Parse into them.
package gqldoc
