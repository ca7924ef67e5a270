// Command lambda is the router Lambda: the stream router. A DynamoDB stream event
// source mapping per table invokes it, and it publishes each committed
// change as a change event on the app's EventBridge bus.
package main

import (
	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/lib/app"
)

func main() { app.StartRouter(fooddelivery.App) }
