// Package replay reads the event log (package eventlog) back into an
// environment:
//
//   - Restore writes the state the log describes (each item as its latest
//     logged change left it) into another environment's empty tables. By
//     default every write carries the framework's restore marker
//     (change.RestoreAttribute, set then removed), which the stream router
//     and the realtime fan-out recognize and neither publish nor push:
//     the restore runs no function and notifies no subscriber, and every
//     item ends exactly as logged. Publish writes plain items instead, so
//     that the restored changes flow through the app like new ones.
//   - Redeliver sends logged events again to one route's queue, in the
//     EventBridge envelope the route's rule delivers, for the route's
//     function to handle again (functions are idempotent).
//   - Pending finds, per route, the logged events that match the route
//     but have no final delivery (ok, permanent or dead-lettered): what
//     the dev runtime delivers again after restoring an emptied emulator.
//   - DigestTables is a digest of every item of some tables, to hold a
//     restored environment to the one it was restored from.
//
// The `threefactor replay` command and the dev runtime's restore call it;
// docs/eventlog.md says how to use them.
package replay
