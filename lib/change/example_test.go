package change_test

import (
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/events"

	"github.com/threefactor/framework/lib/change"
)

func ExampleFromDynamoDB() {
	rec := events.DynamoDBEventRecord{
		EventID:   "c4ca4238a0b923820dcc509a6f75849b",
		EventName: "MODIFY",
		Change: events.DynamoDBStreamRecord{
			Keys: map[string]events.DynamoDBAttributeValue{"id": events.NewStringAttribute("ord-1")},
			OldImage: map[string]events.DynamoDBAttributeValue{
				"id":     events.NewStringAttribute("ord-1"),
				"status": events.NewStringAttribute("PLACED"),
				"total":  events.NewNumberAttribute("19.90"),
			},
			NewImage: map[string]events.DynamoDBAttributeValue{
				"id":            events.NewStringAttribute("ord-1"),
				"status":        events.NewStringAttribute("VALIDATED"),
				"total":         events.NewNumberAttribute("19.90"),
				"correlationId": events.NewStringAttribute("req-42"),
			},
			SequenceNumber: "4200000000000000000001",
		},
	}
	ev, err := change.FromDynamoDB(rec, "orders")
	if err != nil {
		panic(err)
	}
	fmt.Println(ev.Operation, ev.Table, string(ev.Keys))
	fmt.Println(string(ev.New))
	fmt.Println(ev.Changed, ev.Has("status"), ev.Has("total"))
	fmt.Println(ev.CorrelationID)
	// Output:
	// MODIFY orders {"id":"ord-1"}
	// {"correlationId":"req-42","id":"ord-1","status":"VALIDATED","total":19.90}
	// [correlationId status] true false
	// req-42
}

func ExampleFromEventBridge() {
	// An SQS message body as an EventBridge rule delivers it.
	body := `{"version":"0","id":"9b1d","detail-type":"Change","source":"fooddelivery.changes",
		"time":"2024-11-24T00:00:00Z","region":"us-east-1","resources":[],
		"detail":{"id":"c4ca","table":"orders","operation":"INSERT","keys":{"id":"ord-1"},
		"new":{"id":"ord-1","status":"PLACED","total":123456789012345678901234567890.5},
		"changed":["id","status","total"],"sequenceNumber":"1","approximateCreationTime":"2024-11-24T00:00:00Z"}}`
	ev, err := change.FromEventBridge(body)
	if err != nil {
		panic(err)
	}
	type order struct {
		ID     string      `json:"id"`
		Status string      `json:"status"`
		Total  json.Number `json:"total"`
	}
	c, err := change.Decode[order](ev)
	if err != nil {
		panic(err)
	}
	fmt.Println(c.ID, c.OldItem == nil, c.NewItem.Status, c.NewItem.Total)
	// Output:
	// c4ca true PLACED 123456789012345678901234567890.5
}

func ExampleEvent_Reduce() {
	ev := change.Event{
		ID: "c4ca", Table: "orders", Operation: "MODIFY",
		Keys:    json.RawMessage(`{"id":"ord-1"}`),
		Old:     json.RawMessage(`{"id":"ord-1","blob":"..."}`),
		New:     json.RawMessage(`{"id":"ord-1","blob":"...."}`),
		Changed: []string{"blob"}, SequenceNumber: "7",
	}
	d, _ := ev.Reduce().Detail()
	fmt.Println(string(d))
	// Output:
	// {"id":"c4ca","table":"orders","operation":"MODIFY","keys":{"id":"ord-1"},"changed":["blob"],"sequenceNumber":"7","approximateCreationTime":"0001-01-01T00:00:00Z","reduced":true}
}
