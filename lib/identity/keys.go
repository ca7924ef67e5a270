package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// KeySource gives an issuer's JSON Web Key Set (RFC 7517) document. A
// Verifier asks for it at its first token, when the set it holds grows
// older than Config.RefreshInterval, and when a token names a key id the
// set lacks (at most once per Config.MinRefreshInterval).
type KeySource interface {
	JWKS(ctx context.Context) ([]byte, error)
}

// KeySourceFunc adapts a function to KeySource.
type KeySourceFunc func(ctx context.Context) ([]byte, error)

// JWKS calls f.
func (f KeySourceFunc) JWKS(ctx context.Context) ([]byte, error) { return f(ctx) }

// maxDocumentBytes bounds a discovery document or key set.
const maxDocumentBytes = 1 << 20

// HTTPKeys is the key set at url (https, or http on a loopback host).
func HTTPKeys(url string, client *http.Client) KeySource {
	if client == nil {
		client = http.DefaultClient
	}
	return KeySourceFunc(func(ctx context.Context) ([]byte, error) { return fetch(ctx, client, url) })
}

// DiscoveredKeys is the key set whose location the issuer's OpenID
// Connect discovery document (issuer + "/.well-known/openid-configuration")
// names as jwks_uri. The location is looked up again when fetching the
// set fails.
func DiscoveredKeys(issuer string, client *http.Client) KeySource {
	if client == nil {
		client = http.DefaultClient
	}
	d := &discovered{issuer: strings.TrimSuffix(issuer, "/"), client: client}
	return KeySourceFunc(d.jwks)
}

type discovered struct {
	issuer string
	client *http.Client
	mu     sync.Mutex
	uri    string
}

func (d *discovered) jwks(ctx context.Context) ([]byte, error) {
	d.mu.Lock()
	uri := d.uri
	d.mu.Unlock()
	if uri == "" {
		doc, err := fetch(ctx, d.client, d.issuer+"/.well-known/openid-configuration")
		if err != nil {
			return nil, fmt.Errorf("discovery: %w", err)
		}
		var meta struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := json.Unmarshal(doc, &meta); err != nil {
			return nil, fmt.Errorf("discovery document: %w", err)
		}
		if meta.JWKSURI == "" {
			return nil, errors.New("discovery document has no jwks_uri")
		}
		if err := checkURL(meta.JWKSURI); err != nil {
			return nil, fmt.Errorf("discovery document: jwks_uri: %w", err)
		}
		uri = meta.JWKSURI
	}
	b, err := fetch(ctx, d.client, uri)
	d.mu.Lock()
	if err != nil {
		d.uri = ""
	} else {
		d.uri = uri
	}
	d.mu.Unlock()
	return b, err
}

