package localws_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/threefactor/framework/lib/realtime/localws"
)

type printSink struct{}

func (printSink) Send(_ context.Context, b []byte) error { fmt.Printf("frame %s\n", b); return nil }
func (printSink) Close(code int, reason string)          { fmt.Println("close", code, reason) }

// The Management API delivers to whatever is registered under a
// connection id; an unknown id is 410 Gone, as on API Gateway.
func ExampleServer_Management() {
	srv, _ := localws.New(localws.Config{Handler: func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		return events.APIGatewayProxyResponse{StatusCode: 200}, nil
	}})
	api := httptest.NewServer(srv.Management())
	defer api.Close()
	srv.Register("abc=", printSink{})

	post := func(id, body string) {
		resp, err := http.Post(api.URL+"/@connections/"+id, "application/json", strings.NewReader(body))
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println(strings.TrimSpace(fmt.Sprint(resp.StatusCode, " ", resp.Header.Get("X-Amzn-ErrorType"))))
	}
	post("abc=", `{"type":"pong"}`)
	post("nope=", `{"type":"pong"}`)

	req, _ := http.NewRequest(http.MethodDelete, api.URL+"/@connections/abc=", nil)
	req.Header.Set("X-Close-Code", "4400")
	req.Header.Set("X-Close-Reason", "Invalid+message")
	resp, _ := http.DefaultClient.Do(req)
	resp.Body.Close()
	post("abc=", `{"type":"pong"}`)
	// Output:
	// frame {"type":"pong"}
	// 200
	// 410 GoneException
	// close 4400 Invalid message
	// 410 GoneException
}
