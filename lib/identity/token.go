package identity

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// MaxTokenBytes bounds a token: longer ones are refused unread. API
// Gateway refuses request headers over 10 KB.
const MaxTokenBytes = 10 * 1024

// BearerToken reads a token from an Authorization value, as API
// Gateway's JWT authorizer reads its identity source: the token alone or
// after "Bearer " (the scheme in any case). "" with ErrNoToken when there
// is none.
func BearerToken(authorization string) (string, error) {
	v := strings.TrimSpace(authorization)
	if v == "" || strings.EqualFold(v, "Bearer") {
		return "", ErrNoToken
	}
	if scheme, rest, ok := strings.Cut(v, " "); ok {
		if !strings.EqualFold(scheme, "Bearer") {
			return "", fmt.Errorf("%w: the Authorization scheme is not Bearer", ErrMalformed)
		}
		v = strings.TrimSpace(rest)
	}
	switch {
	case v == "":
		return "", ErrNoToken
	case len(v) > MaxTokenBytes:
		return "", fmt.Errorf("%w: the token is over %d bytes", ErrMalformed, MaxTokenBytes)
	case strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r > '~' }):
		return "", fmt.Errorf("%w: the token has a character no JWT has", ErrMalformed)
	}
	return v, nil
}

// The connection_init payload keys a token may come in.
const (
	// InitAuthorization is {"Authorization": "Bearer <jwt>"}, the key in
	// any case: what a client sends as an HTTP header, sent again.
	InitAuthorization = "Authorization"
	// InitAuthToken is {"authToken": "<jwt>"}, with or without "Bearer ".
	InitAuthToken = "authToken"
)

// TokenFromInit reads the token of a graphql-transport-ws connection_init
// payload: {"Authorization": "Bearer <jwt>"} (the key in any case) or
// {"authToken": "<jwt>"} (with or without "Bearer "). ErrNoToken when
// the payload has neither; ErrMalformed when it is not an object, or
// holds two different tokens.
func TokenFromInit(payload json.RawMessage) (string, error) {
	p := bytes.TrimSpace(payload)
	if len(p) == 0 || bytes.Equal(p, []byte("null")) {
		return "", ErrNoToken
	}
	if p[0] != '{' {
		return "", fmt.Errorf("%w: the connection_init payload is not an object", ErrMalformed)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(p, &fields); err != nil {
		return "", fmt.Errorf("%w: the connection_init payload is not a JSON object", ErrMalformed)
	}
	token := ""
	for k, raw := range fields {
		if !strings.EqualFold(k, InitAuthorization) && k != InitAuthToken {
			continue
		}
		v, ok := jsonString(raw)
		if !ok {
			return "", fmt.Errorf("%w: %s is not a string", ErrMalformed, k)
		}
		t, err := BearerToken(v)
		if errors.Is(err, ErrNoToken) {
			continue
		}
		if err != nil {
			return "", err
		}
		if token != "" && t != token {
			return "", fmt.Errorf("%w: the connection_init payload holds two different tokens", ErrMalformed)
		}
		token = t
	}
	if token == "" {
		return "", ErrNoToken
	}
	return token, nil
}

// jsonString decodes a JSON string value of a document json.Unmarshal
// already validated; one without escapes (every JWT) is used as it is.
func jsonString(raw json.RawMessage) (string, bool) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	var v string
	err := json.Unmarshal(raw, &v)
	return v, err == nil
}
