package devruntime

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"

	"github.com/threefactor/framework/lib/identity"
	"github.com/threefactor/framework/lib/identity/devissuer"
)

// The front door plays API Gateway's HTTP API with a JWT authorizer on
// every method of the route, over a real listener: refusals are API
// Gateway's 401, accepted requests reach the Lambda handler as payload 2.0
// events with the claims, and WebSocket upgrades bypass the authorizer.
func TestHTTPAPIWithJWTAuthorizer(t *testing.T) {
	iss, err := devissuer.Open(t.TempDir(), "rthttp")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := devissuer.Open(t.TempDir(), "rthttp")
	v, err := identity.NewVerifier(iss.VerifierConfig())
	if err != nil {
		t.Fatal(err)
	}
	rt := newRuntime(t, "rthttpapi")
	var mu sync.Mutex
	var seen []events.APIGatewayV2HTTPRequest
	rt.HandleHTTPAPI("/graphql", func(_ context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		mu.Lock()
		seen = append(seen, ev)
		mu.Unlock()
		if ev.RawQueryString == "fail" {
			return events.APIGatewayV2HTTPResponse{}, errors.New("the function crashed")
		}
		return events.APIGatewayV2HTTPResponse{
			StatusCode: 201, Headers: map[string]string{"Content-Type": "text/plain", "X-Answer": "42"},
			Cookies: []string{"a=1"}, Body: base64.StdEncoding.EncodeToString([]byte("from the function")), IsBase64Encoded: true,
		}, nil
	}, v)
	rt.HandleWebSocket("/graphql", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c.Close(websocket.StatusNormalClosure, "")
	}))
	rt.ServeIssuer(iss)
	run(t, rt)

	do := func(method, auth, query string, body []byte) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, rt.URL()+"/graphql?"+query, bytes.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		req.Header.Add("Cookie", "session=abc; theme=dark")
		req.Header.Add("X-Multi", "1")
		req.Header.Add("X-Multi", "2")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	mintWith := func(i *devissuer.Issuer, o devissuer.Options) string {
		o.Subject = "alice"
		tok, err := i.Mint(o)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	past := func() time.Time { return time.Now().Add(-time.Hour) }
	refusals := []struct {
		name, auth, challenge string
	}{
		{"no token", "", "Bearer"},
		{"not Bearer", "Basic YTpi", `Bearer scope="" error="invalid_token" error_description="the token is malformed"`},
		{"garbage", "Bearer x.y.z", `Bearer scope="" error="invalid_token" error_description="the token is malformed"`},
		{"another key", "Bearer " + mintWith(other, devissuer.Options{}), `Bearer scope="" error="invalid_token" error_description="the token is signed by an unknown key"`},
		{"another audience", "Bearer " + mintWith(iss, devissuer.Options{Audience: "else"}), `Bearer scope="" error="invalid_token" error_description="the token does not have a valid audience"`},
		{"expired", "Bearer " + mintWith(iss, devissuer.Options{TTL: time.Minute, Now: past}), `Bearer scope="" error="invalid_token" error_description="the token has expired"`},
	}
	for _, tt := range refusals {
		for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodOptions} {
			resp, body := do(method, tt.auth, "", []byte(`{}`))
			if resp.StatusCode != 401 || string(body) != `{"message":"Unauthorized"}` || resp.Header.Get("Content-Type") != "application/json" ||
				resp.Header.Get("Content-Length") != "26" || resp.Header.Get("Www-Authenticate") != tt.challenge || resp.Header.Get("Apigw-Requestid") == "" {
				t.Errorf("%s, %s: %d %s %v", tt.name, method, resp.StatusCode, body, resp.Header)
			}
		}
	}
	mu.Lock()
	if len(seen) != 0 {
		t.Fatalf("the function ran for %d refused requests", len(seen))
	}
	mu.Unlock()

	tok := mintWith(iss, devissuer.Options{Groups: []string{"restaurant"}, Claims: map[string]any{"scope": "orders/read orders/write"}})
	resp, body := do(http.MethodPost, "Bearer "+tok, "a=1&a=2&b=x", []byte(`{"query":"{ x }"}`))
	if resp.StatusCode != 201 || string(body) != "from the function" || resp.Header.Get("X-Answer") != "42" ||
		resp.Header.Get("Set-Cookie") != "a=1" || resp.Header.Get("Apigw-Requestid") == "" {
		t.Fatalf("accepted: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	mu.Lock()
	ev := seen[0]
	mu.Unlock()
	c := ev.RequestContext
	if ev.Version != "2.0" || ev.RouteKey != "POST /graphql" || ev.RawPath != "/graphql" || ev.RawQueryString != "a=1&a=2&b=x" ||
		ev.QueryStringParameters["a"] != "1,2" || ev.Headers["x-multi"] != "1,2" || ev.Headers["authorization"] != "Bearer "+tok ||
		ev.Headers["host"] != rt.Addr() || strings.Join(ev.Cookies, ";") != "session=abc;theme=dark" || ev.Body != `{"query":"{ x }"}` ||
		c.HTTP.Method != "POST" || c.HTTP.SourceIP != "127.0.0.1" || c.RequestID != resp.Header.Get("Apigw-Requestid") {
		b, _ := json.Marshal(ev)
		t.Fatalf("event %s", b)
	}
	if c.Authorizer == nil || c.Authorizer.JWT == nil || c.Authorizer.JWT.Claims["sub"] != "alice" ||
		c.Authorizer.JWT.Claims["cognito:groups"] != "[restaurant]" || strings.Join(c.Authorizer.JWT.Scopes, " ") != "orders/read orders/write" {
		t.Fatalf("authorizer %+v", c.Authorizer)
	}
	if resp, body := do(http.MethodGet, "Bearer "+tok, "fail", nil); resp.StatusCode != 500 || string(body) != `{"message":"Internal Server Error"}` {
		t.Fatalf("a failing function: %d %s", resp.StatusCode, body)
	}
	if resp, body := do(http.MethodPost, "Bearer "+tok, "", bytes.Repeat([]byte("a"), MaxHTTPAPIBody+1)); resp.StatusCode != 413 {
		t.Fatalf("an oversize body: %d %s", resp.StatusCode, body)
	}

	// A WebSocket upgrade is not the HTTP API's: no token needed.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+rt.Addr()+"/graphql", nil)
	if err != nil {
		t.Fatalf("websocket: %v", err)
	}
	ws.CloseNow()

	// The issuer's discovery document and keys are served.
	get, err := http.Get(rt.URL() + devissuer.DiscoveryPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	raw, _ := io.ReadAll(get.Body)
	get.Body.Close()
	if err := json.Unmarshal(raw, &doc); err != nil || doc.Issuer != iss.Issuer() || doc.JWKSURI != rt.URL()+devissuer.JWKSPath {
		t.Fatalf("discovery %s %s: %+v, %v", get.Status, raw, doc, err)
	}
	keys, err := http.Get(doc.JWKSURI)
	if err != nil || keys.StatusCode != 200 {
		t.Fatalf("keys: %v %v", keys, err)
	}
	keys.Body.Close()
}

func TestHTTPAPIRequestBinaryBody(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/x%20y?q=1", nil)
	ev := HTTPAPIRequest(r, []byte{0xff, 0x00, 0x01}, "id")
	if !ev.IsBase64Encoded || ev.Body != base64.StdEncoding.EncodeToString([]byte{0xff, 0x00, 0x01}) || ev.RawPath != "/x%20y" || ev.RequestContext.HTTP.Path != "/x y" {
		t.Fatalf("%+v", ev)
	}
}
