package lambdarun_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/threefactor/framework/lib/lambdarun"
)

// A request reaches the function as API Gateway's payload 2.0 and its
// answer comes back as the response.
func TestHTTPAPIEvent(t *testing.T) {
	var got events.APIGatewayV2HTTPRequest
	h := lambdarun.NewHTTPAPI(lambdarun.HTTPAPIConfig{
		APIID: "api1",
		Handler: func(_ context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			got = req
			return events.APIGatewayV2HTTPResponse{
				StatusCode:      201,
				Headers:         map[string]string{"Content-Type": "application/octet-stream"},
				Cookies:         []string{"a=1; Path=/"},
				Body:            base64.StdEncoding.EncodeToString([]byte{0, 1, 2}),
				IsBase64Encoded: true,
			}, nil
		},
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql?x=1&x=2&y=%20z", strings.NewReader("\x00\x01"))
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Add("X-Multi", "a")
	req.Header.Add("X-Multi", "b")
	req.Header.Set("Cookie", "s=1; t=2")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	rc := got.RequestContext
	switch {
	case got.Version != "2.0" || got.RouteKey != "POST /graphql" || got.RawPath != "/graphql" || got.RawQueryString != "x=1&x=2&y=%20z":
		t.Errorf("route/path/query: %+v", got)
	case got.QueryStringParameters["x"] != "1,2" || got.QueryStringParameters["y"] != " z":
		t.Errorf("query parameters %v", got.QueryStringParameters)
	case got.Headers["x-multi"] != "a,b" || got.Headers["content-type"] != "application/octet-stream" || got.Headers["cookie"] != "":
		t.Errorf("headers %v", got.Headers)
	case strings.Join(got.Cookies, ";") != "s=1;t=2":
		t.Errorf("cookies %v", got.Cookies)
	case !got.IsBase64Encoded || got.Body != base64.StdEncoding.EncodeToString([]byte{0, 1}):
		t.Errorf("body %q (base64 %v)", got.Body, got.IsBase64Encoded)
	case rc.HTTP.Method != "POST" || rc.HTTP.Path != "/graphql" || rc.HTTP.SourceIP != "127.0.0.1" || rc.APIID != "api1" || rc.Stage != "$default" || rc.RequestID == "" || rc.TimeEpoch == 0:
		t.Errorf("request context %+v", rc)
	case rc.Authorizer != nil:
		t.Errorf("an authorizer without one configured: %+v", rc.Authorizer)
	}
	if resp.StatusCode != 201 || string(body) != "\x00\x01\x02" || resp.Header.Get("Set-Cookie") != "a=1; Path=/" {
		t.Errorf("response %d %q %v", resp.StatusCode, body, resp.Header)
	}
}

// The authorizer's claims reach the function; a request it refuses, or a
// function that fails, is answered by the gateway.
func TestHTTPAPIAuthorizerAndFailures(t *testing.T) {
	var claims map[string]string
	fail := false
	h := lambdarun.NewHTTPAPI(lambdarun.HTTPAPIConfig{
		Handler: func(_ context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			if fail {
				return events.APIGatewayV2HTTPResponse{}, errors.New("boom")
			}
			claims = req.RequestContext.Authorizer.JWT.Claims
			return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "ok"}, nil
		},
		Authorize: func(r *http.Request) (*events.APIGatewayV2HTTPRequestContextAuthorizerDescription, error) {
			if r.Header.Get("Authorization") != "Bearer good" {
				return nil, errors.New("bad token")
			}
			return &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{"sub": "u1"}},
			}, nil
		},
	})
	do := func(token string, body io.Reader) (int, string) {
		req := httptest.NewRequest(http.MethodPost, "/graphql", body)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code, w.Body.String()
	}
	if code, body := do("good", strings.NewReader("{}")); code != 200 || body != "ok" || claims["sub"] != "u1" {
		t.Errorf("authorized: %d %q, claims %v", code, body, claims)
	}
	if code, body := do("bad", strings.NewReader("{}")); code != 401 || body != `{"message":"Unauthorized"}` {
		t.Errorf("refused: %d %q", code, body)
	}
	if code, _ := do("good", strings.NewReader(strings.Repeat("x", lambdarun.MaxHTTPAPIBody+1))); code != 413 {
		t.Errorf("too large: %d", code)
	}
	fail = true
	if code, body := do("good", strings.NewReader("{}")); code != 500 || body != `{"message":"Internal Server Error"}` {
		t.Errorf("function error: %d %q", code, body)
	}
}
