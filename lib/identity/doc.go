// Package identity is who calls: the verified caller of a request, a
// WebSocket connection or a function run, read by resolvers and functions
// through From, and the verification of the OpenID Connect JWTs that
// prove it.
//
// On AWS, API Gateway's HTTP API JWT authorizer verifies the token of
// every /graphql request and hands its claims to the GraphQL function
// (requestContext.authorizer.jwt.claims), where FromClaims reads them.
// The WebSocket API has no such authorizer for graphql-transport-ws: the
// token arrives in the connection_init payload (TokenFromInit) and the
// realtime function verifies it with a Verifier, by the same rules:
// RS256 or ES256 only, iss equal to AUTH_ISSUER, aud holding one of
// AUTH_AUDIENCE (or, without aud, client_id being one), exp, nbf and iat
// with a small leeway, keys from the issuer's JWKS (AUTH_JWKS_URL, or
// discovered), fetched again when a token names a key id they lack, so
// that a key rotation needs no restart. Locally the dev runtime plays
// both parts with its own issuer (package devissuer).
//
//	v, err := identity.VerifierFromEnv(os.Getenv)
//	id, err := v.Verify(ctx, token) // errors.Is(err, identity.ErrUnauthenticated): refuse
//	ctx = identity.With(ctx, id)
//	...
//	if id, ok := identity.From(ctx); ok && id.InGroup("restaurant") { ... }
//
// An Identity's Claims are flat strings, as API Gateway renders them
// ("[a b]" for an array), on both paths, so code reads them the same way
// wherever it runs. Never log a token or claims: log id.Subject.
package identity
