// Package devissuer is the local OpenID Connect issuer of the dev
// runtime: it mints tokens the way a Cognito user pool does (groups in
// cognito:groups, aud the app client id), serves its discovery document
// and key set, and keeps its identity and signing keys under the state
// directory (.dev/issuer.json) so that tokens minted for one `make dev`
// stay valid across restarts and whatever port it serves on.
//
// The issuer string does not depend on the port:
// https://dev.threefactor.local/<app>. Nothing resolves that name: the
// dev runtime's verifier reads the keys in process (Issuer implements
// identity.KeySource), and the dev server serves them at
// /.well-known/jwks.json for other clients.
//
// Keys are RSA (RS256), the only kind API Gateway's JWT authorizer
// accepts, so that what works locally works on AWS.
package devissuer

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/threefactor/framework/lib/identity"
)

// File is the issuer's file in the state directory. It holds private
// keys: the state directory is git-ignored and the file is mode 0600.
const File = "issuer.json"

// IssuerPrefix starts every local issuer string; the app's name ends it.
const IssuerPrefix = "https://dev.threefactor.local/"

// DefaultTTL is a minted token's lifetime when Options.TTL is zero.
const DefaultTTL = 12 * time.Hour

// MaxKeys is how many keys the issuer keeps after rotations (the newest
// signs; the older ones still verify the tokens they signed).
const MaxKeys = 3

// Paths the dev server serves the issuer at.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/.well-known/jwks.json"
)

// rsaBits is the size of generated keys.
const rsaBits = 2048

// state is what File holds.
type state struct {
	Issuer   string      `json:"issuer"`
	ClientID string      `json:"clientId"`
	Keys     []storedKey `json:"keys"`
}

type storedKey struct {
	KID     string    `json:"kid"`
	Alg     string    `json:"alg"`
	Created time.Time `json:"created"`
	// PrivateKey is PKCS #8, PEM-encoded.
	PrivateKey string `json:"privateKey"`
}

// Issuer is the local issuer of one state directory. It is safe for
// concurrent use; the file is read again when another process (a token
// command, a test) changed it.
type Issuer struct {
	path string
	mu   sync.Mutex
	st   state
	keys map[string]*rsa.PrivateKey
	fi   fs.FileInfo // of the file last read
}

var appName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Open is the issuer recorded in stateDir, created (with its first key
// and a client id) when there is none: for app, which names it.
func Open(stateDir, app string) (*Issuer, error) {
	path := filepath.Join(stateDir, File)
	i := &Issuer{path: path}
	err := i.load()
	if errors.Is(err, fs.ErrNotExist) {
		err = create(stateDir, path, app)
		if err == nil {
			err = i.load()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("dev issuer: %w", err)
	}
	return i, nil
}

// create writes a new issuer file, unless another process got there
// first (the file is linked into place, which fails when it exists).
func create(dir, path, app string) error {
	if !appName.MatchString(app) {
		return fmt.Errorf("app name %q: want lower case letters, digits and dashes", app)
	}
	k, err := newKey()
	if err != nil {
		return err
	}
	st := state{Issuer: IssuerPrefix + app, ClientID: randomHex(13), Keys: []storedKey{k}}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := writeTemp(dir, st)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return nil
}

func writeTemp(dir string, st state) (string, error) {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, File+".*")
	if err != nil {
		return "", err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

func newKey() (storedKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, rsaBits)
	if err != nil {
		return storedKey{}, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return storedKey{}, err
	}
	return storedKey{
		KID:        "dev-" + randomHex(8),
		Alg:        jwt.SigningMethodRS256.Alg(),
		Created:    time.Now().UTC(),
		PrivateKey: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
	}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// load reads the file when it changed since the last read.
func (i *Issuer) load() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.loadLocked()
}

func (i *Issuer) loadLocked() error {
	fi, err := os.Stat(i.path)
	if err != nil {
		return err
	}
	// Writers replace the file (a rename), so a new inode is a new file.
	if i.fi != nil && os.SameFile(i.fi, fi) && fi.ModTime().Equal(i.fi.ModTime()) && fi.Size() == i.fi.Size() {
		return nil
	}
	b, err := os.ReadFile(i.path)
	if err != nil {
		return err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("%s: %w", i.path, err)
	}
	if !strings.HasPrefix(st.Issuer, IssuerPrefix) || st.ClientID == "" || len(st.Keys) == 0 {
		return fmt.Errorf("%s: not an issuer file (delete it to start a new issuer)", i.path)
	}
	keys := make(map[string]*rsa.PrivateKey, len(st.Keys))
	for _, k := range st.Keys {
		blk, _ := pem.Decode([]byte(k.PrivateKey))
		if blk == nil {
			return fmt.Errorf("%s: key %s is not PEM", i.path, k.KID)
		}
		p, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return fmt.Errorf("%s: key %s: %w", i.path, k.KID, err)
		}
		rk, ok := p.(*rsa.PrivateKey)
		if !ok || k.Alg != jwt.SigningMethodRS256.Alg() {
			return fmt.Errorf("%s: key %s is not an RS256 key", i.path, k.KID)
		}
		keys[k.KID] = rk
	}
	i.st, i.keys, i.fi = st, keys, fi
	return nil
}

// Issuer is the issuer string: the iss of every token.
func (i *Issuer) Issuer() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.st.Issuer
}

