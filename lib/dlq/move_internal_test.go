package dlq

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func TestUnsupported(t *testing.T) {
	resp := func(status int, err error) error {
		return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err}}
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"no error", nil, false},
		{"unknown operation code", &smithy.GenericAPIError{Code: "UnsupportedOperation"}, true},
		{"invalid action", fmt.Errorf("start: %w", &smithy.GenericAPIError{Code: "InvalidAction"}), true},
		{"access denied is a real error", &smithy.GenericAPIError{Code: "AccessDenied"}, false},
		{"throttled is a real error", &smithy.GenericAPIError{Code: "RequestThrottled"}, false},
		{"moto's HTML page", resp(500, &smithy.DeserializationError{Err: errors.New("invalid character '<'")}), true},
		{"404", resp(404, errors.New("not found")), true},
		{"501", resp(501, errors.New("not implemented")), true},
		{"a 503 is a real error", resp(503, errors.New("unavailable")), false},
		{"network error", errors.New("connection refused"), false},
	} {
		if got := unsupported(tc.err); got != tc.want {
			t.Errorf("%s: unsupported(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
