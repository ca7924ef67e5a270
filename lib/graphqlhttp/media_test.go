package graphqlhttp

import "testing"

func TestNegotiate(t *testing.T) {
	tests := []struct {
		accept []string
		media  media
		html   bool
	}{
		{nil, mediaJSON, false},
		{[]string{"application/json"}, mediaJSON, false},
		{[]string{"application/graphql-response+json"}, mediaGraphQLResponse, false},
		{[]string{"application/graphql-response+json, application/json"}, mediaGraphQLResponse, false},
		{[]string{"application/json", "application/graphql-response+json"}, mediaGraphQLResponse, false},
		{[]string{"application/graphql-response+json;q=0.5, application/json"}, mediaJSON, false},
		{[]string{"application/json;q=0.5, application/graphql-response+json;charset=utf-8"}, mediaGraphQLResponse, false},
		{[]string{"*/*"}, mediaJSON, false},
		{[]string{"application/*"}, mediaJSON, false},
		{[]string{"text/plain"}, mediaNone, false},
		{[]string{"application/json;q=0"}, mediaNone, false},
		{[]string{"text/html"}, mediaNone, true},
		{[]string{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, mediaJSON, true},
		{[]string{"application/json, text/html;q=0.9"}, mediaJSON, false},
	}
	for _, tt := range tests {
		m, html := negotiate(tt.accept)
		if m != tt.media || html != tt.html {
			t.Errorf("negotiate(%q) = %v, %v; want %v, %v", tt.accept, m, html, tt.media, tt.html)
		}
	}
}

func TestIsJSONContentType(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/json":                  true,
		"Application/JSON; charset=utf-8":   true,
		"application/json;charset=\"UTF8\"": true,
		"application/json; charset=utf-16":  false,
		"application/graphql":               false,
		"text/plain":                        false,
		"":                                  false,
	} {
		if got := isJSONContentType(ct); got != want {
			t.Errorf("isJSONContentType(%q) = %v, want %v", ct, got, want)
		}
	}
}
