package localws

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/threefactor/framework/lib/benchfig"
)

func TestMain(m *testing.M) { os.Exit(benchfig.Main(m)) }

// BenchmarkVerify is what checking a Management API call's signature
// costs the local server (figure mgmt_verify_us), against what signing it
// costs the caller, the SDK's own work per call (mgmt_sign_us).
func BenchmarkVerify(b *testing.B) {
	srv, err := New(Config{Handler: newHub().handle, Credentials: testCreds, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	creds, _ := testCreds.Retrieve(context.Background())
	body := []byte(`{"id":"1","type":"next","payload":{"data":{"orderUpdated":{"id":"ord_1","status":"PAID"}}}}`)
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	newReq := func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080/@connections/abc%3D", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", "application/octet-stream")
		r.Header.Set("Amz-Sdk-Invocation-Id", "0b1c2d3e-0000-4000-8000-000000000000")
		return r
	}
	signer := v4.NewSigner()
	var signTotal time.Duration
	reqs := make([]*http.Request, b.N)
	for i := range reqs {
		reqs[i] = newReq()
		start := time.Now()
		if err := signer.SignHTTP(context.Background(), creds, reqs[i], hash, "execute-api", "us-east-1", time.Now()); err != nil {
			b.Fatal(err)
		}
		signTotal += time.Since(start)
	}
	b.ResetTimer()
	for i := range b.N {
		if err := srv.verify(reqs[i], body); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	benchfig.Record("mgmt_verify_us", float64(b.Elapsed().Microseconds())/float64(b.N), "us")
	benchfig.Record("mgmt_sign_us", float64(signTotal.Microseconds())/float64(b.N), "us")
}
