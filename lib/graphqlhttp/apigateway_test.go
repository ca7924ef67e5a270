package graphqlhttp

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestGatewayHTTPRequest(t *testing.T) {
	ev := events.APIGatewayV2HTTPRequest{
		RawPath:        "/api/graph%20ql",
		RawQueryString: "query=%7Bhello%7D&operationName=A",
		Cookies:        []string{"session=abc", "theme=dark"},
		Headers: map[string]string{
			"host":             "api.example.com",
			"content-type":     "application/json",
			"accept":           "application/graphql-response+json, application/json",
			"x-correlation-id": "flow-1",
		},
		Body:            base64.StdEncoding.EncodeToString([]byte(`{"query":"{ hello }"}`)),
		IsBase64Encoded: true,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: "req-1",
			HTTP:      events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", SourceIP: "198.51.100.7"},
		},
	}
	r := gatewayHTTPRequest(context.Background(), &ev)
	if r.Method != "POST" || r.URL.Path != "/api/graph ql" || r.URL.EscapedPath() != "/api/graph%20ql" ||
		r.URL.Query().Get("query") != "{hello}" || r.Host != "api.example.com" || r.RemoteAddr != "198.51.100.7" {
		t.Errorf("request line: %s %s %q host %s from %s", r.Method, r.URL.Path, r.URL.RawQuery, r.Host, r.RemoteAddr)
	}
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := r.Header.Get("X-Correlation-Id"); got != "flow-1" {
		t.Errorf("X-Correlation-Id = %q", got)
	}
	if c, err := r.Cookie("theme"); err != nil || c.Value != "dark" {
		t.Errorf("cookie theme = %v, %v", c, err)
	}
	if gatewayRequestID(r.Context()) != "req-1" {
		t.Errorf("request id = %q", gatewayRequestID(r.Context()))
	}
	body, err := io.ReadAll(r.Body)
	if err != nil || string(body) != `{"query":"{ hello }"}` {
		t.Errorf("body = %q, %v", body, err)
	}

	ev.Body, ev.IsBase64Encoded = "not base64!", true
	if _, err := io.ReadAll(gatewayHTTPRequest(context.Background(), &ev).Body); err == nil {
		t.Error("a malformed base64 body read without error")
	}
}

func TestGatewayResponse(t *testing.T) {
	rb := responseBuffer{header: http.Header{}}
	rb.Header().Add("Set-Cookie", "a=1")
	rb.Header().Add("Set-Cookie", "b=2")
	rb.Header().Add("Vary", "Accept")
	rb.Header().Add("Vary", "Origin")
	rb.WriteHeader(http.StatusTeapot)
	rb.WriteHeader(http.StatusOK) // ignored, as net/http does
	_, _ = rb.Write([]byte("hi"))
	got := rb.gatewayResponse()
	want := events.APIGatewayV2HTTPResponse{
		StatusCode: http.StatusTeapot,
		Headers:    map[string]string{"Vary": "Accept, Origin"},
		Cookies:    []string{"a=1", "b=2"},
		Body:       "hi",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if s := (&responseBuffer{header: http.Header{}}).gatewayResponse().StatusCode; s != http.StatusOK {
		t.Errorf("no WriteHeader: status %d, want 200", s)
	}
}
