package identity_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/threefactor/framework/lib/identity"
	"github.com/threefactor/framework/lib/topology"
)

const (
	testIssuer = "https://issuer.example.com/pool"
	testClient = "client-1"
)

// signer is a key of the test issuer.
type signer struct {
	kid    string
	method jwt.SigningMethod
	key    crypto.Signer
}

func newRSA(t testing.TB, kid string) signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return signer{kid: kid, method: jwt.SigningMethodRS256, key: k}
}

func newEC(t testing.TB, kid string) signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{kid: kid, method: jwt.SigningMethodES256, key: k}
}

func (s signer) sign(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(s.method, claims)
	tok.Header["kid"] = s.kid
	out, err := tok.SignedString(s.key)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// jwksServer publishes a key set over HTTP and counts its fetches.
type jwksServer struct {
	*httptest.Server
	mu    sync.Mutex
	keys  []signer
	fails bool
	hits  atomic.Int64
}

func newJWKS(t testing.TB, keys ...signer) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		keys, fails := s.keys, s.fails
		s.mu.Unlock()
		if fails {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/.well-known/openid-configuration" {
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": s.URL, "jwks_uri": s.URL + "/keys"})
			return
		}
		set := jwkset.JWKSMarshal{}
		for _, k := range keys {
			alg := jwkset.AlgRS256
			if k.method == jwt.SigningMethodES256 {
				alg = jwkset.AlgES256
			}
			j, err := jwkset.NewJWKFromKey(k.key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: alg, USE: jwkset.UseSig}})
			if err != nil {
				t.Error(err)
				return
			}
			set.Keys = append(set.Keys, j.Marshal())
		}
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) publish(keys ...signer) {
	s.mu.Lock()
	s.keys = keys
	s.mu.Unlock()
}

func (s *jwksServer) down(fails bool) {
	s.mu.Lock()
	s.fails = fails
	s.mu.Unlock()
}

// clock is a settable time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var t0 = time.Unix(1_800_000_000, 0)

