// Package router is the stream router: the Lambda handler that reads a
// DynamoDB stream batch and publishes each record as a change event on the
// EventBridge bus, where rules route it to the functions' queues.
//
// It publishes in PutEvents calls of at most ten entries and 256 KiB, up
// to Config.Concurrency calls of a batch in flight at once (so a shard's
// router is not held to one call's latency per ten records), retries
// failed entries with backoff and jitter within the Lambda deadline, and
// reports the earliest record that is not on the bus as the batch's
// failure, so that the event source mapping delivers it, and everything
// after it, again: a committed change is never acknowledged before it and
// every change before it are on the bus.
//
// Order: EventBridge and standard SQS queues do not keep the order of
// events, so functions never rely on it (routes match on old and new
// images); the stream mapping keeps each item's records in order, with
// any parallelization factor, for the readers that need it. A change too large for one
// entry is published without its images (change.Event.Reduce) and logged.
// A restore's writes (change.IsRestoreWrite: the item as the event log
// has it, written back by package replay) are acknowledged without being
// published, so a restore runs no function again.
package router
