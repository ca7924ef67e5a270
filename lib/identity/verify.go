package identity

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/threefactor/framework/lib/topology"
)

// Defaults of Config's zero values.
const (
	// DefaultLeeway absorbs clock skew between the issuer and the
	// verifier in exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// DefaultRefreshInterval is how old the key set may grow before it is
	// fetched again (API Gateway caches keys for up to two hours).
	DefaultRefreshInterval = time.Hour
	// DefaultMinRefreshInterval is the least time between two fetches of
	// the key set for tokens naming a key it does not hold, so that
	// tokens with made-up key ids cannot make the verifier hammer the
	// issuer.
	DefaultMinRefreshInterval = time.Minute
	// DefaultCacheSize is how many verified tokens are remembered.
	DefaultCacheSize = 1024
	// DefaultCacheTTL bounds how long a verified token is remembered, so
	// that a key the issuer withdraws stops being honoured soon.
	DefaultCacheTTL = 5 * time.Minute
)

// Algorithms are the signing algorithms a token may use.
var Algorithms = []string{"RS256", "ES256"}

// Config configures a Verifier. Issuer and Audience are required; every
// other zero value is a default.
type Config struct {
	// Issuer is the token's required iss, exactly (AUTH_ISSUER).
	Issuer string
	// Audience lists the accepted audiences (AUTH_AUDIENCE): a token's
	// aud must hold one of them or, when it has no aud, its client_id
	// must be one (Cognito access tokens), as API Gateway's JWT
	// authorizer decides.
	Audience []string
	// JWKSURL is where the issuer's keys are (AUTH_JWKS_URL). Empty:
	// discovered at Issuer + "/.well-known/openid-configuration".
	JWKSURL string
	// Keys, when set, is where the keys come from instead of JWKSURL: an
	// in-process key source, such as the dev runtime's own issuer.
	Keys KeySource
	// Mapping reads the identity from the claims (AUTH_GROUPS_CLAIM).
	Mapping Mapping
	// Leeway is the clock skew tolerated in exp, nbf and iat. Default
	// DefaultLeeway.
	Leeway time.Duration
	// RefreshInterval is the age at which the key set is fetched again.
	// Default DefaultRefreshInterval.
	RefreshInterval time.Duration
	// MinRefreshInterval is the least time between fetches caused by
	// unknown key ids. Default DefaultMinRefreshInterval.
	MinRefreshInterval time.Duration
	// CacheSize is how many verified tokens are remembered until they
	// expire (at most CacheTTL). Default DefaultCacheSize; negative: none.
	CacheSize int
	// CacheTTL bounds how long a verified token is remembered. Default
	// DefaultCacheTTL.
	CacheTTL time.Duration
	// HTTPClient fetches the discovery document and the key set. Default:
	// a client with a 10-second timeout.
	HTTPClient *http.Client
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger notes key set fetches and their failures. Default
	// slog.Default().
	Logger *slog.Logger
}

