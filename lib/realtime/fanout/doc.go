// Package fanout pushes committed changes to the subscriptions they
// concern. It is a DynamoDB stream reader (the second reader of each
// table's stream, beside the event router): each record becomes a change
// event, the app's topics say which subscriptions may care, one Query per
// topic finds them, each stored operation runs against the change (the
// resolver reads realtime.ChangeFrom and emits a value or nothing), and
// each value is posted to its connection through the Management API.
//
// A MODIFY that changed no attribute (a no-op write, which streams record
// too) is not pushed.
//
// Delivery: records are handled one after another in stream order, so a
// subscription sees the changes of an item in commit order; the pushes for
// one record run in parallel (bounded), and identical operations (same
// query, variables and session) run once per record. A push that fails is
// retried with backoff; one still failing after the retries is dropped
// and logged, never blocking the other subscribers or the stream, so a
// subscriber gets each change at most once (a client that reconnects
// re-reads state with a query). A gone connection (410) is deleted with
// its subscriptions. A result over the 128 KiB message limit is replaced
// by an error message for that subscription, which ends it. Only a failure
// to find subscribers (the store failing) fails the record, reported as a
// batch item failure so the stream retries from it.
//
// With Config.Pushes (the event log), each push's outcome (ok, gone,
// oversize, denied for an expired token, failed) is recorded with the
// change's correlation id and causedBy: one write per change, best
// effort, waited on for a short bound. A restore's writes
// (change.IsRestoreWrite) are not pushed.
package fanout
