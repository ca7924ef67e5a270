package topology

import "strings"

// Outputs of a deployed stack that the threefactor command line reads
// (`threefactor dlq ... --stack NAME`): where each route's queues are and
// which table holds the event log, since CloudFormation names them.
const (
	// StackOutputEventLogTable is the physical name of the eventlog table.
	StackOutputEventLogTable = "EventLogTable"
)

// RouteQueueURLOutput is the stack output holding the URL of a route's
// queue, e.g. RouteValidateOrderQueueUrl.
func RouteQueueURLOutput(route string) string { return "Route" + pascal(route) + "QueueUrl" }

// RouteDLQURLOutput is the stack output holding the URL of a route's
// dead-letter queue, e.g. RouteValidateOrderDeadLetterQueueUrl.
func RouteDLQURLOutput(route string) string {
	return "Route" + pascal(route) + "DeadLetterQueueUrl"
}

// pascal turns a route name (lower case letters, digits, dashes) into
// the letters and digits an output name allows: validate-order becomes
// ValidateOrder.
func pascal(name string) string {
	var b strings.Builder
	up := true
	for _, r := range name {
		switch {
		case r == '-':
			up = true
		case up && r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
			up = false
		default:
			b.WriteRune(r)
			up = false
		}
	}
	return b.String()
}
