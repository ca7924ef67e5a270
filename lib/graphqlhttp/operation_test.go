package graphqlhttp

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"

	graphql "github.com/graph-gophers/graphql-go"
)

func TestScanDocument(t *testing.T) {
	tests := []struct {
		name, doc, op string
		kind          opKind
		opName        string
		introspection bool
	}{
		{name: "shorthand", doc: "{ a }", kind: opQuery},
		{name: "anonymous query", doc: "query { a }", kind: opQuery},
		{name: "named query", doc: "query Q($v: In = {x: [1, 2]}) @d(a: \"}\") { a }", kind: opQuery, opName: "Q"},
		{name: "mutation", doc: "mutation M { m }", kind: opMutation, opName: "M"},
		{name: "mutation with comments", doc: "# query {\n mutation # }\n { m }", kind: opMutation},
		{name: "subscription", doc: "subscription S { s }", kind: opSubscription, opName: "S"},
		{name: "select by name", doc: "query A { a } mutation B { b }", op: "B", kind: opMutation, opName: "B"},
		{name: "select query by name", doc: "query A { a } mutation B { b }", op: "A", kind: opQuery, opName: "A"},
		{name: "two without a name", doc: "query A { a } mutation B { b }", kind: opUnknown},
		{name: "unknown name", doc: "query A { a }", op: "Z", kind: opUnknown},
		{name: "duplicate names take the mutation", doc: "query A { a } mutation A { b }", op: "A", kind: opMutation, opName: "A"},
		{name: "fragment", doc: "fragment F on Mutation { m } query Q { ...F }", kind: opQuery, opName: "Q"},
		{name: "fragment after", doc: "mutation { ...F } fragment F on Mutation { m }", kind: opMutation},
		{name: "operation named like a keyword", doc: "query mutation { a }", kind: opQuery, opName: "mutation"},
		// graphql-go reads """ as "" and ", so a block string can hide
		// nothing from it: the scanner must read it the same way.
		{name: "block string as graphql-go reads it", doc: `query Q { q(s: ["""a" ]) } mutation M { m } query Z { q(s: ["b"""]) }`,
			op: "M", kind: opMutation, opName: "M"},
		{name: "carriage return in a string", doc: "mutation { m(s: \"a\rb\") }", kind: opMutation},
		{name: "string with escapes", doc: "query { a(s: \"\\\" } mutation {\") }", kind: opQuery},
		{name: "unterminated string", doc: "query { a(s: \"abc) }", kind: opUnknown},
		{name: "unbalanced", doc: "query { a ", kind: opUnknown},
		{name: "type definition", doc: "type Q { a: Int }", kind: opUnknown},
		{name: "introspection", doc: "{ __schema { types { name } } }", kind: opQuery, introspection: true},
		{name: "__type", doc: "query { __type(name: \"Q\") { name } }", kind: opQuery, introspection: true},
		{name: "__typename is not introspection", doc: "{ __typename }", kind: opQuery},
		{name: "introspection named only in a string", doc: "{ a(s: \"__schema\") }", kind: opQuery},
		{name: "byte order mark", doc: "\xEF\xBB\xBFmutation { m }", kind: opMutation},
		{name: "numbers", doc: "mutation { m(a: -1.5e+3, b: 0) }", kind: opMutation},
		{name: "spread and inline fragment", doc: "mutation { ... on Mutation { m } }", kind: opMutation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scanDocument(tt.doc, tt.op)
			want := docInfo{kind: tt.kind, name: tt.opName, introspection: tt.introspection}
			if tt.kind == opUnknown {
				want.name, got.name = "", ""
			}
			if got != want {
				t.Errorf("scanDocument(%q, %q) = %+v, want %+v", tt.doc, tt.op, got, want)
			}
		})
	}
}

func TestScanDocumentAllocs(t *testing.T) {
	doc := `query A($id: ID!) { order(id: $id) { id status items { name } } } mutation B { pay(id: "o1") { id } }`
	if n := testing.AllocsPerRun(100, func() { scanDocument(doc, "B") }); n != 0 {
		t.Errorf("scanDocument allocates %v times", n)
	}
}

