package realtime_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/threefactor/framework/functions/realtime"
)

func TestNewHandlerReportsMissingEnvironment(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no tables", map[string]string{}, "TABLE_ORDERS"},
		{"no realtime tables", map[string]string{"TABLE_ORDERS": "o", "TABLE_RESTAURANTS": "r"}, "TABLE_CONNECTIONS is not set"},
		{"no management endpoint", map[string]string{"TABLE_ORDERS": "o", "TABLE_RESTAURANTS": "r", "TABLE_CONNECTIONS": "c", "TABLE_SUBSCRIPTIONS": "s"}, "WS_MANAGEMENT_ENDPOINT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := realtime.NewHandler(context.Background(), realtime.Deps{
				AWS:    aws.Config{Region: "us-east-1"},
				Getenv: func(k string) string { return tt.env[k] },
			})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one naming %s", err, tt.want)
			}
		})
	}
	h, err := realtime.NewHandler(context.Background(), realtime.Deps{
		AWS: aws.Config{Region: "us-east-1"},
		Getenv: func(k string) string {
			return map[string]string{"TABLE_ORDERS": "o", "TABLE_RESTAURANTS": "r", "TABLE_CONNECTIONS": "c", "TABLE_SUBSCRIPTIONS": "s",
				"WS_MANAGEMENT_ENDPOINT": "https://abc.execute-api.us-east-1.amazonaws.com/prod"}[k]
		},
	})
	if err != nil || h == nil {
		t.Fatalf("NewHandler = %v, %v", h, err)
	}
}