// ClientID is the local app client id: the aud of every token.
func (i *Issuer) ClientID() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.st.ClientID
}

// Path is the issuer's file.
func (i *Issuer) Path() string { return i.path }

// VerifierConfig configures a verifier of this issuer's tokens that reads
// the keys in process: Issuer, Audience (the client id) and Keys.
func (i *Issuer) VerifierConfig() identity.Config {
	return identity.Config{Issuer: i.Issuer(), Audience: []string{i.ClientID()}, Keys: i}
}

// Options say what token Mint makes.
type Options struct {
	// App names the issuer when the state directory has none yet.
	App string
	// Subject is the sub claim: the user. Required.
	Subject string
	// Groups go in cognito:groups, as a Cognito user pool puts them.
	Groups []string
	// Claims are more claims, e.g. "custom:restaurantId". They cannot
	// replace the ones Mint sets.
	Claims map[string]any
	// TTL is the token's lifetime. Default DefaultTTL.
	TTL time.Duration
	// Audience is the aud claim. Default the issuer's client id.
	Audience string
	// Now is the time the token is issued at. Default time.Now.
	Now func() time.Time
}

// reserved are the claims Mint sets itself.
var reserved = []string{"iss", "sub", "aud", "exp", "iat", "nbf", "auth_time", "jti", "token_use", "cognito:username", identity.DefaultGroupsClaim}

