// Command lambda is the moderate Lambda: an SQS event source mapping (with
// ReportBatchItemFailures) delivers its routes' change events to it.
package main

import (
	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/tests/chat"
	"github.com/threefactor/framework/tests/chat/functions/moderate"
)

func main() { app.StartFunction(chat.App, moderate.Name) }
