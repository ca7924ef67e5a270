package realtime

import (
	"context"
	"net/url"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Headers on a Management API DeleteConnection call that carry the close
// code and (URL-encoded) reason the protocol wants the socket closed with.
// The local Management API (package localws) closes the socket with them;
// API Gateway ignores them and closes the connection without a
// protocol close code, because a backend cannot choose one there.
const (
	HeaderCloseCode   = "X-Close-Code"
	HeaderCloseReason = "X-Close-Reason"
)

// WithCloseCode is a Management API call option that adds the close code
// and reason headers to a DeleteConnection request.
func WithCloseCode(code int, reason string) func(*apigatewaymanagementapi.Options) {
	return func(o *apigatewaymanagementapi.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Build.Add(middleware.BuildMiddlewareFunc("RealtimeCloseCode",
				func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
					if req, ok := in.Request.(*smithyhttp.Request); ok {
						req.Header.Set(HeaderCloseCode, strconv.Itoa(code))
						req.Header.Set(HeaderCloseReason, url.QueryEscape(reason))
					}
					return next.HandleBuild(ctx, in)
				}), middleware.After)
		})
	}
}