// Validate reports what is missing or wrong.
func (c Config) Validate() error {
	var errs []error
	if c.Issuer == "" {
		errs = append(errs, errors.New("identity: no issuer"))
	}
	if len(c.Audience) == 0 || slices.Contains(c.Audience, "") {
		errs = append(errs, errors.New("identity: no audience (or an empty one)"))
	}
	if c.Leeway < 0 || c.RefreshInterval < 0 || c.MinRefreshInterval < 0 || c.CacheTTL < 0 {
		errs = append(errs, errors.New("identity: negative duration"))
	}
	if c.Keys == nil && c.JWKSURL == "" && c.Issuer != "" {
		if err := checkURL(c.Issuer); err != nil {
			errs = append(errs, fmt.Errorf("identity: issuer %q cannot be discovered: %w", c.Issuer, err))
		}
	}
	if c.Keys == nil && c.JWKSURL != "" {
		if err := checkURL(c.JWKSURL); err != nil {
			errs = append(errs, fmt.Errorf("identity: JWKS URL: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Leeway == 0 {
		c.Leeway = DefaultLeeway
	}
	if c.RefreshInterval == 0 {
		c.RefreshInterval = DefaultRefreshInterval
	}
	if c.MinRefreshInterval == 0 {
		c.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = DefaultCacheTTL
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// ConfigFromEnv reads a Config from topology.EnvAuthIssuer,
// EnvAuthAudience (comma-separated), EnvAuthJWKSURL and
// EnvAuthGroupsClaim; the error names every required variable not set.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Issuer:  strings.TrimSpace(getenv(topology.EnvAuthIssuer)),
		JWKSURL: strings.TrimSpace(getenv(topology.EnvAuthJWKSURL)),
		Mapping: MappingFromEnv(getenv),
	}
	for _, a := range strings.Split(getenv(topology.EnvAuthAudience), ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.Audience = append(c.Audience, a)
		}
	}
	var missing []error
	if c.Issuer == "" {
		missing = append(missing, fmt.Errorf("%s is not set", topology.EnvAuthIssuer))
	}
	if len(c.Audience) == 0 {
		missing = append(missing, fmt.Errorf("%s is not set", topology.EnvAuthAudience))
	}
	return c, errors.Join(missing...)
}

// VerifierFromEnv is a Verifier configured by ConfigFromEnv.
func VerifierFromEnv(getenv func(string) string) (*Verifier, error) {
	c, err := ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	return NewVerifier(c)
}

// Verifier checks OIDC JWTs against one issuer and its audiences, the way
// API Gateway's HTTP API JWT authorizer does, and reads the caller's
// Identity from them. It is safe for concurrent use.
type Verifier struct {
	cfg    Config
	parser *jwt.Parser
	keys   *keyring
	cache  *cache
}

// NewVerifier checks cfg and returns a Verifier. Nothing is fetched until
// the first token arrives.
func NewVerifier(cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	src := cfg.Keys
	if src == nil {
		if cfg.JWKSURL != "" {
			src = HTTPKeys(cfg.JWKSURL, cfg.HTTPClient)
		} else {
			src = DiscoveredKeys(cfg.Issuer, cfg.HTTPClient)
		}
	}
	v := &Verifier{
		cfg: cfg,
		parser: jwt.NewParser(
			jwt.WithValidMethods(Algorithms),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithJSONNumber(),
			jwt.WithTimeFunc(cfg.Now),
		),
		keys: newKeyring(src, cfg),
	}
	if cfg.CacheSize > 0 {
		v.cache = newCache(cfg.CacheSize)
	}
	return v, nil
}

// Issuer is the issuer tokens must come from.
func (v *Verifier) Issuer() string { return v.cfg.Issuer }

// Verify checks a token (without "Bearer ") and returns its caller. A
// refusal is ErrUnauthenticated (and one of the Err* reasons, for
// Description); ErrKeysUnavailable says the keys could not be fetched.
func (v *Verifier) Verify(ctx context.Context, token string) (Identity, error) {
	if token == "" {
		return Identity{}, ErrNoToken
	}
	if len(token) > MaxTokenBytes {
		return Identity{}, fmt.Errorf("%w: the token is over %d bytes", ErrMalformed, MaxTokenBytes)
	}
	var key [sha256.Size]byte
	now := v.cfg.Now()
	if v.cache != nil {
		key = sha256.Sum256([]byte(token))
		if id, ok := v.cache.get(key, now); ok {
			return id, nil
		}
	}
	id, err := v.verify(ctx, token)
	if err != nil {
		return Identity{}, err
	}
	if v.cache != nil {
		// Remembered no longer than a fresh verification would accept it.
		until := now.Add(v.cfg.CacheTTL)
		if exp := id.Expires.Add(v.cfg.Leeway); exp.Before(until) {
			until = exp
		}
		v.cache.put(key, id, until, now)
	}
	return id, nil
}

// VerifyUncached is Verify without the cache of verified tokens: every
// call parses the token and checks its signature.
func (v *Verifier) VerifyUncached(ctx context.Context, token string) (Identity, error) {
	if token == "" {
		return Identity{}, ErrNoToken
	}
	if len(token) > MaxTokenBytes {
		return Identity{}, fmt.Errorf("%w: the token is over %d bytes", ErrMalformed, MaxTokenBytes)
	}
	return v.verify(ctx, token)
}

func (v *Verifier) verify(ctx context.Context, token string) (Identity, error) {
	claims := jwt.MapClaims{}
	var keyErr error
	_, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); kid == "" {
			keyErr = fmt.Errorf("%w: the token has no kid", ErrMalformed)
			return nil, keyErr
		}
		k, err := v.keys.key(ctx, t)
		keyErr = err
		return k, err
	})
	if err != nil {
		return Identity{}, v.refusal(err, keyErr, claims)
	}
	if err := v.checkAudience(claims); err != nil {
		return Identity{}, err
	}
	flat := FlattenClaims(claims)
	if flat["sub"] == "" {
		return Identity{}, fmt.Errorf("%w: the token has no sub", ErrMalformed)
	}
	return v.cfg.Mapping.Identity(flat), nil
}

