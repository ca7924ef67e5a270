package lambdarun

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/threefactor/framework/lib/correlation"
)

// MaxHTTPAPIBody is API Gateway's limit on an HTTP API request's payload.
const MaxHTTPAPIBody = 10 << 20

// HTTPAPIHandler is a Lambda handler behind an HTTP API (payload 2.0),
// such as Function.HTTPAPI.
type HTTPAPIHandler func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// HTTPAPIConfig configures NewHTTPAPI.
type HTTPAPIConfig struct {
	// Handler is the integration's function.
	Handler HTTPAPIHandler
	// APIID and Stage fill the request context; Stage default "$default".
	APIID, Stage string
	// Authorize plays the route's authorizer: it returns what a JWT
	// authorizer puts in requestContext.authorizer (the token's claims
	// and scopes), or an error, answered 401 as API Gateway does. Nil: the
	// route has no authorizer.
	Authorize func(*http.Request) (*events.APIGatewayV2HTTPRequestContextAuthorizerDescription, error)
}

// NewHTTPAPI is the front door of an HTTP API with one Lambda proxy
// integration: each request becomes the payload 2.0 event API Gateway
// sends (headers lower-cased and joined with commas, cookies apart, a
// binary body base64-encoded, the request context), and the function's
// answer becomes the response.
func NewHTTPAPI(cfg HTTPAPIConfig) http.Handler {
	if cfg.Stage == "" {
		cfg.Stage = "$default"
	}
	return &httpAPI{cfg: cfg}
}

type httpAPI struct{ cfg HTTPAPIConfig }

func (h *httpAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxHTTPAPIBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			gatewayError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
			return
		}
		gatewayError(w, http.StatusBadRequest, "Bad Request")
		return
	}
	ev := h.event(r, body)
	if h.cfg.Authorize != nil {
		auth, err := h.cfg.Authorize(r)
		if err != nil {
			gatewayError(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
		ev.RequestContext.Authorizer = auth
	}
	resp, err := h.cfg.Handler(r.Context(), ev)
	if err != nil {
		gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	writeResponse(w, resp)
}

func (h *httpAPI) event(r *http.Request, body []byte) events.APIGatewayV2HTTPRequest {
	now := time.Now()
	ev := events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       r.Method + " " + r.URL.Path,
		RawPath:        r.URL.EscapedPath(),
		RawQueryString: r.URL.RawQuery,
		Headers:        map[string]string{},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:   r.Method + " " + r.URL.Path,
			AccountID:  "anonymous",
			APIID:      h.cfg.APIID,
			Stage:      h.cfg.Stage,
			RequestID:  correlation.NewID(),
			DomainName: r.Host,
			Time:       now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:  now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP(r),
				UserAgent: r.UserAgent(),
			},
		},
	}
	if prefix, _, ok := strings.Cut(r.Host, "."); ok {
		ev.RequestContext.DomainPrefix = prefix
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
	ev.Headers["host"] = r.Host
	if q := r.URL.Query(); len(q) > 0 {
		ev.QueryStringParameters = make(map[string]string, len(q))
		for k, vs := range q {
			ev.QueryStringParameters[k] = strings.Join(vs, ",")
		}
	}
	if len(body) > 0 {
		if textual(r.Header.Get("Content-Type")) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	return ev
}

// textual reports whether API Gateway passes a body of this type as text.
func textual(contentType string) bool {
	if contentType == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return strings.HasPrefix(mt, "text/") || strings.HasSuffix(mt, "json") || strings.HasSuffix(mt, "xml") ||
		mt == "application/x-www-form-urlencoded" || mt == "application/javascript" || mt == "application/graphql"
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func writeResponse(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) {
	h := w.Header()
	keys := make([]string, 0, len(resp.Headers))
	for k := range resp.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		h.Set(k, resp.Headers[k])
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			gatewayError(w, http.StatusBadGateway, "Internal Server Error")
			return
		}
		body = b
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// gatewayError answers as API Gateway does when it, not the function,
// answers.
func gatewayError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"message":"`+msg+`"}`)
}
