// Command lambda is the restaurantapproval Lambda: an SQS event source mapping (with
// ReportBatchItemFailures) delivers its routes' change events to it.
package main

import (
	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/functions/restaurantapproval"
	"github.com/threefactor/framework/lib/app"
)

func main() { app.StartFunction(fooddelivery.App, restaurantapproval.Name) }