// refusal maps the parser's error to a reason. Claims are checked in API
// Gateway's order: issuer, audience, then exp, nbf and iat.
func (v *Verifier) refusal(err, keyErr error, claims jwt.MapClaims) error {
	switch {
	case keyErr != nil:
		return keyErr
	case errors.Is(err, jwt.ErrTokenSignatureInvalid) && strings.Contains(err.Error(), "signing method"):
		return fmt.Errorf("%w: %v", ErrAlgorithm, err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return fmt.Errorf("%w: %v", ErrSignature, err)
	case !errors.Is(err, jwt.ErrTokenInvalidClaims):
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if iss, _ := claims["iss"].(string); iss != v.cfg.Issuer {
		return fmt.Errorf("%w: iss %q", ErrIssuer, iss)
	}
	if err := v.checkAudience(claims); err != nil {
		return err
	}
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return fmt.Errorf("%w: %v", ErrExpired, err)
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return fmt.Errorf("%w: %v", ErrNotYetValid, err)
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}

// checkAudience applies API Gateway's rule: aud, when present, must hold
// one of the audiences; without aud, client_id must be one.
func (v *Verifier) checkAudience(claims jwt.MapClaims) error {
	aud, err := claims.GetAudience()
	if err != nil {
		return fmt.Errorf("%w: aud: %v", ErrMalformed, err)
	}
	if len(aud) > 0 {
		for _, a := range aud {
			if slices.Contains(v.cfg.Audience, a) {
				return nil
			}
		}
		return ErrAudience
	}
	if cid, ok := claims["client_id"].(string); ok && slices.Contains(v.cfg.Audience, cid) {
		return nil
	}
	return ErrAudience
}

// cache remembers verified tokens by their SHA-256 until a deadline.
type cache struct {
	mu  sync.RWMutex
	max int
	m   map[[sha256.Size]byte]cacheEntry
}

type cacheEntry struct {
	id    Identity
	until time.Time
}

func newCache(max int) *cache {
	return &cache{max: max, m: make(map[[sha256.Size]byte]cacheEntry, max)}
}

func (c *cache) get(k [sha256.Size]byte, now time.Time) (Identity, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return Identity{}, false
	}
	return e.id, true
}

func (c *cache) put(k [sha256.Size]byte, id Identity, until, now time.Time) {
	if !now.Before(until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for key, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, key)
			}
		}
		// Still full: forget a quarter, chosen by map order (random).
		for key := range c.m {
			if len(c.m) < c.max*3/4 {
				break
			}
			delete(c.m, key)
		}
	}
	c.m[k] = cacheEntry{id: id, until: until}
}
