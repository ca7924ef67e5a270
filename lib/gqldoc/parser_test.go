package gqldoc

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestOperation(t *testing.T) {
	tests := []struct {
		name, doc, op string
		kind          Kind
		opName        string
		err           ErrorKind // 0: no error
	}{
		{name: "shorthand", doc: "{ a }", kind: Query},
		{name: "anonymous query", doc: "query { a }", kind: Query},
		{name: "named query", doc: "query Q($v: In = {x: [1, 2]}) @d(a: \"}\") { a }", kind: Query, opName: "Q"},
		{name: "mutation", doc: "mutation M { m }", kind: Mutation, opName: "M"},
		{name: "mutation with comments", doc: "# query {\n mutation # }\n { m }", kind: Mutation},
		{name: "subscription", doc: "subscription S { s }", kind: Subscription, opName: "S"},
		{name: "select by name", doc: "query A { a } mutation B { b }", op: "B", kind: Mutation, opName: "B"},
		{name: "select query by name", doc: "query A { a } mutation B { b }", op: "A", kind: Query, opName: "A"},
		{name: "two without a name", doc: "query A { a } mutation B { b }", err: Invalid},
		{name: "unknown name", doc: "query A { a }", op: "Z", err: Invalid},
		{name: "duplicate names", doc: "query A { a } mutation A { b }", op: "A", err: Invalid},
		{name: "no operation", doc: "fragment F on Q { a }", err: Invalid},
		{name: "fragment first", doc: "fragment F on Mutation { m } query Q { ...F }", kind: Query, opName: "Q"},
		{name: "fragment after", doc: "mutation { ...F } fragment F on Mutation { m }", kind: Mutation},
		{name: "operation named like a keyword", doc: "query mutation { a }", kind: Query, opName: "mutation"},
		{name: "unicode name", doc: "query Héllo { a }", kind: Query, opName: "Héllo"},
		{name: "block string ends at the first three quotes", doc: `query Q { q(s: """a \""" ) } mutation M { m }`, op: "M", kind: Mutation, opName: "M"},
		{name: "string then quote is a block string", doc: `{ q(s: "x""y""") }`, kind: Query},
		{name: "carriage return in a string", doc: "mutation { m(s: \"a\rb\") }", kind: Mutation},
		{name: "line feed in a string", doc: "mutation { m(s: \"a\nb\") }", err: Syntax},
		{name: "escaped quote", doc: `query { a(s: "\" } mutation {") }`, kind: Query},
		{name: "unterminated string", doc: `query { a(s: "abc) }`, err: Syntax},
		{name: "unterminated block string", doc: `{ a(s: """abc) }`, err: Syntax},
		{name: "unbalanced", doc: "query { a ", err: Syntax},
		{name: "type definition", doc: "type Q { a: Int }", err: Syntax},
		{name: "empty", doc: "", err: Invalid},
		{name: "only a comment", doc: "# nothing", err: Invalid},
		{name: "byte order mark", doc: "\uFEFFmutation { m }", kind: Mutation},
		{name: "byte order mark later", doc: "mutation { m }\uFEFF", err: Syntax},
		{name: "NUL in a comment", doc: "{ a } # \x00", err: Syntax},
		{name: "invalid UTF-8 in a string", doc: "{ a(s: \"\xff\") }", err: Syntax},
		{name: "numbers", doc: "mutation { m(a: -1.5e+3, b: 0, c: .5, d: 0x1F, e: 017, f: 1_000) }", kind: Mutation},
		{name: "octal with 8", doc: "{ a(i: 08) }", err: Syntax},
		{name: "float with 8", doc: "{ a(f: 08.5) }", kind: Query},
		{name: "bad separator", doc: "{ a(i: 1__0) }", err: Syntax},
		{name: "exponent without digits", doc: "{ a(f: 1e) }", err: Syntax},
		{name: "spread with spaces", doc: "mutation { . . . on Mutation { m } }", kind: Mutation},
		{name: "spread and inline fragment", doc: "mutation { ... on Mutation { m } ...F } fragment F on Mutation { n }", kind: Mutation},
		{name: "minus before anything", doc: "{ a(x: -)) }", kind: Query},
		{name: "empty variable list", doc: "query Q() { a }", kind: Query, opName: "Q"},
		{name: "descriptions", doc: `"d" query Q("e" $ "f" v: Int = 1 @x) { a } """g""" fragment F on Q { a }`, kind: Query, opName: "Q"},
		{name: "empty description on shorthand", doc: `"" { a }`, kind: Query},
		{name: "blank block description on shorthand", doc: "\"\"\" \n\t \"\"\" { a }", kind: Query},
		{name: "description on shorthand", doc: `"d" { a }`, err: Syntax},
		{name: "description that does not decode", doc: `"\400" query { a }`, err: Syntax},
		{name: "unicode escape", doc: `{ a(s: "\u{1F600} \uD83D\uDE00 \u0041") }`, kind: Query},
		{name: "lone surrogate", doc: `{ a(s: "\uD83D") }`, err: Syntax},
		{name: "bad braced escape", doc: `{ a(s: "\u{zz}") }`, err: Syntax},
		{name: "go escapes", doc: `{ a(s: "\x41\101\a\v") }`, kind: Query},
		{name: "variable in a default", doc: "query ($a: Int = $b) { a }", err: Syntax},
		{name: "empty selection", doc: "{ }", err: Syntax},
		{name: "too deep", doc: strings.Repeat("{ a ", 1001) + strings.Repeat("}", 1001), err: Syntax},
		{name: "deep enough", doc: strings.Repeat("{ a ", 999) + "{ b }" + strings.Repeat("}", 999), kind: Query},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Document
			err := d.Parse(tt.doc)
			var op Operation
			if err == nil {
				op, err = d.Operation(tt.op)
			}
			if tt.err != 0 {
				var e *Error
				if !errors.As(err, &e) || e.Kind != tt.err {
					t.Fatalf("got %+v, %v; want an error of kind %d", op, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if op.Kind != tt.kind || op.Name != tt.opName {
				t.Errorf("got %v %q, want %v %q", op.Kind, op.Name, tt.kind, tt.opName)
			}
		})
	}
}

func TestSyntaxErrorLocation(t *testing.T) {
	_, err := Parse("query {\n  a(x: 1)\n  b(\n}")
	var e *Error
	if !errors.As(err, &e) || e.Kind != Syntax {
		t.Fatalf("err = %v", err)
	}
	if want := []Location{{Line: 4, Column: 1}}; !reflect.DeepEqual(e.Locations, want) {
		t.Errorf("locations %v, want %v (%s)", e.Locations, want, e.Message)
	}
}

func TestRootFields(t *testing.T) {
	tests := []struct {
		name    string
		query   string
		op      string
		vars    map[string]any
		want    []Field
		wantErr bool
	}{
		{
			name:  "shorthand query",
			query: `{ restaurants { id } }`,
			want:  []Field{{Name: "restaurants", Args: map[string]any{}}},
		},
		{
			name:  "subscription with variable",
			query: `subscription Watch($id: ID!) { orderUpdated(id: $id) { id status } }`,
			vars:  map[string]any{"id": "o1"},
			want:  []Field{{Name: "orderUpdated", Args: map[string]any{"id": "o1"}}},
		},
		{
			name:  "alias, literal, comments, commas",
			query: "# watch\nsubscription { o: orderUpdated(id: \"o\\u0032\",) @include(if: true) { ...F } }\nfragment F on Order { id }",
			want:  []Field{{Name: "orderUpdated", Alias: "o", Args: map[string]any{"id": "o2"}}},
		},
		{
			name:  "root fragment spread and inline fragment",
			query: `subscription { ...Root } fragment Root on Subscription { ... on Subscription { orderUpdated(id: 5) { id } } __typename }`,
			want:  []Field{{Name: "orderUpdated", Args: map[string]any{"id": 5.0}}},
		},
		{
			name:  "default variable value",
			query: `subscription S($id: ID = "d", $l: [Int!]! = [1, -2]) { x(id: $id, l: $l, o: {a: ENUM, b: null, c: false}) }`,
			want: []Field{{Name: "x", Args: map[string]any{
				"id": "d", "l": []any{1.0, -2.0}, "o": map[string]any{"a": "ENUM", "b": nil, "c": false},
			}}},
		},
		{
			name:  "block string",
			query: "mutation B { b(x: \"\"\"\n    block \"quoted\"\n      text\n  \"\"\") }",
			want:  []Field{{Name: "b", Args: map[string]any{"x": "block \"quoted\"\n  text"}}},
		},
		{
			name:  "skip and include",
			query: `query ($no: Boolean = false) { a @skip(if: true) b @include(if: $no) c @include(if: true) d @skip(if: $no) }`,
			want:  []Field{{Name: "c", Args: map[string]any{}}, {Name: "d", Args: map[string]any{}}},
		},
		{
			name:  "same response key once",
			query: `{ a a x: a(n: 1) ...F } fragment F on Query { x: a(n: 1) }`,
			want:  []Field{{Name: "a", Args: map[string]any{}}, {Name: "a", Alias: "x", Args: map[string]any{"n": 1.0}}},
		},
		{name: "unknown fragment", query: `{ ...Nope }`, wantErr: true},
		{name: "undecodable literal", query: `{ a(s: "\400") }`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			op, err := d.Operation(tt.op)
			if err != nil {
				t.Fatal(err)
			}
			got, err := op.RootFields(tt.vars)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("RootFields = %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("RootFields = %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseAllocs(t *testing.T) {
	doc := `query A($id: ID!) { order(id: $id) { id status items { name } } } mutation B { pay(id: "o1", n: [1, 2]) { id ...F } } fragment F on O { x }`
	var d Document
	if err := d.Parse(doc); err != nil {
		t.Fatal(err)
	}
	n := testing.AllocsPerRun(100, func() {
		if err := d.Parse(doc); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Operation("B"); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("Parse allocates %v times once its buffers have grown", n)
	}
}
