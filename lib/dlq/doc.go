// Package dlq inspects, redrives and drops the messages in the routes'
// dead-letter queues: what `threefactor dlq list|redrive|drop` and the
// local console's dead-letter view run.
//
// A message reaches a route's dead-letter queue in one of two ways:
//
//   - the function failed it permanently (errs.Permanent, a malformed
//     body): the consumer sent it there at once with the attributes
//     reason, code, eventId, function, route, sourceMessageId and
//     receiveCount (see package consumer);
//   - it failed every attempt the route allows: the queue's redrive
//     policy moved it there as it was, with no reason attribute. Its
//     reason is then the event's last failed delivery in the event log,
//     when a log is given.
//
// SQS cannot show a message without receiving it: List receives the
// messages, holding them invisible for a moment (Config.Hold), and makes
// them visible again before it returns.
//
// Redrive sends messages back to the route's queue, where the function
// gets them again as new messages (its idempotency keeps a change from
// being applied twice). Where the endpoint has StartMessageMoveTask (SQS
// on AWS), redriving every message is one move task; elsewhere (moto,
// LocalStack's older versions) and for chosen messages, each message is
// received, sent to the queue and only then deleted from the dead-letter
// queue: a crash in between leaves it in both queues, a duplicate the
// function's idempotency absorbs, and never loses it.
package dlq
