package devissuer_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/threefactor/framework/lib/identity"
	"github.com/threefactor/framework/lib/identity/devissuer"
)

func verifier(t *testing.T, iss *devissuer.Issuer) *identity.Verifier {
	t.Helper()
	cfg := iss.VerifierConfig()
	cfg.MinRefreshInterval = time.Millisecond
	v, err := identity.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The issuer is created once per state directory, private, and named by
// the app, not by any port.
func TestOpenCreatesOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	var wg sync.WaitGroup
	issuers := make([]*devissuer.Issuer, 4)
	errs := make([]error, 4)
	for i := range issuers {
		wg.Add(1)
		go func() { defer wg.Done(); issuers[i], errs[i] = devissuer.Open(dir, "notes") }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if issuers[i].Issuer() != "https://dev.threefactor.local/notes" || issuers[i].ClientID() != issuers[0].ClientID() {
			t.Fatalf("open %d: issuer %s client %s; first client %s", i, issuers[i].Issuer(), issuers[i].ClientID(), issuers[0].ClientID())
		}
	}
	fi, err := os.Stat(filepath.Join(dir, devissuer.File))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("issuer file: %v, %v; want mode 0600", fi, err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, devissuer.File+".*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	again, err := devissuer.Open(dir, "other")
	if err != nil || again.Issuer() != issuers[0].Issuer() {
		t.Fatalf("reopened: %v, %v (the file names the issuer)", again, err)
	}
	if _, err := devissuer.Open(t.TempDir(), "Not An App"); err == nil {
		t.Fatal("a bad app name made an issuer")
	}
}

// A token minted in one process verifies against the issuer another
// opened, with Cognito's shape.
func TestMintVerifies(t *testing.T) {
	dir := t.TempDir()
	tok, err := devissuer.Mint(dir, devissuer.Options{App: "notes", Subject: "alice", Groups: []string{"restaurant"}, Claims: map[string]any{"custom:restaurantId": "r-pizza"}})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := devissuer.Open(dir, "notes")
	if err != nil {
		t.Fatal(err)
	}
	id, err := verifier(t, iss).Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject != "alice" || !id.InGroup("restaurant") || id.Claim("custom:restaurantId") != "r-pizza" ||
		id.Claim("aud") != iss.ClientID() || id.Claim("token_use") != "id" || id.Claim("cognito:groups") != "[restaurant]" {
		t.Fatalf("identity %+v", id)
	}
	if d := time.Until(id.Expires); d < devissuer.DefaultTTL-time.Minute || d > devissuer.DefaultTTL {
		t.Fatalf("expires in %s, want about %s", d, devissuer.DefaultTTL)
	}
}

func TestMintOptions(t *testing.T) {
	dir := t.TempDir()
	iss, err := devissuer.Open(dir, "notes")
	if err != nil {
		t.Fatal(err)
	}
	v := verifier(t, iss)
	ctx := context.Background()
	check := func(o devissuer.Options, want error) {
		t.Helper()
		tok, err := iss.Mint(o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, tok); !errors.Is(err, want) {
			t.Fatalf("%+v: err = %v, want %v", o, err, want)
		}
	}
	check(devissuer.Options{Subject: "a", Audience: "another-client"}, identity.ErrAudience)
	check(devissuer.Options{Subject: "a", TTL: time.Minute, Now: func() time.Time { return time.Now().Add(-time.Hour) }}, identity.ErrExpired)
	other, err := devissuer.Open(t.TempDir(), "notes")
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := other.Mint(devissuer.Options{Subject: "a"})
	if _, err := v.Verify(ctx, foreign); !errors.Is(err, identity.ErrUnknownKey) {
		t.Fatalf("another issuer's key: err = %v, want ErrUnknownKey", err)
	}
	for _, o := range []devissuer.Options{{}, {Subject: "a", Claims: map[string]any{"sub": "root"}}, {Subject: "a", TTL: -time.Second}} {
		if _, err := iss.Mint(o); err == nil {
			t.Errorf("Mint(%+v) succeeded", o)
		}
	}
}

// Rotate publishes a new signing key; a verifier already running accepts
// its tokens, and those of the older keys it still publishes.
func TestRotate(t *testing.T) {
	dir := t.TempDir()
	iss, err := devissuer.Open(dir, "notes")
	if err != nil {
		t.Fatal(err)
	}
	v := verifier(t, iss)
	ctx := context.Background()
	old, _ := iss.Mint(devissuer.Options{Subject: "a"})
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatal(err)
	}
	// Another process rotates: a separate Issuer on the same directory.
	other, _ := devissuer.Open(dir, "notes")
	kid, err := other.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	ids := iss.KeyIDs()
	if len(ids) != 2 || ids[1] != kid {
		t.Fatalf("keys %v, want the new %s last", ids, kid)
	}
	fresh, _ := iss.Mint(devissuer.Options{Subject: "b"})
	if id, err := v.Verify(ctx, fresh); err != nil || id.Subject != "b" {
		t.Fatalf("token of the new key: %+v, %v", id, err)
	}
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatalf("token of the old key: %v", err)
	}
	for range devissuer.MaxKeys {
		if _, err := iss.Rotate(); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(iss.KeyIDs()); n != devissuer.MaxKeys {
		t.Fatalf("%d keys kept, want %d", n, devissuer.MaxKeys)
	}
}

func TestHandlers(t *testing.T) {
	iss, err := devissuer.Open(t.TempDir(), "notes")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+devissuer.DiscoveryPath, iss.DiscoveryHandler())
	mux.Handle("GET "+devissuer.JWKSPath, iss.JWKSHandler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path string) []byte {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %s %s", path, resp.Status, b)
		}
		return b
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(get(devissuer.DiscoveryPath), &doc); err != nil || doc.Issuer != iss.Issuer() || doc.JWKSURI != srv.URL+devissuer.JWKSPath {
		t.Fatalf("discovery %+v, %v", doc, err)
	}
	jwks := string(get(devissuer.JWKSPath))
	if !strings.Contains(jwks, `"kid":"`+iss.KeyIDs()[0]+`"`) || strings.Contains(jwks, `"d":`) {
		t.Fatalf("key set %s: want the key id and no private part", jwks)
	}
	// A verifier that knows only the JWKS URL, as any other client would.
	cfg := identity.Config{Issuer: iss.Issuer(), Audience: []string{iss.ClientID()}, JWKSURL: srv.URL + devissuer.JWKSPath}
	v, err := identity.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := iss.Mint(devissuer.Options{Subject: "a"})
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
}
