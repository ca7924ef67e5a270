package wire_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/threefactor/framework/functions/internal/wire"
)

func TestFromEnvironment(t *testing.T) {
	cfg := aws.Config{Region: "us-east-1"}
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		wantDLQ bool
	}{
		{"tables and route", map[string]string{"TABLE_ORDERS": "o", "DLQ_URL": "http://q/dlq", "ROUTE_NAME": "r"}, "", true},
		{"no dead-letter queue", map[string]string{"TABLE_ORDERS": "o"}, "", false},
		{"no orders table", map[string]string{"TABLE_RESTAURANTS": "r"}, "TABLE_ORDERS is not set", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := wire.Getenv(tt.env)
			_, err := wire.Store(cfg, getenv)
			if (err != nil) != (tt.wantErr != "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Store: err = %v, want %q", err, tt.wantErr)
			}
			c := wire.ConsumerConfig("fn", cfg, getenv, log)
			if err := c.Validate(); err != nil {
				t.Fatalf("consumer config invalid: %v", err)
			}
			if (c.DLQURL != "") != tt.wantDLQ || (c.SQS != nil) != tt.wantDLQ || c.Route != tt.env["ROUTE_NAME"] || c.Function != "fn" {
				t.Fatalf("consumer config %+v", c)
			}
		})
	}
	if _, err := wire.Required(wire.Getenv(nil), "X"); err == nil {
		t.Fatal("Required accepted a missing variable")
	}
}
