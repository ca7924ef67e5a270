package cli_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/threefactor/framework/lib/identity"
	"github.com/threefactor/framework/lib/identity/devissuer"
)

// The token is the only line on stdout, and the dev runtime's verifier,
// configured from the same state directory, accepts it with the claims
// asked for.
func TestToken(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := threefactor("token", "pat", "--group", "restaurant", "--claim", "custom:restaurantId=r-pizza", "--ttl", "30s", "--state-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("stdout has %d lines, want the token alone: %q", len(lines), out)
	}
	iss, err := devissuer.Open(dir, "notes")
	if err != nil {
		t.Fatal(err)
	}
	v, err := identity.NewVerifier(iss.VerifierConfig())
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.Verify(context.Background(), lines[0])
	if err != nil {
		t.Fatalf("the dev issuer's verifier refused the token: %v", err)
	}
	if id.Subject != "pat" || !id.InGroup("restaurant") || id.Claim("custom:restaurantId") != "r-pizza" {
		t.Errorf("identity %+v", id)
	}
	if left := time.Until(id.Expires); left <= 0 || left > 31*time.Second {
		t.Errorf("expires in %s, want 30s", left)
	}

	for _, bad := range [][]string{
		{"token"},                               // no user
		{"token", "pat", "--claim", "nameonly"}, // not NAME=VALUE
	} {
		if code, _, _ := threefactor(append(bad, "--state-dir", dir)...); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
}
