package localws_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/smithy-go"

	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/realtime/localws"
)

type printSink struct{}

func (printSink) Send(_ context.Context, b []byte) error { fmt.Printf("frame %s\n", b); return nil }
func (printSink) Close(code int, reason string)          { fmt.Println("close", code, reason) }

// The Management API delivers to whatever is registered under a
// connection id; an unknown id is 410 Gone, as on API Gateway. Calls are
// signed with the credentials the server was given, as the AWS SDK signs
// them for API Gateway; an unsigned one is refused.
func ExampleServer_Management() {
	creds := credentials.NewStaticCredentialsProvider("AKIDLOCAL", "dev-secret", "")
	srv, _ := localws.New(localws.Config{
		Credentials: creds,
		Handler: func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{StatusCode: 200}, nil
		},
	})
	api := httptest.NewServer(srv.Management())
	defer api.Close()
	srv.Register("abc=", printSink{})

	mgmt := apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(api.URL),
	})
	post := func(id, body string) {
		_, err := mgmt.PostToConnection(context.Background(), &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(id), Data: []byte(body)})
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) {
			fmt.Println(apiErr.ErrorCode())
		} else {
			fmt.Println("ok", err)
		}
	}
	post("abc=", `{"type":"pong"}`)
	post("nope=", `{"type":"pong"}`)

	_, _ = mgmt.DeleteConnection(context.Background(), &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String("abc=")}, realtime.WithCloseCode(4400, "Invalid message"))
	post("abc=", `{"type":"pong"}`)

	resp, _ := http.Post(api.URL+"/@connections/abc=", "application/json", strings.NewReader(`{"type":"next"}`))
	resp.Body.Close()
	fmt.Println("unsigned:", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	// Output:
	// frame {"type":"pong"}
	// ok <nil>
	// GoneException
	// close 4400 Invalid message
	// GoneException
	// unsigned: 403 MissingAuthenticationTokenException
}
