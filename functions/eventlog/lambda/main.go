// Command lambda is the eventlog Lambda: the framework's eventlog route
// (every change event of the app, through its SQS queue) invokes it, and
// it writes each change to the event log table.
package main

import (
	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/lib/app"
)

func main() { app.StartEventLog(fooddelivery.App) }