func claims(over map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss": testIssuer, "sub": "alice", "aud": testClient,
		"iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix(),
		"cognito:groups":      []string{"admin", "staff"},
		"custom:restaurantId": "r-pizza", "email_verified": true,
		"address": map[string]any{"country": "FR", "city": "Lyon"},
	}
	for k, v := range over {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

func newVerifier(t testing.TB, srv *jwksServer, clk *clock, mod ...func(*identity.Config)) *identity.Verifier {
	t.Helper()
	cfg := identity.Config{Issuer: testIssuer, Audience: []string{testClient, "client-2"}, JWKSURL: srv.URL + "/keys", Now: clk.Now}
	for _, m := range mod {
		m(&cfg)
	}
	v, err := identity.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerify(t *testing.T) {
	rsaKey, ecKey, other := newRSA(t, "rsa-1"), newEC(t, "ec-1"), newRSA(t, "rsa-1")
	srv := newJWKS(t, rsaKey, ecKey)
	hmacSecret := x509.MarshalPKCS1PublicKey(&rsaKey.key.(*rsa.PrivateKey).PublicKey)
	hs256 := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil))
		tok.Header["kid"] = "rsa-1"
		s, _ := tok.SignedString(hmacSecret)
		return s
	}()
	none := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil))
		tok.Header["kid"] = "rsa-1"
		s, _ := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		return s
	}()
	noKid := func() string {
		s, _ := jwt.NewWithClaims(jwt.SigningMethodRS256, claims(nil)).SignedString(rsaKey.key)
		return s
	}()
	rsaAsEC := signer{kid: "ec-1", method: jwt.SigningMethodRS256, key: rsaKey.key}

	tests := []struct {
		name  string
		token string
		want  error // nil: accepted
	}{
		{"valid RS256", rsaKey.sign(t, claims(nil)), nil},
		{"valid ES256", ecKey.sign(t, claims(nil)), nil},
		{"aud list holding an accepted audience", rsaKey.sign(t, claims(map[string]any{"aud": []string{"api", "client-2"}})), nil},
		{"client_id when there is no aud (Cognito access token)", rsaKey.sign(t, claims(map[string]any{"aud": nil, "client_id": testClient})), nil},
		{"expired within the leeway", rsaKey.sign(t, claims(map[string]any{"exp": t0.Add(-10 * time.Second).Unix()})), nil},
		{"wrong issuer", rsaKey.sign(t, claims(map[string]any{"iss": "https://evil.example.com"})), identity.ErrIssuer},
		{"no issuer", rsaKey.sign(t, claims(map[string]any{"iss": nil})), identity.ErrIssuer},
		{"wrong audience", rsaKey.sign(t, claims(map[string]any{"aud": "someone-else"})), identity.ErrAudience},
		{"client_id ignored when aud is present", rsaKey.sign(t, claims(map[string]any{"aud": "someone-else", "client_id": testClient})), identity.ErrAudience},
		{"no audience at all", rsaKey.sign(t, claims(map[string]any{"aud": nil})), identity.ErrAudience},
		{"expired", rsaKey.sign(t, claims(map[string]any{"exp": t0.Add(-time.Minute).Unix()})), identity.ErrExpired},
		{"not yet valid (nbf)", rsaKey.sign(t, claims(map[string]any{"nbf": t0.Add(time.Minute).Unix()})), identity.ErrNotYetValid},
		{"issued in the future (iat)", rsaKey.sign(t, claims(map[string]any{"iat": t0.Add(time.Minute).Unix()})), identity.ErrNotYetValid},
		{"no exp", rsaKey.sign(t, claims(map[string]any{"exp": nil})), identity.ErrMalformed},
		{"no sub", rsaKey.sign(t, claims(map[string]any{"sub": nil})), identity.ErrMalformed},
		{"alg none", none, identity.ErrAlgorithm},
		{"HS256 keyed with the RSA public key", hs256, identity.ErrAlgorithm},
		{"RS256 token naming an ES256 key", rsaAsEC.sign(t, claims(nil)), identity.ErrAlgorithm},
		{"another key under a known kid", other.sign(t, claims(nil)), identity.ErrSignature},
		{"unknown kid", newRSA(t, "rsa-9").sign(t, claims(nil)), identity.ErrUnknownKey},
		{"no kid", noKid, identity.ErrMalformed},
		{"tampered payload", tamper(rsaKey.sign(t, claims(nil))), identity.ErrSignature},
		{"empty", "", identity.ErrNoToken},
		{"garbage", "not a token", identity.ErrMalformed},
		{"three garbage segments", "a.b.c", identity.ErrMalformed},
		{"too long", strings.Repeat("a", identity.MaxTokenBytes+1), identity.ErrMalformed},
	}
	clk := &clock{now: t0}
	v := newVerifier(t, srv, clk, func(c *identity.Config) { c.CacheSize = -1 })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.Verify(context.Background(), tt.token)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if id.Subject != "alice" || id.Issuer != testIssuer || !id.Expires.After(t0.Add(-time.Minute)) {
					t.Fatalf("identity %+v", id)
				}
				return
			}
			if !errors.Is(err, tt.want) || !errors.Is(err, identity.ErrUnauthenticated) {
				t.Fatalf("err = %v, want %v (and ErrUnauthenticated)", err, tt.want)
			}
			if tt.want != identity.ErrNoToken && identity.Description(err) != tt.want.Error() {
				t.Fatalf("Description = %q, want %q", identity.Description(err), tt.want.Error())
			}
		})
	}
}

// tamper changes one claim of a signed token without signing it again.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	raw, _ := jwt.NewParser().DecodeSegment(parts[1])
	patched := strings.Replace(string(raw), `"alice"`, `"mallory"`, 1)
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(patched))
	return strings.Join(parts, ".")
}

