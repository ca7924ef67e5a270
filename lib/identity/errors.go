package identity

import "errors"

// ErrUnauthenticated is what every refusal of a token is (errors.Is holds
// for each Err* reason below): the caller's fault, answered with 401 over
// HTTP and close 4403 over WebSocket. A Verify error that is not one is
// the server's (the issuer's keys could not be fetched).
var ErrUnauthenticated = errors.New("unauthenticated")

// reason is one way a token can be refused. Its text is the description
// API Gateway's JWT authorizer puts in the www-authenticate header; AWS
// publishes "the token does not have a valid audience", and the others
// follow its wording.
type reason struct{ text string }

func (r *reason) Error() string { return r.text }

// Is makes errors.Is(err, ErrUnauthenticated) hold for every reason.
func (r *reason) Is(target error) bool { return target == ErrUnauthenticated }

// Why a token was refused; test with errors.Is.
var (
	// ErrNoToken: the request carries no token at all.
	ErrNoToken error = &reason{"no token"}
	// ErrMalformed: not a JWT, or one without a claim the framework needs.
	ErrMalformed error = &reason{"the token is malformed"}
	// ErrAlgorithm: signed with an algorithm other than RS256 or ES256
	// (none and HS256 included).
	ErrAlgorithm error = &reason{"the token is not signed with an allowed algorithm"}
	// ErrUnknownKey: signed with a key the issuer does not publish.
	ErrUnknownKey error = &reason{"the token is signed by an unknown key"}
	// ErrSignature: the signature does not verify.
	ErrSignature error = &reason{"the token signature is invalid"}
	// ErrIssuer: iss is not the configured issuer.
	ErrIssuer error = &reason{"the token does not have a valid issuer"}
	// ErrAudience: neither aud nor (without aud) client_id is one of the
	// configured audiences.
	ErrAudience error = &reason{"the token does not have a valid audience"}
	// ErrExpired: exp has passed.
	ErrExpired error = &reason{"the token has expired"}
	// ErrNotYetValid: nbf or iat is in the future.
	ErrNotYetValid error = &reason{"the token is not valid yet"}
)

// ErrKeysUnavailable says the issuer's keys could not be fetched: the
// token was neither accepted nor refused. It is not ErrUnauthenticated.
var ErrKeysUnavailable = errors.New("the issuer's signing keys are unavailable")

// Description is the reason err gives for refusing a token, as API
// Gateway words it in www-authenticate's error_description; "" for no
// token at all (API Gateway then names only the scheme) and for errors
// that are not a refusal.
func Description(err error) string {
	var r *reason
	if !errors.As(err, &r) || r == ErrNoToken {
		return ""
	}
	return r.text
}
