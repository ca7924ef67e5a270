package localws

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

type memSink struct {
	mu     sync.Mutex
	frames []string
	closed []int
}

func (m *memSink) Send(_ context.Context, b []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.frames = append(m.frames, string(b))
	return nil
}

func (m *memSink) Close(code int, _ string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = append(m.closed, code)
}

// TestManagementAuth: only calls signed with the configured credentials
// reach a connection; anything else is refused with 403 as API Gateway
// refuses calls without a valid IAM signature.
func TestManagementAuth(t *testing.T) {
	srv, err := New(Config{Handler: newHub().handle, Credentials: testCreds, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(srv.Management())
	defer api.Close()
	sink := &memSink{}
	srv.Register("victim=", sink)
	good, _ := testCreds.Retrieve(context.Background())

	type req struct {
		method, path, body string
		// sign with these (nil: unsigned), at this time
		creds   *aws.Credentials
		service string
		region  string
		at      time.Time
		// tamper changes the request after signing
		tamper func(*http.Request)
	}
	wrongSecret := aws.Credentials{AccessKeyID: good.AccessKeyID, SecretAccessKey: "guessed"}
	otherKey := aws.Credentials{AccessKeyID: "AKIDSOMEONEELSE", SecretAccessKey: good.SecretAccessKey}
	forged := `{"id":"1","type":"next","payload":{"data":{"orderUpdated":{"status":"REFUNDED"}}}}`
	cases := []struct {
		name     string
		r        req
		status   int
		errType  string
		delivers bool
	}{
		{"signed post", req{method: "POST", path: "/@connections/victim%3D", body: `{"type":"pong"}`, creds: &good}, 200, "", true},
		{"signed get", req{method: "GET", path: "/@connections/victim%3D", creds: &good}, 200, "", false},
		{"unsigned post", req{method: "POST", path: "/@connections/victim%3D", body: forged}, 403, "MissingAuthenticationTokenException", false},
		{"unsigned delete", req{method: "DELETE", path: "/@connections/victim%3D"}, 403, "MissingAuthenticationTokenException", false},
		{"made-up header", req{method: "POST", path: "/@connections/victim%3D", body: forged, tamper: func(r *http.Request) {
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+good.AccessKeyID+"/20240101/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
			r.Header.Set("X-Amz-Date", time.Now().UTC().Format(amzDate))
		}}, 403, "IncompleteSignatureException", false},
		{"garbage header", req{method: "POST", path: "/@connections/victim%3D", body: forged, tamper: func(r *http.Request) { r.Header.Set("Authorization", "Bearer x") }}, 403, "IncompleteSignatureException", false},
		{"wrong secret", req{method: "POST", path: "/@connections/victim%3D", body: forged, creds: &wrongSecret}, 403, "InvalidSignatureException", false},
		{"someone else's key", req{method: "POST", path: "/@connections/victim%3D", body: forged, creds: &otherKey}, 403, "UnrecognizedClientException", false},
		{"other service", req{method: "POST", path: "/@connections/victim%3D", body: forged, creds: &good, service: "dynamodb"}, 403, "InvalidSignatureException", false},
		{"other region", req{method: "POST", path: "/@connections/victim%3D", body: forged, creds: &good, region: "eu-west-1"}, 403, "InvalidSignatureException", false},
		{"expired", req{method: "POST", path: "/@connections/victim%3D", body: forged, creds: &good, at: time.Now().Add(-10 * time.Minute)}, 403, "InvalidSignatureException", false},
		{"body swapped", req{method: "POST", path: "/@connections/victim%3D", body: `{"type":"pong"}`, creds: &good, tamper: func(r *http.Request) {
			r.Body = io.NopCloser(bytes.NewReader([]byte(`{"type":"pang"}`)))
		}}, 403, "InvalidSignatureException", false},
		{"signed for another connection", req{method: "POST", path: "/@connections/mine%3D", body: forged, creds: &good, tamper: func(r *http.Request) {
			r.URL.Path, r.URL.RawPath = "/@connections/victim=", "/@connections/victim%3D"
		}}, 403, "InvalidSignatureException", false},
		{"signed get replayed as delete", req{method: "GET", path: "/@connections/victim%3D", creds: &good, tamper: func(r *http.Request) { r.Method = "DELETE" }}, 403, "InvalidSignatureException", false},
		{"signed, unknown connection", req{method: "POST", path: "/@connections/nope%3D", body: `{}`, creds: &good}, 410, "GoneException", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sink.mu.Lock()
			before := len(sink.frames)
			sink.mu.Unlock()
			hr, err := http.NewRequest(c.r.method, api.URL+c.r.path, bytes.NewReader([]byte(c.r.body)))
			if err != nil {
				t.Fatal(err)
			}
			if c.r.body == "" {
				hr.Body, hr.ContentLength = http.NoBody, 0
			}
			if c.r.creds != nil {
				sum := sha256.Sum256([]byte(c.r.body))
				service, at := c.r.service, c.r.at
				if service == "" {
					service = "execute-api"
				}
				if at.IsZero() {
					at = time.Now()
				}
				region := c.r.region
				if region == "" {
					region = "us-east-1"
				}
				if err := v4.NewSigner().SignHTTP(context.Background(), *c.r.creds, hr, hex.EncodeToString(sum[:]), service, region, at); err != nil {
					t.Fatal(err)
				}
			}
			if c.r.tamper != nil {
				c.r.tamper(hr)
			}
			resp, err := http.DefaultClient.Do(hr)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || resp.Header.Get("X-Amzn-ErrorType") != c.errType {
				t.Fatalf("%d %s %s, want %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), b, c.status, c.errType)
			}
			sink.mu.Lock()
			delivered := len(sink.frames) > before
			closed := len(sink.closed)
			sink.mu.Unlock()
			if delivered != c.delivers || closed != 0 {
				t.Fatalf("delivered %v (want %v), closed %d times", delivered, c.delivers, closed)
			}
		})
	}
}

// TestManagementSessionCredentials: temporary credentials (with a
// session token) verify too, and a call without the token does not.
func TestManagementSessionCredentials(t *testing.T) {
	creds := credentials.NewStaticCredentialsProvider("ASIATEMP", "temp-secret", "session-token")
	srv, err := New(Config{Handler: newHub().handle, Credentials: creds, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(srv.Management())
	defer api.Close()
	srv.Register("c=", &memSink{})
	for _, c := range []struct {
		token  string
		status int
	}{{"session-token", 200}, {"", 403}, {"other-token", 403}} {
		hr, _ := http.NewRequest("GET", api.URL+"/@connections/c%3D", nil)
		sum := sha256.Sum256(nil)
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "ASIATEMP", SecretAccessKey: "temp-secret", SessionToken: c.token},
			hr, hex.EncodeToString(sum[:]), "execute-api", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("token %q: %d, want %d", c.token, resp.StatusCode, c.status)
		}
	}
}
