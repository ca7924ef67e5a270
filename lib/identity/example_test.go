package identity_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/threefactor/framework/lib/identity"
)

// The claims API Gateway's JWT authorizer hands the GraphQL function
// become the caller of the request; resolvers read it from the context.
func ExampleFromClaims() {
	claims := map[string]string{ // requestContext.authorizer.jwt.claims
		"sub": "alice", "iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc",
		"exp": "1800000000", "cognito:groups": "[restaurant]", "custom:restaurantId": "r-pizza",
	}
	ctx := identity.With(context.Background(), identity.FromClaims(claims))

	id, ok := identity.From(ctx)
	fmt.Println(ok, id.Subject, id.InGroup("restaurant"), id.Claim("custom:restaurantId"), id.Expires.Unix())
	// Output: true alice true r-pizza 1800000000
}

// A WebSocket client sends its token in connection_init.
func ExampleTokenFromInit() {
	tok, err := identity.TokenFromInit(json.RawMessage(`{"Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}`))
	fmt.Println(tok, err)
	_, err = identity.TokenFromInit(json.RawMessage(`{}`))
	fmt.Println(errors.Is(err, identity.ErrNoToken), errors.Is(err, identity.ErrUnauthenticated))
	// Output:
	// eyJhbGciOiJSUzI1NiJ9.e30.c2ln <nil>
	// true true
}

// A refusal says why in API Gateway's words, for www-authenticate.
func ExampleDescription() {
	err := fmt.Errorf("connection_init: %w", identity.ErrAudience)
	fmt.Println(identity.Description(err))
	// Output: the token does not have a valid audience
}
