package change

import (
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// StreamTable is the table name in a DynamoDB stream (or table) ARN,
// arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL.
func StreamTable(arn string) (string, error) {
	_, rest, ok := strings.Cut(arn, ":table/")
	if !ok || !strings.HasPrefix(arn, "arn:") {
		return "", fmt.Errorf("not a DynamoDB stream ARN: %q", arn)
	}
	name, _, _ := strings.Cut(rest, "/")
	if name == "" {
		return "", fmt.Errorf("no table name in ARN %q", arn)
	}
	return name, nil
}

// StreamDecoder converts stream records into change events, naming each
// by the logical table of its stream: tables maps physical table names,
// as stream ARNs carry them, to logical names
// (topology.Topology.StreamTablesFromEnv builds it).
func StreamDecoder(tables map[string]string) func(events.DynamoDBEventRecord) (Event, error) {
	return func(rec events.DynamoDBEventRecord) (Event, error) {
		physical, err := StreamTable(rec.EventSourceArn)
		if err != nil {
			return Event{}, err
		}
		logical, ok := tables[physical]
		if !ok {
			return Event{}, fmt.Errorf("record %s: stream of table %q, which is not one of the app's stream tables", rec.EventID, physical)
		}
		return FromDynamoDB(rec, logical)
	}
}
