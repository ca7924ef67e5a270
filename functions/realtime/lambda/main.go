// Command lambda is the realtime Lambda: the WebSocket API handler. API Gateway's
// $connect, $disconnect and $default routes invoke it.
package main

import (
	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/lib/app"
)

func main() { app.StartRealtime(fooddelivery.App) }
