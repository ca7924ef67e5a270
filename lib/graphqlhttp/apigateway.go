package graphqlhttp

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/identity"
)

type gatewayRequestIDKey struct{}

func gatewayRequestID(ctx context.Context) string {
	id, _ := ctx.Value(gatewayRequestIDKey{}).(string)
	return id
}

// HandleAPIGateway serves an API Gateway HTTP API request (payload format
// 2.0) by running ServeHTTP on the equivalent *http.Request, so a Lambda
// answers exactly as the dev runtime's HTTP server does. The request id is
// API Gateway's requestContext.requestId. The claims its JWT authorizer
// verified (requestContext.authorizer.jwt.claims) are the caller:
// identity.From in the resolvers, and the correlation subject their
// writes record. The error is always nil: every failure is an HTTP
// response.
func (h *Handler) HandleAPIGateway(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	if a := req.RequestContext.Authorizer; a != nil && a.JWT != nil && len(a.JWT.Claims) > 0 {
		id := h.cfg.Claims.Identity(a.JWT.Claims)
		ctx = correlation.WithSubject(identity.With(ctx, id), id.Subject)
	}
	return ServeAPIGateway(ctx, h, req), nil
}

// ServeAPIGateway serves an API Gateway HTTP API request (payload format
// 2.0) with any http.Handler (the GraphiQL page, say), as HandleAPIGateway
// does the GraphQL Handler.
func ServeAPIGateway(ctx context.Context, h http.Handler, req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	r := gatewayHTTPRequest(ctx, &req)
	rw := responseBuffer{header: make(http.Header, 8)}
	h.ServeHTTP(&rw, r)
	return rw.gatewayResponse()
}

// gatewayHTTPRequest converts a payload 2.0 request: headers arrive
// lower-cased with repeated values joined by commas, cookies apart, the
// query string raw, and a binary body base64-encoded.
func gatewayHTTPRequest(ctx context.Context, req *events.APIGatewayV2HTTPRequest) *http.Request {
	if id := req.RequestContext.RequestID; id != "" {
		ctx = context.WithValue(ctx, gatewayRequestIDKey{}, id)
	}
	method := req.RequestContext.HTTP.Method
	if method == "" {
		method = http.MethodGet
	}
	rawPath := req.RawPath
	if rawPath == "" {
		rawPath = req.RequestContext.HTTP.Path
	}
	if rawPath == "" {
		rawPath = "/"
	}
	u := &url.URL{Path: rawPath, RawQuery: req.RawQueryString}
	if p, err := url.PathUnescape(rawPath); err == nil && p != rawPath {
		u.Path, u.RawPath = p, rawPath
	}
	header := make(http.Header, len(req.Headers)+1)
	for k, v := range req.Headers {
		header[textproto.CanonicalMIMEHeaderKey(k)] = []string{v}
	}
	if len(req.Cookies) > 0 {
		header["Cookie"] = []string{strings.Join(req.Cookies, "; ")}
	}
	var body io.Reader = strings.NewReader(req.Body)
	contentLength := int64(len(req.Body))
	if req.IsBase64Encoded {
		// Decoded as it is read: a malformed body is a read error, a 400.
		body = base64.NewDecoder(base64.StdEncoding, body)
		contentLength = -1
	}
	host := header.Get("Host")
	if host == "" {
		host = req.RequestContext.DomainName
	}
	delete(header, "Host") // as net/http's server does
	requestURI := rawPath
	if req.RawQueryString != "" {
		requestURI += "?" + req.RawQueryString
	}
	r := &http.Request{
		Method:        method,
		URL:           u,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        header,
		Body:          io.NopCloser(body),
		ContentLength: contentLength,
		Host:          host,
		RemoteAddr:    req.RequestContext.HTTP.SourceIP,
		RequestURI:    requestURI,
	}
	return r.WithContext(ctx)
}

// responseBuffer is an in-memory http.ResponseWriter.
type responseBuffer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *responseBuffer) Header() http.Header { return b.header }

func (b *responseBuffer) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *responseBuffer) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *responseBuffer) gatewayResponse() events.APIGatewayV2HTTPResponse {
	status := b.status
	if status == 0 {
		status = http.StatusOK
	}
	resp := events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    make(map[string]string, len(b.header)),
		Body:       b.body.String(),
	}
	for k, vs := range b.header {
		if k == "Set-Cookie" {
			resp.Cookies = append(resp.Cookies, vs...)
			continue
		}
		resp.Headers[k] = strings.Join(vs, ", ")
	}
	return resp
}
