// Package moderate is the moderate function of app chat: its route,
// moderate, delivers it each INSERT of an item of the messages table with
// new.status = "PENDING".
//
// TODO: say what the step does, and why doing it twice does no harm.
package moderate

import (
	"context"

	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/consumer"
)

// Name is the function's name in the app declaration.
const Name = "moderate"

// Message is an item of the messages table as a change's images hold it:
// a JSON object of the item's attributes (the dynamodbav tags name the same
// attributes for the SDK's attributevalue). It has the table's key and the
// attributes the route matches on; add the ones the step reads.
type Message struct {
	Room   string `dynamodbav:"room" json:"room"`
	ID     string `dynamodbav:"id" json:"id"`
	Status string `dynamodbav:"status" json:"status"`
}

// Build builds the handler from the function's environment, once per
// process: at a Lambda cold start, and when the dev runtime starts. Read
// settings and make clients here (env.Table("messages") is the table's
// name, env.DynamoDB() a client, env.Logger a logger that adds the change's
// correlation id), so that a missing setting stops the function at start,
// by name.
func Build(_ context.Context, env *app.Env) (consumer.Handler[Message], error) {
	return func(ctx context.Context, c change.Change[Message]) error {
		// TODO: the step. c.NewItem is the Message after the change. A change
		// too large to publish whole has neither (c.Reduced): read the item by
		// its key, c.Keys, then.
		//
		// Do one thing, and change state by writing: the write is the next
		// change event. The step runs at least once per change, so make a
		// second run harmless (c.ID is the change's stable id; see
		// lib/idempotency). Return an error to have the change delivered
		// again after a backoff, errs.Permanent(err) to send it to the
		// dead-letter queue at once.
		return nil
	}, nil
}
