// Command lambda is the fanout Lambda: the realtime fan-out. A DynamoDB stream
// event source mapping per table invokes it, and it pushes each committed
// change to the subscriptions it concerns.
package main

import (
	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/lib/app"
)

func main() { app.StartFanout(fooddelivery.App) }
