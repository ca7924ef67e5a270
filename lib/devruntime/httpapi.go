package devruntime

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/threefactor/framework/lib/identity"
	"github.com/threefactor/framework/lib/identity/devissuer"
)

// HTTPAPIHandler is a Lambda integrated with an API Gateway HTTP API route
// (payload format 2.0).
type HTTPAPIHandler func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Authorizer is what a route's JWT authorizer checks tokens with;
// *identity.Verifier is one.
type Authorizer interface {
	Verify(ctx context.Context, token string) (identity.Identity, error)
}

// Limits of API Gateway's HTTP APIs.
const (
	// MaxHTTPAPIBody is the largest request body an HTTP API accepts.
	MaxHTTPAPIBody = 10 << 20
	// HTTPAPIIntegrationTimeout is the longest an HTTP API waits for its
	// integration.
	HTTPAPIIntegrationTimeout = 30 * time.Second
)

// HandleHTTPAPI serves path, for every method, the way API Gateway HTTP
// API routes ("GET /graphql", "POST /graphql"...) integrated with a Lambda
// do: each request reaches h as a
// payload 2.0 event (events.APIGatewayV2HTTPRequest) and h's response is
// written back. With auth, the route has a JWT authorizer: the token in
// the Authorization header ("Bearer <jwt>" or the token alone) must pass
// auth, or the answer is API Gateway's 401 and h is not called; the
// claims of an accepted token reach h in requestContext.authorizer.jwt.
// WebSocket upgrades at the same path go to the handler given to
// HandleWebSocket, unauthorized, as on a WebSocket API.
func (r *Runtime) HandleHTTPAPI(path string, h HTTPAPIHandler, auth Authorizer) {
	if h == nil {
		panic("devruntime: nil HTTP API handler for " + path)
	}
	r.front.handle(path, &httpAPI{path: path, h: h, auth: auth, rt: r}, false)
}

// ServeIssuer serves the dev issuer's OpenID Connect discovery document
// and key set at devissuer.DiscoveryPath and devissuer.JWKSPath.
func (r *Runtime) ServeIssuer(iss *devissuer.Issuer) {
	r.front.handle("GET "+devissuer.DiscoveryPath, iss.DiscoveryHandler(), false)
	r.front.handle("GET "+devissuer.JWKSPath, iss.JWKSHandler(), false)
}

type httpAPI struct {
	path string
	h    HTTPAPIHandler
	auth Authorizer
	rt   *Runtime
}

// gatewayError answers as API Gateway does itself: {"message": ...}.
func gatewayError(w http.ResponseWriter, reqID string, status int, message string, extra http.Header) {
	body := `{"message":"` + message + `"}`
	hdr := w.Header()
	for k, v := range extra {
		hdr[k] = v
	}
	hdr["Content-Type"] = []string{"application/json"}
	hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	hdr["apigw-requestid"] = []string{reqID}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// unauthorized is the JWT authorizer's refusal: 401 {"message":"Unauthorized"}
// with a www-authenticate challenge naming the reason, in API Gateway's
// layout (Bearer scope="" error="invalid_token" error_description="...");
// a request with no token at all gets the scheme alone.
func unauthorized(w http.ResponseWriter, reqID string, err error) {
	challenge := "Bearer"
	if d := identity.Description(err); d != "" {
		challenge = `Bearer scope="" error="invalid_token" error_description="` + d + `"`
	}
	gatewayError(w, reqID, http.StatusUnauthorized, "Unauthorized", http.Header{"www-authenticate": {challenge}})
}

func (a *httpAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	ctx := r.Context()
	var claims *events.APIGatewayV2HTTPRequestContextAuthorizerDescription
	if a.auth != nil {
		tok, err := identity.BearerToken(strings.Join(r.Header.Values("Authorization"), ","))
		if err == nil {
			var id identity.Identity
			if id, err = a.auth.Verify(ctx, tok); err == nil {
				claims = authorizerClaims(id)
			}
		}
		switch {
		case errors.Is(err, identity.ErrUnauthenticated):
			a.rt.log.InfoContext(ctx, "http api: unauthorized", "requestId", reqID, "method", r.Method, "path", r.URL.Path, "reason", err.Error())
			unauthorized(w, reqID, err)
			return
		case err != nil:
			a.rt.log.ErrorContext(ctx, "http api: the authorizer failed", "requestId", reqID, "err", err)
			gatewayError(w, reqID, http.StatusInternalServerError, "Internal Server Error", nil)
			return
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxHTTPAPIBody+1))
	if err != nil {
		gatewayError(w, reqID, http.StatusBadRequest, "Bad Request", nil)
		return
	}
	if len(body) > MaxHTTPAPIBody {
		gatewayError(w, reqID, http.StatusRequestEntityTooLarge, "Request Entity Too Large", nil)
		return
	}
	ev := HTTPAPIRequest(r, body, reqID)
	// The route of each method, as API Gateway names it ("POST /graphql").
	routeKey := r.Method + " " + a.path
	ev.RouteKey, ev.RequestContext.RouteKey = routeKey, routeKey
	ev.RequestContext.Authorizer = claims
	ctx, cancel := context.WithTimeout(ctx, HTTPAPIIntegrationTimeout)
	defer cancel()
	resp, err := a.h(ctx, ev)
	if err != nil {
		a.rt.log.ErrorContext(ctx, "http api: the integration failed", "requestId", reqID, "err", err)
		gatewayError(w, reqID, http.StatusInternalServerError, "Internal Server Error", nil)
		return
	}
	writeHTTPAPIResponse(w, reqID, resp)
}

func authorizerClaims(id identity.Identity) *events.APIGatewayV2HTTPRequestContextAuthorizerDescription {
	jwt := &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: id.Claims}
	if sc := id.Claim("scope"); sc != "" {
		jwt.Scopes = strings.Fields(sc)
	}
	return &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: jwt}
}

