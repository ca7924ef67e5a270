package localws

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The Management API is IAM-authorized on AWS; locally a caller proves it
// holds the dev runtime's credentials the same way, with a Signature
// Version 4 signature that is recomputed here, with the SDK's signer, over
// the request as received.

const (
	sigAlgorithm = "AWS4-HMAC-SHA256"
	sigService   = "execute-api"
	amzDate      = "20060102T150405Z"
	// maxSkew is how far the signing time may be from now, as on AWS.
	maxSkew = 5 * time.Minute
)

// denied is a refused signature: the AWS error code and message the
// caller gets with its 403.
type denied struct{ code, msg string }

func (d *denied) Error() string { return d.code + ": " + d.msg }

type authorization struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
}

// parseAuthorization reads "AWS4-HMAC-SHA256 Credential=AKID/20240102/us-east-1/execute-api/aws4_request,
// SignedHeaders=host;x-amz-date, Signature=hex".
func parseAuthorization(h string) (authorization, bool) {
	var a authorization
	rest, ok := strings.CutPrefix(h, sigAlgorithm+" ")
	if !ok {
		return a, false
	}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, false
		}
		switch k {
		case "Credential":
			f := strings.Split(v, "/")
			if len(f) != 5 || f[4] != "aws4_request" {
				return a, false
			}
			a.accessKey, a.date, a.region, a.service = f[0], f[1], f[2], f[3]
		case "SignedHeaders":
			a.signedHeaders = strings.Split(v, ";")
		case "Signature":
			a.signature = v
		}
	}
	return a, a.accessKey != "" && len(a.signedHeaders) > 0 && a.signature != ""
}

// verify checks r's SigV4 signature against the configured credentials;
// a *denied error says why a caller is refused, any other error is ours.
func (s *Server) verify(r *http.Request, body []byte) error {
	a, ok := parseAuthorization(r.Header.Get("Authorization"))
	if !ok {
		return &denied{"IncompleteSignatureException", "Authorization header requires Credential, SignedHeaders and Signature (" + sigAlgorithm + ")"}
	}
	creds, err := s.cfg.Credentials.Retrieve(r.Context())
	if err != nil {
		return fmt.Errorf("retrieve credentials: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(a.accessKey), []byte(creds.AccessKeyID)) != 1 {
		return &denied{"UnrecognizedClientException", "The security token included in the request is invalid."}
	}
	if a.service != sigService {
		return &denied{"InvalidSignatureException", "Credential should be scoped to correct service: '" + sigService + "'."}
	}
	if a.region != s.cfg.Region {
		return &denied{"InvalidSignatureException", "Credential should be scoped to a valid region: '" + s.cfg.Region + "'."}
	}
	signedAt, err := time.Parse(amzDate, r.Header.Get("X-Amz-Date"))
	if err != nil || signedAt.Format("20060102") != a.date {
		return &denied{"IncompleteSignatureException", "X-Amz-Date is missing or does not match the credential scope"}
	}
	if d := time.Since(signedAt); d > maxSkew || d < -maxSkew {
		return &denied{"InvalidSignatureException", "Signature expired: " + r.Header.Get("X-Amz-Date") + " is more than 5 minutes from now"}
	}
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != payloadHash {
		return &denied{"InvalidSignatureException", "The provided X-Amz-Content-Sha256 does not match the payload"}
	}

	// The request as the client signed it: the same method, path, query
	// and host, and only the headers it says it signed.
	u := &url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	again := &http.Request{Method: r.Method, URL: u, Host: r.Host, Header: http.Header{}}
	for _, name := range a.signedHeaders {
		switch name {
		case "host":
		case "content-length":
			again.ContentLength = r.ContentLength
		default:
			if vs := r.Header.Values(name); len(vs) > 0 {
				again.Header[http.CanonicalHeaderKey(name)] = vs
			}
		}
	}
	if err := s.signer.SignHTTP(r.Context(), creds, again, payloadHash, sigService, a.region, signedAt); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	want, ok := parseAuthorization(again.Header.Get("Authorization"))
	if !ok || strings.Join(want.signedHeaders, ";") != strings.Join(a.signedHeaders, ";") ||
		subtle.ConstantTimeCompare([]byte(want.signature), []byte(a.signature)) != 1 {
		return &denied{"InvalidSignatureException", "The request signature we calculated does not match the signature you provided."}
	}
	return nil
}
