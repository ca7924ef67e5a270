package fanout_test

import (
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/threefactor/framework/functions/fanout"
)

func TestTableFromARN(t *testing.T) {
	tests := []struct{ arn, want string }{
		{"arn:aws:dynamodb:us-east-1:123456789012:table/fooddelivery-orders/stream/2026-11-24T00:00:00.000", "fooddelivery-orders"},
		{"arn:aws:dynamodb:eu-west-1:123456789012:table/App-OrdersTable1A2B-XYZ/stream/2026-01-01T00:00:00.000", "App-OrdersTable1A2B-XYZ"},
		{"arn:aws:dynamodb:us-east-1:123456789012:table/plain", "plain"},
		{"arn:aws:sqs:us-east-1:123456789012:queue", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := fanout.TableFromARN(tt.arn); got != tt.want {
			t.Errorf("TableFromARN(%q) = %q, want %q", tt.arn, got, tt.want)
		}
	}
}

func TestDecoder(t *testing.T) {
	decode := fanout.Decoder(map[string]string{"fooddelivery-orders": "orders"})
	rec := events.DynamoDBEventRecord{
		EventID: "e1", EventName: "INSERT",
		EventSourceArn: "arn:aws:dynamodb:us-east-1:123456789012:table/fooddelivery-orders/stream/x",
		Change: events.DynamoDBStreamRecord{
			SequenceNumber: "1",
			Keys:           map[string]events.DynamoDBAttributeValue{"id": events.NewStringAttribute("o1")},
			NewImage:       map[string]events.DynamoDBAttributeValue{"id": events.NewStringAttribute("o1"), "status": events.NewStringAttribute("PLACED")},
			StreamViewType: "NEW_AND_OLD_IMAGES",
		},
	}
	e, err := decode(rec)
	if err != nil {
		t.Fatal(err)
	}
	if e.Table != "orders" || e.ID != "e1" || string(e.Keys) != `{"id":"o1"}` {
		t.Fatalf("event = %+v", e)
	}
	rec.EventSourceArn = "arn:aws:dynamodb:us-east-1:123456789012:table/other/stream/x"
	if _, err := decode(rec); err == nil {
		t.Fatal("a record of an unknown table decoded")
	}
}
