package wire_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	appevents "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/functions/internal/wire"
)

func TestFromEnvironment(t *testing.T) {
	cfg := aws.Config{Region: "us-east-1"}
	log := slog.New(slog.DiscardHandler)
	route := func(v string) map[string]string {
		return map[string]string{"TABLE_ORDERS": "o", "ROUTE_VALIDATE_ORDER_QUEUE_ARN": "arn:aws:sqs:us-east-1:1:q", "ROUTE_VALIDATE_ORDER_DLQ_URL": v}
	}
	tests := []struct {
		name            string
		env             map[string]string
		wantStoreErr    string
		wantConsumerErr string
	}{
		{"tables and route", route("http://q/dlq"), "", ""},
		{"no dead-letter queue", route(""), "", "ROUTE_VALIDATE_ORDER_DLQ_URL"},
		{"no orders table", map[string]string{"TABLE_RESTAURANTS": "r"}, "TABLE_ORDERS is not set", "ROUTE_VALIDATE_ORDER_QUEUE_ARN, ROUTE_VALIDATE_ORDER_DLQ_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := wire.Getenv(tt.env)
			_, err := wire.Store(cfg, getenv)
			if (err != nil) != (tt.wantStoreErr != "") || (err != nil && !strings.Contains(err.Error(), tt.wantStoreErr)) {
				t.Fatalf("Store: err = %v, want %q", err, tt.wantStoreErr)
			}
			c, err := wire.ConsumerConfig(appevents.ValidateOrder, cfg, getenv, log)
			if (err != nil) != (tt.wantConsumerErr != "") || (err != nil && !strings.Contains(err.Error(), tt.wantConsumerErr)) {
				t.Fatalf("ConsumerConfig: err = %v, want %q", err, tt.wantConsumerErr)
			}
			if err != nil {
				return
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("consumer config invalid: %v", err)
			}
			if len(c.Routes) != 1 || c.Routes[0].DLQURL != "http://q/dlq" || c.SQS == nil || c.Function != appevents.ValidateOrder {
				t.Fatalf("consumer config %+v", c)
			}
		})
	}
	if _, err := wire.Required(wire.Getenv(nil), "X"); err == nil {
		t.Fatal("Required accepted a missing variable")
	}
}
