package stack

import (
	"fmt"
	"net/url"
	"strings"
)

// AnyOrigin allows every browser origin to call the HTTP API: accepted in
// the dev stage only.
const AnyOrigin = "*"

// browserOrigins is what a list of allowed origins means for the HTTP
// API's CORS configuration and for the functions' ALLOWED_ORIGINS.
type browserOrigins struct {
	// CORS are the HTTP API's allowed origins; none: no CORS configuration,
	// so browsers on other origins cannot call it.
	CORS []string
	// Env is ALLOWED_ORIGINS, the origins the WebSocket accepts. It never
	// holds "*": AnyOrigin relaxes CORS on the HTTP API only.
	Env []string
}

// resolveOrigins checks the allowed origins of a stage. Nothing given
// means any origin over HTTP in dev, and no browser origin in prod.
func resolveOrigins(stage Stage, origins []string) (browserOrigins, error) {
	if len(origins) == 0 {
		if stage.IsProd() {
			return browserOrigins{}, nil
		}
		return browserOrigins{CORS: []string{AnyOrigin}}, nil
	}
	var b browserOrigins
	seen := map[string]bool{}
	for _, o := range origins {
		if o == AnyOrigin {
			if stage.IsProd() {
				return browserOrigins{}, fmt.Errorf("allowed origins: %q is refused in the prod stage: name the browser origins "+
					"that may call the APIs (-c allowedOrigins=https://app.example.com,https://admin.example.com), "+
					"or none for native clients only", AnyOrigin)
			}
			if len(origins) > 1 {
				return browserOrigins{}, fmt.Errorf("allowed origins %q: %q allows every origin, so list nothing else", strings.Join(origins, ","), AnyOrigin)
			}
			return browserOrigins{CORS: []string{AnyOrigin}}, nil
		}
		if err := checkOrigin(stage, o); err != nil {
			return browserOrigins{}, err
		}
		if seen[o] {
			return browserOrigins{}, fmt.Errorf("allowed origin %q listed twice", o)
		}
		seen[o] = true
		b.CORS = append(b.CORS, o)
		b.Env = append(b.Env, o)
	}
	return b, nil
}

// checkOrigin accepts an origin as a browser sends it: scheme, host and
// optional port, nothing else; https, or http in the dev stage.
func checkOrigin(stage Stage, o string) error {
	u, err := url.Parse(o)
	bad := err != nil || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" ||
		strings.Contains(u.Host, "*") || o != strings.ToLower(o) || strings.HasSuffix(o, "/")
	if bad || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("allowed origin %q: want scheme://host[:port] in lower case, as a browser sends it "+
			"(https://app.example.com), without path or trailing slash", o)
	}
	if u.Scheme == "http" && stage.IsProd() {
		return fmt.Errorf("allowed origin %q: the prod stage accepts https origins only", o)
	}
	return nil
}