func TestVerifiedIdentity(t *testing.T) {
	k := newRSA(t, "rsa-1")
	srv := newJWKS(t, k)
	v := newVerifier(t, srv, &clock{now: t0})
	id, err := v.Verify(context.Background(), k.sign(t, claims(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if !id.InGroup("admin") || !id.InGroup("staff") || id.InGroup("nobody") {
		t.Errorf("groups %v", id.Groups)
	}
	for name, want := range map[string]string{
		"cognito:groups":      "[admin staff]",
		"custom:restaurantId": "r-pizza",
		"exp":                 "1800003600",
		"email_verified":      "true",
		"address":             "map[city:Lyon country:FR]",
	} {
		if got := id.Claim(name); got != want {
			t.Errorf("claim %s = %q, want %q (API Gateway's rendering)", name, got, want)
		}
	}
	if !id.Expires.Equal(t0.Add(time.Hour)) || id.Expired(t0) || !id.Expired(t0.Add(time.Hour)) {
		t.Errorf("expires %v", id.Expires)
	}
	// The same claims from API Gateway's authorizer make the same identity.
	if got := identity.FromClaims(id.Claims); got.Subject != id.Subject || !got.Expires.Equal(id.Expires) || strings.Join(got.Groups, ",") != "admin,staff" {
		t.Errorf("FromClaims = %+v", got)
	}
}

// A token naming a key the set lacks makes the verifier fetch the set
// once; more such tokens within MinRefreshInterval fetch nothing.
func TestUnknownKidRefreshesOnce(t *testing.T) {
	k := newRSA(t, "rsa-1")
	srv := newJWKS(t, k)
	clk := &clock{now: t0}
	v := newVerifier(t, srv, clk, func(c *identity.Config) { c.CacheSize = -1 })
	if _, err := v.Verify(context.Background(), k.sign(t, claims(nil))); err != nil {
		t.Fatal(err)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("%d fetches for the first token, want 1", n)
	}
	stranger := newRSA(t, "made-up")
	for i := 0; i < 5; i++ {
		if _, err := v.Verify(context.Background(), stranger.sign(t, claims(nil))); !errors.Is(err, identity.ErrUnknownKey) {
			t.Fatalf("err = %v, want ErrUnknownKey", err)
		}
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d fetches after five tokens with an unknown kid, want 2 (one refresh)", n)
	}
	clk.add(identity.DefaultMinRefreshInterval)
	_, _ = v.Verify(context.Background(), stranger.sign(t, claims(nil)))
	if n := srv.hits.Load(); n != 3 {
		t.Fatalf("%d fetches once MinRefreshInterval passed, want 3", n)
	}
}

// The issuer rotates its key: a token signed with the new key is
// accepted by the same verifier, and the old key's tokens while the
// issuer still publishes it.
func TestKeyRotationWithoutRestart(t *testing.T) {
	old, next := newRSA(t, "2024"), newEC(t, "2025")
	srv := newJWKS(t, old)
	v := newVerifier(t, srv, &clock{now: t0}, func(c *identity.Config) { c.CacheSize = -1 })
	oldTok := old.sign(t, claims(nil))
	if _, err := v.Verify(context.Background(), oldTok); err != nil {
		t.Fatal(err)
	}
	srv.publish(old, next)
	if _, err := v.Verify(context.Background(), next.sign(t, claims(nil))); err != nil {
		t.Fatalf("token of the rotated-in key: %v", err)
	}
	if _, err := v.Verify(context.Background(), oldTok); err != nil {
		t.Fatalf("token of the old key, still published: %v", err)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
}

// The set is fetched again once it is RefreshInterval old: a withdrawn
// key stops verifying.
func TestKeySetRefreshedWhenOld(t *testing.T) {
	a, b := newRSA(t, "a"), newRSA(t, "b")
	srv := newJWKS(t, a, b)
	clk := &clock{now: t0}
	v := newVerifier(t, srv, clk, func(c *identity.Config) { c.CacheSize = -1; c.Leeway = 2 * time.Hour })
	tok := a.sign(t, claims(nil))
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	srv.publish(b)
	clk.add(identity.DefaultRefreshInterval)
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, identity.ErrUnknownKey) {
		t.Fatalf("withdrawn key: err = %v, want ErrUnknownKey", err)
	}
}

// An unreachable key set is not the caller's fault.
func TestKeysUnavailable(t *testing.T) {
	k := newRSA(t, "rsa-1")
	srv := newJWKS(t, k)
	srv.down(true)
	clk := &clock{now: t0}
	v := newVerifier(t, srv, clk)
	_, err := v.Verify(context.Background(), k.sign(t, claims(nil)))
	if !errors.Is(err, identity.ErrKeysUnavailable) || errors.Is(err, identity.ErrUnauthenticated) {
		t.Fatalf("err = %v, want ErrKeysUnavailable only", err)
	}
	srv.down(false)
	clk.add(2 * time.Second)
	if _, err := v.Verify(context.Background(), k.sign(t, claims(nil))); err != nil {
		t.Fatalf("after the issuer came back: %v", err)
	}
}

// Without AUTH_JWKS_URL the keys are where the issuer's discovery
// document says.
func TestDiscovery(t *testing.T) {
	k := newRSA(t, "rsa-1")
	srv := newJWKS(t, k)
	v, err := identity.NewVerifier(identity.Config{Issuer: srv.URL, Audience: []string{testClient}, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.Verify(context.Background(), k.sign(t, claims(map[string]any{"iss": srv.URL})))
	if err != nil || id.Issuer != srv.URL {
		t.Fatalf("%+v, %v", id, err)
	}
	if _, err := identity.NewVerifier(identity.Config{Issuer: "http://issuer.example.com", Audience: []string{"a"}}); err == nil {
		t.Fatal("an http issuer off loopback was accepted for discovery")
	}
}

// A verified token is remembered, but never past what a fresh
// verification would accept.
func TestCache(t *testing.T) {
	k := newRSA(t, "rsa-1")
	srv := newJWKS(t, k)
	clk := &clock{now: t0}
	v := newVerifier(t, srv, clk)
	tok := k.sign(t, claims(map[string]any{"exp": t0.Add(time.Minute).Unix()}))
	first, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	srv.down(true) // a cached token needs no key
	clk.add(identity.DefaultMinRefreshInterval + time.Second)
	again, err := v.Verify(context.Background(), tok)
	if err != nil || again.Subject != first.Subject {
		t.Fatalf("cached: %+v, %v", again, err)
	}
	srv.down(false)
	clk.add(identity.DefaultLeeway)
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, identity.ErrExpired) {
		t.Fatalf("past exp and leeway: err = %v, want ErrExpired", err)
	}
}

func TestConfigFromEnv(t *testing.T) {
	_, err := identity.ConfigFromEnv(func(string) string { return "" })
	for _, want := range []string{topology.EnvAuthIssuer + " is not set", topology.EnvAuthAudience + " is not set"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to say %s", err, want)
		}
	}
	env := map[string]string{
		topology.EnvAuthIssuer: testIssuer, topology.EnvAuthAudience: " a, b ,,",
		topology.EnvAuthJWKSURL: "https://keys.example.com/jwks", topology.EnvAuthGroupsClaim: "groups",
	}
	c, err := identity.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil || c.Issuer != testIssuer || strings.Join(c.Audience, "|") != "a|b" || c.JWKSURL != env[topology.EnvAuthJWKSURL] || c.Mapping.GroupsClaim != "groups" {
		t.Fatalf("%+v, %v", c, err)
	}
	if _, err := identity.VerifierFromEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
}

func TestContext(t *testing.T) {
	if _, ok := identity.From(context.Background()); ok {
		t.Fatal("an empty context has a caller")
	}
	ctx := identity.With(context.Background(), identity.Identity{Subject: "bob"})
	if id, ok := identity.From(ctx); !ok || id.Subject != "bob" {
		t.Fatalf("%+v %v", id, ok)
	}
}

func TestClaimsMapping(t *testing.T) {
	tests := []struct {
		name   string
		m      identity.Mapping
		claims map[string]string
		groups []string
		exp    time.Time
	}{
		{"API Gateway's array form", identity.Mapping{}, map[string]string{"cognito:groups": "[restaurant admin]", "exp": "1700000000"}, []string{"restaurant", "admin"}, time.Unix(1700000000, 0)},
		{"one group", identity.Mapping{}, map[string]string{"cognito:groups": "restaurant"}, []string{"restaurant"}, time.Time{}},
		{"comma-separated", identity.Mapping{}, map[string]string{"cognito:groups": "a, b"}, []string{"a", "b"}, time.Time{}},
		{"empty array", identity.Mapping{}, map[string]string{"cognito:groups": "[]"}, nil, time.Time{}},
		{"another groups claim", identity.Mapping{GroupsClaim: "roles"}, map[string]string{"roles": "[x]", "cognito:groups": "[y]"}, []string{"x"}, time.Time{}},
		{"exp as a float", identity.Mapping{}, map[string]string{"exp": "1.7e+09"}, nil, time.Unix(1700000000, 0)},
		{"exp not a number", identity.Mapping{}, map[string]string{"exp": "soon"}, nil, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := tt.m.Identity(tt.claims)
			if strings.Join(id.Groups, "|") != strings.Join(tt.groups, "|") || !id.Expires.Equal(tt.exp) {
				t.Fatalf("groups %q exp %v; want %q %v", id.Groups, id.Expires, tt.groups, tt.exp)
			}
			tt.claims["sub"] = "changed"
			if id.Claim("sub") == "changed" {
				t.Fatal("the identity shares the caller's map")
			}
		})
	}
}
