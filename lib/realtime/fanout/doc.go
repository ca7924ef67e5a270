// Package fanout pushes committed changes to the subscriptions they
// concern. It is a DynamoDB stream reader (the second reader of each
// table's stream, beside the event router): each record becomes a change
// event, the app's topics say which subscriptions may care, one Query per
// topic finds them (store.Audience), each stored operation runs against
// the change (the resolver reads realtime.ChangeFrom and emits a value or
// nothing), and each value is posted to its connection through the
// Management API.
//
// A MODIFY that changed no attribute (a no-op write, which streams record
// too) is not pushed.
//
// Two paths. A change whose audience is at most QueueThreshold
// subscriptions is pushed from the stream reader itself, with no extra
// hop: its pushes run in parallel (Concurrency), identical operations
// (same query, variables and session) run once. A change with a larger
// audience is handed to the push workers (HandlePushes, the
// topology.PushFunction Lambda on AWS, a queue consumer in the dev
// runtime) through the push queue, a FIFO queue: its subscriptions are
// split by connection into Partitions message groups (Partition), packed
// into messages of at most QueueMessageBytes, and the workers push each
// group in order and the groups in parallel. The stream reader moves on as
// soon as the messages are sent, so one change with a huge audience never
// holds up the changes behind it.
//
// Invariant (realtime resume builds on it): a connection receives the
// changes of one item in commit order, whichever path they take. The
// stream delivers an item's records in order (with any parallelization
// factor) and Handle runs an item's records one after another (different
// items' at once, up to ItemConcurrency); every push of a queued change to
// one connection is in that connection's message group, which the
// workers read in order; and a change is pushed from the stream reader
// only when none of its topics has push-queue messages outstanding
// (store.MarkQueued, MarkDone): otherwise it is queued too, behind them. A
// mark lapses two hours after the topic's last queued change, once every
// connection that could still be waiting for one has been closed by API
// Gateway. The one exception: a change too large to fit a push-queue
// message with one subscription is pushed from the stream reader, logged
// at WARN.
//
// Delivery. Posts that the Management API refuses for the rate (429
// LimitExceededException, or a throttling code) are tried again with
// backoff, at the pace the API has been accepting them (a shared pacer per
// Fanout), and never dropped: a push still throttled at the invocation's
// deadline fails its record (or push-queue message), which is delivered
// again. Other failures are retried Retries times and then dropped and
// logged, never blocking the other subscribers: a subscriber gets each
// change at most once unless its record or message is delivered again
// (then possibly twice; a client that reconnects re-reads state with a
// query). A post that gets no answer within PostTimeout is given up for
// that change. A gone connection (410) is deleted with its subscriptions.
// A result over the 128 KiB message limit is replaced by an error message
// for that subscription, which ends it. Every push's outcome is known in
// one place (deliver).
//
// With Config.Pushes (the event log), each push's outcome (ok, gone,
// oversize, denied for an expired token, failed) is recorded with the
// change's correlation id and causedBy: one write per change and path
// (the stream reader's, each push-queue message's), best effort, waited on
// for a short bound. A restore's writes (change.IsRestoreWrite) are not
// pushed.
package fanout
