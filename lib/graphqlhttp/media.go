package graphqlhttp

import "strings"

// media is the JSON flavour a response is sent in.
type media uint8

const (
	mediaNone media = iota // the client accepts no JSON
	mediaJSON
	mediaGraphQLResponse
)

// negotiate reads the Accept header values. With no Accept header a client
// gets application/json, as the GraphQL over HTTP specification asks for
// the clients that predate application/graphql-response+json. A wildcard
// also gets application/json, which every client can read; a client that
// names application/graphql-response+json at least as highly as
// application/json gets it. html reports that the client prefers text/html
// (a browser).
func negotiate(values []string) (m media, html bool) {
	if len(values) == 0 {
		return mediaJSON, false
	}
	var qGR, qJSON, qHTML float64 = -1, -1, -1
	for _, v := range values {
		for v != "" {
			var part string
			part, v, _ = strings.Cut(v, ",")
			typ, params, _ := strings.Cut(part, ";")
			typ = strings.TrimSpace(typ)
			q := qValue(params)
			switch {
			case strings.EqualFold(typ, MediaTypeGraphQLResponse):
				qGR = max(qGR, q)
			case strings.EqualFold(typ, MediaTypeJSON), typ == "*/*", strings.EqualFold(typ, "application/*"):
				qJSON = max(qJSON, q)
			case strings.EqualFold(typ, "text/html"):
				qHTML = max(qHTML, q)
			}
		}
	}
	switch {
	case qGR > 0 && qGR >= qJSON:
		m = mediaGraphQLResponse
	case qJSON > 0:
		m = mediaJSON
	}
	return m, qHTML > 0 && qHTML >= qGR && qHTML >= qJSON
}

// qValue is the q parameter of a media range, 1 when absent.
func qValue(params string) float64 {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		return parseQ(strings.TrimSpace(v))
	}
	return 1
}

// parseQ parses a qvalue: 0, 1, or 0.xxx; anything else counts as 0.
func parseQ(s string) float64 {
	if s == "" {
		return 0
	}
	switch s[0] {
	case '1':
		return 1
	case '0':
		q, scale := 0.0, 0.1
		if len(s) > 1 && s[1] == '.' {
			for _, c := range s[2:] {
				if c < '0' || c > '9' {
					return 0
				}
				q += float64(c-'0') * scale
				scale /= 10
			}
		}
		return q
	}
	return 0
}

// isJSONContentType accepts application/json with no charset or UTF-8.
func isJSONContentType(ct string) bool {
	typ, params, _ := strings.Cut(ct, ";")
	if !strings.EqualFold(strings.TrimSpace(typ), MediaTypeJSON) {
		return false
	}
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "charset") {
			v = strings.Trim(strings.TrimSpace(v), `"`)
			if !strings.EqualFold(v, "utf-8") && !strings.EqualFold(v, "utf8") {
				return false
			}
		}
	}
	return true
}
