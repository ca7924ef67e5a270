// Package router is the stream router: the Lambda handler that reads a
// DynamoDB stream batch and publishes each record as a change event on the
// EventBridge bus, where rules route it to the functions' queues.
//
// It publishes in PutEvents calls of at most ten entries and 256 KiB,
// retries failed entries with backoff and jitter within the Lambda
// deadline, and reports what still failed as a partial batch failure so
// that the event source mapping delivers it again: a committed change is
// never acknowledged before it is on the bus. A change too large for one
// entry is published without its images (change.Event.Reduce) and logged.
// A restore's writes (change.IsRestoreWrite: the item as the event log
// has it, written back by package replay) are acknowledged without being
// published, so a restore runs no function again.
package router