// Mint signs a token with the newest key, shaped like a Cognito ID token.
func (i *Issuer) Mint(o Options) (string, error) {
	sub := strings.TrimSpace(o.Subject)
	switch {
	case sub == "":
		return "", errors.New("dev issuer: a token needs a subject (the user)")
	case len(sub) > 128:
		return "", errors.New("dev issuer: the subject is over 128 characters")
	case o.TTL < 0:
		return "", fmt.Errorf("dev issuer: negative lifetime %s", o.TTL)
	}
	ttl := o.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	now := time.Now()
	if o.Now != nil {
		now = o.Now()
	}
	i.mu.Lock()
	if err := i.loadLocked(); err != nil {
		i.mu.Unlock()
		return "", fmt.Errorf("dev issuer: %w", err)
	}
	st := i.st
	signing := st.Keys[len(st.Keys)-1]
	priv := i.keys[signing.KID]
	i.mu.Unlock()

	aud := o.Audience
	if aud == "" {
		aud = st.ClientID
	}
	claims := jwt.MapClaims{}
	for k, v := range o.Claims {
		for _, r := range reserved {
			if k == r {
				return "", fmt.Errorf("dev issuer: claim %q is set by the issuer", k)
			}
		}
		claims[k] = v
	}
	claims["iss"] = st.Issuer
	claims["sub"] = sub
	claims["aud"] = aud
	claims["iat"] = now.Unix()
	claims["auth_time"] = now.Unix()
	claims["exp"] = now.Add(ttl).Unix()
	claims["jti"] = randomHex(16)
	claims["token_use"] = "id"
	claims["cognito:username"] = sub
	if len(o.Groups) > 0 {
		claims[identity.DefaultGroupsClaim] = o.Groups
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = signing.KID
	s, err := t.SignedString(priv)
	if err != nil {
		return "", fmt.Errorf("dev issuer: sign: %w", err)
	}
	return s, nil
}

// Mint mints a token with the issuer of stateDir (created for o.App when
// there is none): what `make token` runs.
func Mint(stateDir string, o Options) (string, error) {
	i, err := Open(stateDir, o.App)
	if err != nil {
		return "", err
	}
	return i.Mint(o)
}

// Rotate adds a new signing key and returns its id; the previous keys
// (up to MaxKeys in all) keep verifying the tokens they signed. A running
// dev runtime picks the new key up without a restart when a token names
// it.
func (i *Issuer) Rotate() (string, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if err := i.loadLocked(); err != nil {
		return "", fmt.Errorf("dev issuer: %w", err)
	}
	k, err := newKey()
	if err != nil {
		return "", err
	}
	st := i.st
	st.Keys = append(append([]storedKey(nil), st.Keys...), k)
	if len(st.Keys) > MaxKeys {
		st.Keys = st.Keys[len(st.Keys)-MaxKeys:]
	}
	tmp, err := writeTemp(filepath.Dir(i.path), st)
	if err != nil {
		return "", fmt.Errorf("dev issuer: %w", err)
	}
	if err := os.Rename(tmp, i.path); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("dev issuer: %w", err)
	}
	i.fi = nil // read it again
	if err := i.loadLocked(); err != nil {
		return "", fmt.Errorf("dev issuer: %w", err)
	}
	return k.KID, nil
}

// JWKS is the public key set (identity.KeySource), read again from the
// file when it changed.
func (i *Issuer) JWKS(ctx context.Context) ([]byte, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if err := i.loadLocked(); err != nil {
		return nil, fmt.Errorf("dev issuer: %w", err)
	}
	set := jwkset.JWKSMarshal{Keys: make([]jwkset.JWKMarshal, 0, len(i.st.Keys))}
	for _, k := range i.st.Keys {
		j, err := jwkset.NewJWKFromKey(&i.keys[k.KID].PublicKey, jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{KID: k.KID, ALG: jwkset.AlgRS256, USE: jwkset.UseSig},
		})
		if err != nil {
			return nil, fmt.Errorf("dev issuer: key %s: %w", k.KID, err)
		}
		set.Keys = append(set.Keys, j.Marshal())
	}
	return json.Marshal(set)
}

// KeyIDs are the ids of the published keys, the signing one last.
func (i *Issuer) KeyIDs() []string {
	i.mu.Lock()
	defer i.mu.Unlock()
	_ = i.loadLocked()
	ids := make([]string, len(i.st.Keys))
	for n, k := range i.st.Keys {
		ids[n] = k.KID
	}
	return ids
}

// JWKSHandler serves the key set (GET JWKSPath).
func (i *Issuer) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := i.JWKS(r.Context())
		if err != nil {
			http.Error(w, "the issuer's keys are unreadable", http.StatusInternalServerError)
			return
		}
		writeJSON(w, b)
	})
}

// DiscoveryHandler serves the OpenID Connect discovery document (GET
// DiscoveryPath); its jwks_uri is on the host the request came to.
func (i *Issuer) DiscoveryHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		b, _ := json.Marshal(map[string]any{
			"issuer":                                i.Issuer(),
			"jwks_uri":                              scheme + "://" + r.Host + JWKSPath,
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{jwt.SigningMethodRS256.Alg()},
			"claims_supported":                      []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "jti", "token_use", "cognito:username", identity.DefaultGroupsClaim},
		})
		writeJSON(w, b)
	})
}

func writeJSON(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}
