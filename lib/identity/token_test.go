package identity_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/threefactor/framework/lib/identity"
)

const jwtLike = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"

func TestTokenFromInit(t *testing.T) {
	tests := []struct {
		payload string
		token   string
		err     error
	}{
		{`{"Authorization":"Bearer ` + jwtLike + `"}`, jwtLike, nil},
		{`{"authorization":"bearer ` + jwtLike + `"}`, jwtLike, nil},
		{`{"AUTHORIZATION":"Bearer   ` + jwtLike + `  "}`, jwtLike, nil},
		{`{"Authorization":"` + jwtLike + `"}`, jwtLike, nil},
		{`{"authToken":"` + jwtLike + `"}`, jwtLike, nil},
		{`{"authToken":"Bearer ` + jwtLike + `"}`, jwtLike, nil},
		{`{"authToken":"` + jwtLike + `","Authorization":"Bearer ` + jwtLike + `"}`, jwtLike, nil},
		{`{"Authorization":"Bearer ` + jwtLike + `","other":1}`, jwtLike, nil},
		{``, "", identity.ErrNoToken},
		{`null`, "", identity.ErrNoToken},
		{`{}`, "", identity.ErrNoToken},
		{`{"Authorization":""}`, "", identity.ErrNoToken},
		{`{"Authorization":"Bearer "}`, "", identity.ErrNoToken},
		{`{"AuthToken":"` + jwtLike + `"}`, "", identity.ErrNoToken}, // authToken is case-sensitive
		{`{"Authorization":"Basic dXNlcjpwYXNz"}`, "", identity.ErrMalformed},
		{`{"Authorization":42}`, "", identity.ErrMalformed},
		{`{"Authorization":"Bearer a b"}`, "", identity.ErrMalformed},
		{`{"authToken":"a","Authorization":"Bearer b"}`, "", identity.ErrMalformed},
		{`["Bearer x"]`, "", identity.ErrMalformed},
		{`{"Authorization":"Bearer ` + strings.Repeat("a", identity.MaxTokenBytes+1) + `"}`, "", identity.ErrMalformed},
		{`{"Authorization":"Bearer tok\u0000en"}`, "", identity.ErrMalformed},
		{`{"Authorization`, "", identity.ErrMalformed},
	}
	for _, tt := range tests {
		got, err := identity.TokenFromInit(json.RawMessage(tt.payload))
		if got != tt.token || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			name := tt.payload
			if len(name) > 80 {
				name = name[:80] + "..."
			}
			t.Errorf("TokenFromInit(%s) = %q, %v; want %q, %v", name, got, err, tt.token, tt.err)
		}
	}
}

func TestBearerToken(t *testing.T) {
	for in, want := range map[string]string{"Bearer abc": "abc", "abc": "abc", "BEARER  abc ": "abc"} {
		if got, err := identity.BearerToken(in); got != want || err != nil {
			t.Errorf("BearerToken(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := identity.BearerToken(""); !errors.Is(err, identity.ErrNoToken) {
		t.Errorf("empty: %v", err)
	}
	if _, err := identity.BearerToken("Digest abc"); !errors.Is(err, identity.ErrMalformed) {
		t.Errorf("Digest: %v", err)
	}
}

// FuzzTokenFromInit holds the extraction to its contract on any payload:
// it never panics; what it returns is a plausible token (non-empty, no
// space or control character, within MaxTokenBytes) or an
// ErrUnauthenticated reason; and a token it returns comes back the same
// when sent in either documented form. The seed corpus in
// testdata/fuzz/FuzzTokenFromInit runs with every go test.
func FuzzTokenFromInit(f *testing.F) {
	f.Add([]byte(`{"Authorization":"Bearer ` + jwtLike + `"}`))
	f.Add([]byte(`{"authToken":"` + jwtLike + `"}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		tok, err := identity.TokenFromInit(payload)
		if err != nil {
			if tok != "" || !errors.Is(err, identity.ErrUnauthenticated) {
				t.Fatalf("TokenFromInit(%q) = %q, %v", payload, tok, err)
			}
			return
		}
		if tok == "" || len(tok) > identity.MaxTokenBytes || strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r > '~' }) {
			t.Fatalf("TokenFromInit(%q) = %q: not a plausible token", payload, tok)
		}
		for _, form := range []map[string]string{{"Authorization": "Bearer " + tok}, {"authToken": tok}} {
			b, _ := json.Marshal(form)
			if again, err := identity.TokenFromInit(b); again != tok || err != nil {
				t.Fatalf("round trip of %q through %s = %q, %v", tok, b, again, err)
			}
		}
	})
}
