package lambdarun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Denial is a call a function was refused for lack of permission.
type Denial struct {
	// Principal is the function whose keys signed the call (the access key
	// when it belongs to no known function).
	Principal string
	// Action is the IAM action of the call, such as "sqs:SendMessage",
	// named from the request itself; Resource is its resource when known.
	Action, Resource string
	// Message is the refusal as the service worded it.
	Message string
	At      time.Time
}

func (d Denial) Error() string {
	msg := fmt.Sprintf("AccessDenied: %s may not %s", d.Principal, d.Action)
	if d.Resource != "" {
		msg += " on " + d.Resource
	}
	if d.Message != "" {
		msg += " (" + d.Message + ")"
	}
	return msg
}

// Access knows the functions by their access keys and records every call
// they were refused: by the emulator, through Proxy, and by a local
// Management API, through AuthorizeManagement. A refusal shows as the
// action the function lacks, rather than as whatever error the function
// made of it.
type Access struct {
	mu         sync.Mutex
	principals map[string]principal
	denials    []Denial
}

type principal struct {
	name  string
	creds aws.Credentials
	stmts []Statement
}

// NewAccess returns an empty Access.
func NewAccess() *Access { return &Access{principals: map[string]principal{}} }

// AddPrincipal names the holder of creds and gives its statements.
func (a *Access) AddPrincipal(creds aws.Credentials, name string, stmts []Statement) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.principals[creds.AccessKeyID] = principal{name: name, creds: creds, stmts: stmts}
}

// Denials are the refusals recorded so far, oldest first.
func (a *Access) Denials() []Denial {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Denial(nil), a.denials...)
}

// Err is every refusal recorded so far as one error, nil when none.
func (a *Access) Err() error {
	var errs []error
	for _, d := range a.Denials() {
		errs = append(errs, d)
	}
	return errors.Join(errs...)
}

func (a *Access) record(d Denial) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p, ok := a.principals[d.Principal]; ok {
		d.Principal = p.name
	}
	d.At = time.Now()
	a.denials = append(a.denials, d)
}

func (a *Access) principal(accessKey string) (principal, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.principals[accessKey]
	return p, ok
}

// Proxy is a loopback endpoint in front of an emulator: it forwards every
// request unchanged and records the refused ones.
type Proxy struct {
	srv *http.Server
	url string
}

// URL is the proxy's endpoint, for AWS_ENDPOINT_URL.
func (p *Proxy) URL() string { return p.url }

// Close stops the proxy.
func (p *Proxy) Close() error { return p.srv.Close() }

// Proxy starts a proxy to the emulator at target.
func (a *Access) Proxy(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("lambdarun: proxy target: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("lambdarun: proxy: %w", err)
	}
	// The Host header goes through unchanged: the client signed it.
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		// A client that gave up (its context ended) needs no answer.
		if r.Context().Err() == nil {
			http.Error(w, "lambdarun proxy: "+err.Error(), http.StatusBadGateway)
		}
	}
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.StatusCode != http.StatusForbidden {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if err != nil {
			return err
		}
		key, action := requestAction(resp.Request)
		a.record(Denial{Principal: key, Action: action, Message: refusal(body)})
		return nil
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The action of a query-protocol call (IAM, STS) is in its form
		// body: keep a copy for the record.
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
			if v, err := url.ParseQuery(string(b)); err == nil && v.Get("Action") != "" {
				r.Header.Set("X-Lambdarun-Action", v.Get("Action"))
			}
		}
		rp.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return &Proxy{srv: srv, url: "http://" + l.Addr().String()}, nil
}

var credentialRE = regexp.MustCompile(`Credential=([^/,\s]+)/[^/]+/[^/]+/([^/]+)/`)

// requestAction is the access key that signed r and the IAM action it
// asks for: the signing service and the operation, from X-Amz-Target
// (JSON protocols) or the Action parameter (query protocols).
func requestAction(r *http.Request) (key, action string) {
	m := credentialRE.FindStringSubmatch(r.Header.Get("Authorization"))
	service := "?"
	if m != nil {
		key, service = m[1], m[2]
	}
	op := r.Header.Get("X-Lambdarun-Action")
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		op = t[strings.LastIndexByte(t, '.')+1:]
	}
	if op == "" {
		op = r.URL.Query().Get("Action")
	}
	if op == "" {
		op = r.Method + " " + r.URL.Path
	}
	return key, service + ":" + op
}

var messageRE = regexp.MustCompile(`(?s)<Message>(.*?)</Message>|"[Mm]essage"\s*:\s*"((?:[^"\\]|\\.)*)"`)

// refusal is the message of an error document, XML (what moto answers
// even to JSON-protocol calls) or JSON.
func refusal(body []byte) string {
	m := messageRE.FindSubmatch(body)
	if m == nil {
		return strings.TrimSpace(string(body))
	}
	return string(append(m[1], m[2]...))
}

// ActionManageConnections is the IAM action of every Management API call.
const ActionManageConnections = "execute-api:ManageConnections"

// AuthorizeManagement guards a local Management API (POST, GET and DELETE
// /@connections/{id} under the stage's path) as API Gateway does: the
// caller is the function whose access key signed the request, and one of
// its statements must allow execute-api:ManageConnections on
// arn:aws:execute-api:{region}:{account}:{apiID}/{stage}/{method}/@connections/{id}.
// A refusal is answered 403 and recorded. h verifies the signature: a
// localws Management API whose Credentials are ManagementCredentials
// checks it with the secret of the key that signed.
func (a *Access) AuthorizeManagement(h http.Handler, region, account, apiID, stage string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, _ := requestAction(r)
		i := strings.Index(r.URL.Path, "/@connections/")
		if i < 0 {
			http.NotFound(w, r)
			return
		}
		resource := fmt.Sprintf("arn:aws:execute-api:%s:%s:%s/%s/%s%s", region, account, apiID, stage, r.Method, r.URL.Path[i:])
		p, known := a.principal(key)
		if !known || !Allowed(p.stmts, ActionManageConnections, resource) {
			who := key
			if known {
				who = p.name
			}
			msg := fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s", who, ActionManageConnections, resource)
			a.record(Denial{Principal: key, Action: ActionManageConnections, Resource: resource, Message: msg})
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, `{"message":%q}`, msg)
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, p.creds)))
	})
}

type callerKey struct{}

// ManagementCredentials are the credentials a local Management API
// behind AuthorizeManagement verifies signatures with: those of the
// principal whose access key signed the request (none outside a request
// AuthorizeManagement let through).
func (a *Access) ManagementCredentials() aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
		if c, ok := ctx.Value(callerKey{}).(aws.Credentials); ok {
			return c, nil
		}
		return aws.Credentials{}, errors.New("lambdarun: no caller: the Management API is reached through AuthorizeManagement only")
	})
}
