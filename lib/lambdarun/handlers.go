package lambdarun

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
)

// Invoke sends req, encoded as JSON as Lambda's services send events, and
// decodes the function's answer into Resp.
func Invoke[Req, Resp any](ctx context.Context, f *Function, req Req) (Resp, error) {
	var resp Resp
	b, err := json.Marshal(req)
	if err != nil {
		return resp, fmt.Errorf("lambdarun: encode the event for %s: %w", f.Name(), err)
	}
	out, err := f.Invoke(ctx, b)
	if err != nil {
		return resp, err
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		return resp, fmt.Errorf("lambdarun: %s answered %T with %.200s: %w", f.Name(), resp, out, err)
	}
	return resp, nil
}

// The handlers below invoke the function with the event its trigger
// sends; each has the signature of the in-process handler it stands in
// for, so the dev runtime's event source mappings and front doors can
// drive a binary as they drive a handler.

// SQS is an SQS event source mapping's batch, answered with the failed
// messages (ReportBatchItemFailures).
func (f *Function) SQS(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	return Invoke[events.SQSEvent, events.SQSEventResponse](ctx, f, ev)
}

// DynamoDBStream is a DynamoDB stream event source mapping's batch,
// answered with the failed records (ReportBatchItemFailures).
func (f *Function) DynamoDBStream(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	return Invoke[events.DynamoDBEvent, events.DynamoDBEventResponse](ctx, f, ev)
}

// HTTPAPI is an API Gateway HTTP API request (payload format 2.0).
func (f *Function) HTTPAPI(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return Invoke[events.APIGatewayV2HTTPRequest, events.APIGatewayV2HTTPResponse](ctx, f, req)
}

// WebSocketAPI is an API Gateway WebSocket API event ($connect,
// $disconnect, $default).
func (f *Function) WebSocketAPI(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	return Invoke[events.APIGatewayWebsocketProxyRequest, events.APIGatewayProxyResponse](ctx, f, req)
}
