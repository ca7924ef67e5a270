package origin

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"

	"github.com/threefactor/framework/lib/topology"
)

// Policy is a set of allowed browser origins. The zero Policy allows no
// browser origin (requests without an Origin header only).
type Policy struct {
	// exact holds canonical origins ("https://app.example.com");
	// anyPort holds scheme://host entries allowed on every port.
	exact   map[string]bool
	anyPort map[string]bool
}

// loopback are the origins a local dev runtime always allows.
var loopback = []string{
	"http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*",
	"https://localhost:*", "https://127.0.0.1:*", "https://[::1]:*",
}

// Parse reads a comma-separated list of origins. Each is
// scheme://host[:port] (http or https, no path, query or user) or
// scheme://host:* for any port. Blank entries are ignored; the error
// names every entry that is not an origin.
func Parse(list string) (Policy, error) {
	var p Policy
	var errs []error
	for _, raw := range strings.Split(list, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		if err := p.add(raw); err != nil {
			errs = append(errs, err)
		}
	}
	return p, errors.Join(errs...)
}

// FromEnv reads topology.EnvAllowedOrigins; unset allows no browser origin.
func FromEnv(getenv func(string) string) (Policy, error) {
	p, err := Parse(getenv(topology.EnvAllowedOrigins))
	if err != nil {
		return Policy{}, fmt.Errorf("%s: %w", topology.EnvAllowedOrigins, err)
	}
	return p, nil
}

// MustParse is Parse for lists known to be valid; it panics otherwise.
func MustParse(list string) Policy {
	p, err := Parse(list)
	if err != nil {
		panic(err)
	}
	return p
}

func (p *Policy) add(raw string) error {
	anyPort := strings.HasSuffix(raw, ":*")
	s := raw
	if anyPort {
		s = strings.TrimSuffix(raw, ":*")
	}
	o, ok := canonical(s)
	if !ok {
		return fmt.Errorf("%q is not an origin (scheme://host[:port] or scheme://host:*)", raw)
	}
	if anyPort {
		if u, _ := url.Parse(s); u.Port() != "" {
			return fmt.Errorf("%q: a port and :* together", raw)
		}
		if p.anyPort == nil {
			p.anyPort = map[string]bool{}
		}
		p.anyPort[o] = true
		return nil
	}
	if p.exact == nil {
		p.exact = map[string]bool{}
	}
	p.exact[o] = true
	return nil
}

// canonical lower-cases scheme and host and drops the scheme's default
// port: "HTTPS://App.Example.com:443" is "https://app.example.com".
func canonical(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", false
	}
	host, port := u.Hostname(), u.Port()
	if host == "" || strings.ContainsAny(host, "*") {
		return "", false
	}
	if strings.HasSuffix(u.Host, ":") {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	h := strings.ToLower(host)
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	if port != "" {
		return scheme + "://" + net.JoinHostPort(strings.Trim(h, "[]"), port), true
	}
	return scheme + "://" + h, true
}

// WithLoopback is p plus every port of localhost, 127.0.0.1 and [::1]
// over http and https: what the dev runtime always allows.
func (p Policy) WithLoopback() Policy {
	out := p.clone()
	for _, o := range loopback {
		_ = out.add(o)
	}
	return out
}

func (p Policy) clone() Policy {
	var out Policy
	for o := range p.exact {
		_ = out.add(o)
	}
	for o := range p.anyPort {
		_ = out.add(o + ":*")
	}
	return out
}

// Allows reports whether a request with this Origin header value may
// proceed: an absent (empty) Origin always may; "null" (sandboxed
// frames, file: pages) and anything not listed may not.
func (p Policy) Allows(origin string) bool {
	if origin == "" {
		return true
	}
	o, ok := canonical(origin)
	if !ok {
		return false
	}
	if p.exact[o] {
		return true
	}
	if len(p.anyPort) == 0 {
		return false
	}
	u, _ := url.Parse(o)
	h := u.Hostname()
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	return p.anyPort[u.Scheme+"://"+h]
}

// AllowsHeader applies Allows to a request's Origin header values; more
// than one Origin is refused.
func (p Policy) AllowsHeader(values []string) bool {
	switch len(values) {
	case 0:
		return true
	case 1:
		return p.Allows(values[0])
	}
	return false
}

// String is the policy in Parse's syntax, sorted.
func (p Policy) String() string {
	out := make([]string, 0, len(p.exact)+len(p.anyPort))
	for o := range p.exact {
		out = append(out, o)
	}
	for o := range p.anyPort {
		out = append(out, o+":*")
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}
