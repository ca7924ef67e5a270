// Package idempotency makes at-least-once delivery safe for work that
// must happen once: charging a card, sending a message, calling a partner.
//
// Store.Do runs a function once per scope and key, recording the claim and
// then the result in the framework's idempotency table (partition key
// "pk", TTL attribute "expiresAt"). A duplicate gets the stored result
// without running the function; a duplicate that overlaps a running
// delivery gets ErrInProgress, a retryable error, and finds the result on
// its retry. A failed run releases its claim so the retry runs; a delivery
// that dies mid-run holds its lease only until it expires (by default the
// Lambda deadline).
//
// Middleware applies this to a consumer's handler, keyed by event id and
// scoped by function name.
package idempotency
