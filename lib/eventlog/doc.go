// Package eventlog keeps every committed change event, every delivery of
// one to a function and every realtime push of one, for a retention: the
// audit trail of an item, the causal trace of a request, the source of
// replay and restore, and the topic logs realtime subscriptions resume
// from.
//
// Log is the port. Two stores implement it and pass one conformance suite
// (package eventlogtest):
//
//   - DynamoStore, in the framework's eventlog table
//     (topology.EventLogTable), for the cloud; 30 days by default, expired
//     items deleted by DynamoDB's TTL.
//   - FileStore, JSON lines under the dev runtime's state directory
//     (LocalDir(".dev")), for local runs; kept until the directory is
//     deleted unless a retention is set. One process writes it
//     (OpenFileStore, with a lock); others read it (OpenFileReader).
//
// Writes are idempotent: a change is identified by its event id, a
// delivery by its route, message and attempt, a push by its event,
// connection and subscription, so at-least-once writers (a redelivered
// message, a retried batch) leave one record each.
//
// Items are named as users type them: ParseItemKey reads "orders/ord_1"
// (or "TABLE/PK/SK") against the topology's key schema, and ItemKeyOf
// derives the same key from a change event.
//
// A topic log gives each change a position in a realtime topic
// (Log.Append), allocated atomically so that readers (Log.Read) see
// entries in position order with no holes; a read after a position whose
// successors are no longer retained fails with ErrExpired, which a
// resuming subscription answers with RESYNC_REQUIRED.
//
// docs/eventlog.md describes what is kept, where, for how long and at
// what cost.
package eventlog
