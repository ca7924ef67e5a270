package origin_test

import (
	"strings"
	"testing"

	"github.com/threefactor/framework/lib/origin"
	"github.com/threefactor/framework/lib/topology"
)

func TestPolicy(t *testing.T) {
	p, err := origin.Parse("https://App.Example.com:443, http://admin.example.com:8443, http://dev.example.com:*, http://[::1]:*")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		origin string
		want   bool
	}{
		{"", true}, // native apps, servers
		{"https://app.example.com", true},
		{"https://APP.example.com:443", true},
		{"http://app.example.com", false},       // scheme differs
		{"https://app.example.com:8443", false}, // port differs
		{"https://evil.example", false},         // not listed
		{"https://app.example.com.evil.example", false},
		{"null", false}, // sandboxed frame, file: page
		{"http://admin.example.com:8443", true},
		{"http://admin.example.com", false},
		{"http://dev.example.com", true},
		{"http://dev.example.com:3000", true},
		{"https://dev.example.com:3000", false},
		{"http://[::1]:5173", true},
		{"http://localhost:5173", false}, // loopback only when added
		{"https://app.example.com/path", false},
		{"not an origin", false},
	} {
		if got := p.Allows(c.origin); got != c.want {
			t.Errorf("Allows(%q) = %v, want %v", c.origin, got, c.want)
		}
	}
	if !p.AllowsHeader(nil) || p.AllowsHeader([]string{"https://app.example.com", "https://evil.example"}) {
		t.Error("AllowsHeader: no header must pass, two Origin headers must not")
	}
}

func TestZeroPolicyAllowsNoBrowser(t *testing.T) {
	var p origin.Policy
	if !p.Allows("") || p.Allows("http://localhost:3000") || p.Allows("https://evil.example") {
		t.Fatal("the zero policy allows requests without Origin only")
	}
}

func TestWithLoopback(t *testing.T) {
	p := origin.MustParse("https://app.example.com").WithLoopback()
	for _, o := range []string{"http://localhost:8080", "http://127.0.0.1:3000", "http://[::1]:1", "https://localhost:8443", "http://localhost", "https://app.example.com"} {
		if !p.Allows(o) {
			t.Errorf("%s refused", o)
		}
	}
	for _, o := range []string{"http://localhost.evil.example:8080", "http://127.0.0.2:8080", "https://evil.example"} {
		if p.Allows(o) {
			t.Errorf("%s allowed", o)
		}
	}
	// String is Parse's syntax: the policy survives an environment variable.
	again, err := origin.Parse(p.String())
	if err != nil || again.String() != p.String() {
		t.Fatalf("round trip: %q -> %q, %v", p.String(), again.String(), err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{"*", "example.com", "ftp://example.com", "https://example.com/app", "https://user@example.com",
		"https://example.com?x=1", "https://*.example.com", "http://localhost:8080:*", "http://localhost:80:*", "https://"} {
		if _, err := origin.Parse("https://ok.example," + bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("Parse(%q) = %v, want an error naming it", bad, err)
		}
	}
	env := map[string]string{topology.EnvAllowedOrigins: "https://a.example,nope"}
	if _, err := origin.FromEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), topology.EnvAllowedOrigins) {
		t.Fatalf("FromEnv error = %v, want one naming %s", err, topology.EnvAllowedOrigins)
	}
}