// newRequestID makes an id shaped like API Gateway's (Mc7UVioPPHcEKPA=).
func newRequestID() string {
	b := make([]byte, 11)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// HTTPAPIRequest converts an HTTP request, whose body was read, into the
// payload 2.0 event API Gateway's HTTP API hands a Lambda: header names
// lower-cased with repeated values joined by commas, cookies apart, the
// raw query string and its parameters (repeated ones joined by commas),
// a body that is not UTF-8 text base64-encoded.
func HTTPAPIRequest(r *http.Request, body []byte, requestID string) events.APIGatewayV2HTTPRequest {
	now := time.Now()
	path := r.URL.EscapedPath()
	ev := events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       "$default",
		RawPath:        path,
		RawQueryString: r.URL.RawQuery,
		Headers:        make(map[string]string, len(r.Header)+1),
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     "$default",
			AccountID:    "000000000000",
			Stage:        "$default",
			RequestID:    requestID,
			APIID:        "local",
			DomainName:   r.Host,
			DomainPrefix: strings.SplitN(r.Host, ".", 2)[0],
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP(r),
				UserAgent: r.UserAgent(),
			},
		},
	}
	for k, vs := range r.Header {
		if strings.EqualFold(k, "Cookie") {
			for _, v := range vs {
				for _, c := range strings.Split(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						ev.Cookies = append(ev.Cookies, c)
					}
				}
			}
			continue
		}
		ev.Headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	if r.Host != "" {
		ev.Headers["host"] = r.Host
	}
	if q := r.URL.Query(); len(q) > 0 {
		ev.QueryStringParameters = make(map[string]string, len(q))
		for k, vs := range q {
			ev.QueryStringParameters[k] = strings.Join(vs, ",")
		}
	}
	if len(body) > 0 {
		if utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	return ev
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// writeHTTPAPIResponse writes a Lambda's payload 2.0 response.
func writeHTTPAPIResponse(w http.ResponseWriter, reqID string, resp events.APIGatewayV2HTTPResponse) {
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			gatewayError(w, reqID, http.StatusInternalServerError, "Internal Server Error", nil)
			return
		}
		body = b
	}
	hdr := w.Header()
	for k, v := range resp.Headers {
		hdr.Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			hdr.Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		hdr.Add("Set-Cookie", c)
	}
	if hdr.Get("Content-Type") == "" && len(body) > 0 {
		// API Gateway's default for a response without one.
		hdr.Set("Content-Type", "application/json")
	}
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	hdr["apigw-requestid"] = []string{reqID}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = io.Copy(w, bytes.NewReader(body))
}
