// Package consumer is the SQS batch runtime of the framework's functions:
// it turns each message of a batch into a change event, decodes its images
// into the function's type, and runs the handler with the Lambda deadline
// (less a safety margin), the correlation id and a logger in its context.
//
// A function may be fed by several routes, each with its own queue and
// dead-letter queue. Each message belongs to the route whose queue its
// eventSourceARN names; ConfigFromEnv reads every route's queue ARN and
// dead-letter queue URL from the environment the dev runtime and the CDK
// stack give the function. A message from any other queue is left on it,
// unhandled.
//
// Every message succeeds or fails alone. A returned error or a panic fails
// just that message, which SQS delivers again after its visibility timeout
// until the queue's redrive policy moves it to the dead-letter queue. A
// permanent failure (errs.Permanent, an undecodable message) goes to its
// route's dead-letter queue at once with its reason and is then
// acknowledged; if that send fails, the message stays on its queue instead
// of being lost. Each message is logged as one JSON line with its outcome
// (ok, retry, permanent, dead-lettered, panic).
//
// With Config.Deliveries (the event log), every attempt is also recorded:
// route, function, attempt, outcome with the error or reason, duration,
// correlation id and causedBy; the receive after which the queue's
// redrive policy moves a failing message is recorded as dead-lettered.
// The records of a batch are one write after the batch ran, best effort:
// a log that fails or hangs is logged and given up after a short bound,
// and never changes what happens to the messages.
//
// Lambda mains and the dev runtime call Consumer.Handle, which has the
// signature lambda.Start expects of an SQS handler with partial batch
// responses.
package consumer
