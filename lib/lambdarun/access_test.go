package lambdarun_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/threefactor/framework/lib/lambdarun"
)

func signed(r *http.Request, key, service string) {
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+key+"/20260101/us-east-1/"+service+"/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc")
}

// The proxy forwards every call and records a refused one with the
// caller's name and the action named from the request: X-Amz-Target for
// JSON protocols, the Action parameter of a form body for query ones.
func TestProxyRecordsRefusals(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Amz-Target") == "AWSEvents.PutEvents" || strings.Contains(string(body), "Action=CreateUser") {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `<ErrorResponse><Error><Code>AccessDenied</Code><Message>User: arn:aws:iam::1:user/lambda-router is not authorized to perform: events:PutEvents</Message></Error></ErrorResponse>`)
			return
		}
		io.WriteString(w, `{"ok":true}`)
	}))
	defer upstream.Close()
	a := lambdarun.NewAccess()
	a.AddPrincipal(aws.Credentials{AccessKeyID: "AKIAROUTER", SecretAccessKey: "s1"}, "router", nil)
	p, err := a.Proxy(upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	call := func(target, body string) int {
		req, _ := http.NewRequest(http.MethodPost, p.URL()+"/", strings.NewReader(body))
		if target != "" {
			req.Header.Set("X-Amz-Target", target)
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		} else {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		service := "events"
		if target == "" {
			service = "iam"
		}
		signed(req, "AKIAROUTER", service)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 && string(b) != `{"ok":true}` {
			t.Errorf("forwarded answer %q", b)
		}
		return resp.StatusCode
	}
	if code := call("AWSEvents.DescribeEventBus", "{}"); code != 200 {
		t.Errorf("allowed call: %d", code)
	}
	if len(a.Denials()) != 0 || a.Err() != nil {
		t.Fatalf("denials after an allowed call: %v", a.Denials())
	}
	if code := call("AWSEvents.PutEvents", "{}"); code != 403 {
		t.Errorf("refused call: %d", code)
	}
	if code := call("", "Action=CreateUser&UserName=x"); code != 403 {
		t.Errorf("refused query call: %d", code)
	}
	ds := a.Denials()
	if len(ds) != 2 {
		t.Fatalf("denials %v", ds)
	}
	if ds[0].Principal != "router" || ds[0].Action != "events:PutEvents" || !strings.Contains(ds[0].Message, "not authorized to perform: events:PutEvents") {
		t.Errorf("denial %+v", ds[0])
	}
	if ds[1].Action != "iam:CreateUser" {
		t.Errorf("query-protocol denial %+v", ds[1])
	}
	if err := a.Err(); err == nil || !strings.Contains(err.Error(), "AccessDenied: router may not events:PutEvents") {
		t.Errorf("Err = %v", err)
	}
}

// The Management API allows a caller whose statements grant
// execute-api:ManageConnections on the connection, and refuses (403,
// recorded) anyone else.
func TestAuthorizeManagement(t *testing.T) {
	a := lambdarun.NewAccess()
	a.AddPrincipal(aws.Credentials{AccessKeyID: "AKIAFANOUT", SecretAccessKey: "s2"}, "fanout", []lambdarun.Statement{{
		Effect: "Allow", Action: []string{lambdarun.ActionManageConnections},
		Resource: []string{"arn:aws:execute-api:us-east-1:1:api1/dev/*/@connections/*"},
	}})
	a.AddPrincipal(aws.Credentials{AccessKeyID: "AKIAGRAPHQL", SecretAccessKey: "s3"}, "graphql", nil)
	served := 0
	creds := a.ManagementCredentials()
	h := a.AuthorizeManagement(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The guarded API verifies with the secret of the key that signed.
		if c, err := creds.Retrieve(r.Context()); err != nil || c.SecretAccessKey != "s2" {
			t.Errorf("credentials for the caller: %+v, %v", c, err)
		}
		served++
	}), "us-east-1", "1", "api1", "dev")
	do := func(key, method string) int {
		r := httptest.NewRequest(method, "/dev/@connections/abc%3D", nil)
		if key != "" {
			signed(r, key, "execute-api")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	if code := do("AKIAFANOUT", http.MethodPost); code != 200 || served != 1 {
		t.Errorf("granted caller: %d, served %d", code, served)
	}
	if code := do("AKIAGRAPHQL", http.MethodDelete); code != 403 {
		t.Errorf("caller without the grant: %d", code)
	}
	if code := do("", http.MethodGet); code != 403 {
		t.Errorf("unsigned call: %d", code)
	}
	if _, err := creds.Retrieve(context.Background()); err == nil {
		t.Error("credentials outside a guarded request")
	}
	ds := a.Denials()
	if len(ds) != 2 || ds[0].Principal != "graphql" || ds[0].Action != lambdarun.ActionManageConnections ||
		ds[0].Resource != "arn:aws:execute-api:us-east-1:1:api1/dev/DELETE/@connections/abc=" {
		t.Errorf("denials %+v", ds)
	}
}