// probe is a schema whose answers show which root graphql-go executed.
const probeSDL = `
schema { query: Query mutation: Mutation subscription: Subscription }
type Query { q(s: String, i: Int, l: [String], f: Float): String  o: Obj }
type Obj { f: String }
type Mutation { m(s: String, i: Int, l: [String], f: Float): String }
type Subscription { s: String }
`

type probe struct{ mutations atomic.Int64 }

type probeArgs struct {
	S *string
	I *int32
	L *[]*string
	F *float64
}

func (p *probe) Q(probeArgs) *string {
	s := "from-query"
	return &s
}
func (p *probe) O() *obj { return &obj{} }
func (p *probe) M(probeArgs) *string {
	p.mutations.Add(1)
	s := "from-mutation"
	return &s
}
func (p *probe) S(ctx context.Context) <-chan *string { return make(chan *string) }

type obj struct{}

func (obj) F() *string { return nil }

// FuzzScanDocument holds the scanner to graphql-go: whenever graphql-go
// executes a mutation, the scanner must not have said query (or GET could
// run one); whenever it executes a query, the scanner must not have said
// mutation. The seeds must be understood exactly.
func FuzzScanDocument(f *testing.F) {
	seeds := map[[2]string]struct{}{}
	for _, seed := range []struct{ doc, op string }{
		{"{ q }", ""},
		{"mutation { m }", ""},
		{"mutation { __typename }", ""},
		{"query A { q } mutation B { m }", "B"},
		{"query A { q } mutation B { m }", "A"},
		{"# c\nmutation M($s: String = \"}\") { m(s: $s) }", "M"},
		{"mutation { m(s: \"\"\"{ \\\"\"\" \"\"\") }", ""},
		{`query Q { q(l: ["""a" ]) } mutation M { m } query Z { q(l: ["b"""]) }`, "M"},
		{"mutation { m(f: .5) }", ""},
		{"mutation { m(i: 0x1F) }", ""},
		{"mutation { m(s: \"a\rb\") }", ""},
		{"fragment F on Mutation { m } mutation { ...F }", ""},
		{"mutation { ... on Mutation { m } }", ""},
		{"query mutation { q }", "mutation"},
		{"{ o { f } }", ""},
		{"subscription { s }", ""},
		{"\ufeffmutation{m}", ""},
		{"mutation,{m}", ""},
		{"mutation M @skip(if: true) { m }", "M"},
	} {
		f.Add(seed.doc, seed.op)
		seeds[[2]string{seed.doc, seed.op}] = struct{}{}
	}
	p := &probe{}
	schema := graphql.MustParseSchema(probeSDL, p)
	f.Fuzz(func(t *testing.T, doc, op string) {
		info := scanDocument(doc, op)
		_, seed := seeds[[2]string{doc, op}]
		before := p.mutations.Load()
		resp := schema.Exec(context.Background(), doc, op, nil)
		ranMutation := p.mutations.Load() != before || bytes.Contains(resp.Data, []byte(`"Mutation"`))
		ranQuery := bytes.Contains(resp.Data, []byte(`"from-query"`)) || bytes.Contains(resp.Data, []byte(`"Query"`))
		if seed && (ranMutation || ranQuery) && info.kind == opUnknown {
			t.Fatalf("the scanner cannot tell the operation of %q (operation %q)", doc, op)
		}
		// opUnknown is safe: GET refuses it. A wrong kind is not.
		if ranMutation && info.kind != opMutation && info.kind != opUnknown {
			t.Fatalf("graphql-go ran a mutation for %q (operation %q), the scanner says %v", doc, op, info.kind)
		}
		if ranQuery && info.kind != opQuery && info.kind != opUnknown {
			t.Fatalf("graphql-go ran a query for %q (operation %q), the scanner says %v", doc, op, info.kind)
		}
	})
}

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