// checkURL allows https, and http on loopback hosts only (a local issuer).
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	switch {
	case u.Host == "":
		return fmt.Errorf("%q has no host", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%q: keys are fetched over https only (http on loopback)", raw)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func fetch(ctx context.Context, client *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDocumentBytes))
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if len(b) > maxDocumentBytes {
		return nil, fmt.Errorf("GET %s: over %d bytes", u, maxDocumentBytes)
	}
	return b, nil
}

// keyring holds the current key set and fetches it again when it is old
// or lacks a key a token names: one fetch at a time, the callers waiting
// for it sharing its result.
type keyring struct {
	src     KeySource
	cfg     Config
	mu      sync.Mutex
	set     keyfunc.Keyfunc
	fetched time.Time // when set was fetched
	tried   time.Time // last fetch for an unknown kid
	failed  time.Time // last failed fetch
	flight  *flight
}

type flight struct {
	done chan struct{}
	err  error
}

// retryAfterFailure is the least time between two failed fetches.
const retryAfterFailure = time.Second

func newKeyring(src KeySource, cfg Config) *keyring { return &keyring{src: src, cfg: cfg} }

// key is the public key that verifies t: the one its kid names, for its
// algorithm (keyfunc checks the key's alg and use).
func (k *keyring) key(ctx context.Context, t *jwt.Token) (any, error) {
	now := k.cfg.Now()
	k.mu.Lock()
	set, stale := k.set, k.set == nil || now.Sub(k.fetched) >= k.cfg.RefreshInterval
	k.mu.Unlock()
	if stale {
		if err := k.refresh(ctx, false); err != nil && set == nil {
			return nil, err
		}
	}
	pub, err := k.lookup(ctx, t)
	if !errors.Is(err, jwkset.ErrKeyNotFound) {
		return pub, err
	}
	// A key the set lacks: the issuer may have rotated its keys.
	if rerr := k.refresh(ctx, true); rerr != nil && !errors.Is(rerr, errRateLimited) {
		return nil, rerr
	}
	return k.lookup(ctx, t)
}

func (k *keyring) lookup(ctx context.Context, t *jwt.Token) (any, error) {
	k.mu.Lock()
	set := k.set
	k.mu.Unlock()
	if set == nil {
		return nil, ErrKeysUnavailable
	}
	pub, err := set.KeyfuncCtx(ctx)(t)
	switch {
	case err == nil:
		return pub, nil
	case errors.Is(err, jwkset.ErrKeyNotFound):
		return nil, fmt.Errorf("%w: kid %v: %w", ErrUnknownKey, t.Header["kid"], jwkset.ErrKeyNotFound)
	case strings.Contains(err.Error(), `"alg"`):
		return nil, fmt.Errorf("%w: %v", ErrAlgorithm, err)
	default:
		return nil, fmt.Errorf("%w: %v", ErrUnknownKey, err)
	}
}

var errRateLimited = errors.New("key set fetched too recently")

// refresh fetches the key set; forUnknownKID fetches are rate-limited by
// MinRefreshInterval.
func (k *keyring) refresh(ctx context.Context, forUnknownKID bool) error {
	k.mu.Lock()
	if f := k.flight; f != nil {
		k.mu.Unlock()
		select {
		case <-f.done:
			return f.err
		case <-ctx.Done():
			return fmt.Errorf("%w: %v", ErrKeysUnavailable, ctx.Err())
		}
	}
	now := k.cfg.Now()
	if !k.failed.IsZero() && now.Sub(k.failed) < retryAfterFailure {
		k.mu.Unlock()
		return fmt.Errorf("%w: the last fetch failed moments ago", ErrKeysUnavailable)
	}
	if forUnknownKID && !k.tried.IsZero() && now.Sub(k.tried) < k.cfg.MinRefreshInterval {
		k.mu.Unlock()
		return errRateLimited
	}
	if forUnknownKID {
		k.tried = now
	}
	f := &flight{done: make(chan struct{})}
	k.flight = f
	k.mu.Unlock()

	set, err := k.load(ctx)
	k.mu.Lock()
	k.flight = nil
	if err != nil {
		k.failed = k.cfg.Now()
		f.err = fmt.Errorf("%w: %v", ErrKeysUnavailable, err)
		k.cfg.Logger.WarnContext(ctx, "identity: fetching the issuer's keys failed", "issuer", k.cfg.Issuer, "error", err.Error())
	} else {
		k.set, k.fetched, k.failed = set, k.cfg.Now(), time.Time{}
		k.cfg.Logger.DebugContext(ctx, "identity: fetched the issuer's keys", "issuer", k.cfg.Issuer, "keys", keyCount(ctx, set))
	}
	k.mu.Unlock()
	close(f.done)
	return f.err
}

// load fetches and parses the key set. Keys the set cannot describe (an
// unknown type, an encryption key) are skipped; a set with no usable key
// is an error.
func (k *keyring) load(ctx context.Context) (keyfunc.Keyfunc, error) {
	doc, err := k.src.JWKS(ctx)
	if err != nil {
		return nil, err
	}
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &raw); err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	store := jwkset.NewMemoryStorage()
	n := 0
	for _, r := range raw.Keys {
		j, err := jwkset.NewJWKFromRawJSON(r, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil || j.Marshal().KID == "" {
			continue
		}
		if err := store.KeyWrite(ctx, j); err != nil {
			return nil, err
		}
		n++
	}
	if n == 0 {
		return nil, errors.New("key set has no usable key")
	}
	// Keys without a "use" are signing keys too.
	return keyfunc.New(keyfunc.Options{Storage: store, UseWhitelist: []jwkset.USE{jwkset.UseSig, ""}})
}

func keyCount(ctx context.Context, set keyfunc.Keyfunc) int {
	all, _ := set.Storage().KeyReadAll(ctx)
	return len(all)
}
