// Command lambda is the pushworker Lambda: the realtime fan-out's push
// worker. The push queue's event source mapping invokes it with the
// changes whose audience is too large to push from the stream, each
// message a partition of their subscribers, and it pushes them.
package main

import (
	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/lib/app"
)

func main() { app.StartPushWorker(fooddelivery.App) }
