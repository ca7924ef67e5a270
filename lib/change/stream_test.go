package change

import (
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestStreamTable(t *testing.T) {
	tests := []struct{ arn, want string }{
		{"arn:aws:dynamodb:eu-west-1:000000000000:table/fooddelivery-orders/stream/2026-11-23T10:00:00.123", "fooddelivery-orders"},
		{"arn:aws-cn:dynamodb:cn-north-1:1:table/t/stream/x", "t"},
		{"arn:aws:dynamodb:us-east-1:1:table/", ""},
		{"table/x/stream/y", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := StreamTable(tt.arn)
		if got != tt.want || (err == nil) != (tt.want != "") {
			t.Errorf("StreamTable(%q) = %q, %v; want %q", tt.arn, got, err, tt.want)
		}
	}
}

func TestStreamDecoder(t *testing.T) {
	decode := StreamDecoder(map[string]string{"Stack-Orders-1X": "orders"})
	rec := events.DynamoDBEventRecord{
		EventID: "e1", EventName: "INSERT",
		EventSourceArn: "arn:aws:dynamodb:eu-west-1:1:table/Stack-Orders-1X/stream/2026",
		Change: events.DynamoDBStreamRecord{
			Keys:           map[string]events.DynamoDBAttributeValue{"id": events.NewStringAttribute("o1")},
			NewImage:       map[string]events.DynamoDBAttributeValue{"id": events.NewStringAttribute("o1")},
			SequenceNumber: "1",
		},
	}
	ev, err := decode(rec)
	if err != nil || ev.Table != "orders" || ev.ID != "e1" {
		t.Fatalf("decode = %+v, %v", ev, err)
	}
	rec.EventSourceArn = "arn:aws:dynamodb:eu-west-1:1:table/Other/stream/2026"
	if _, err := decode(rec); err == nil || !strings.Contains(err.Error(), `"Other"`) {
		t.Errorf("unknown table: %v", err)
	}
}
