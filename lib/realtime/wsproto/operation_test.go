package wsproto

import (
	"reflect"
	"testing"
)

func TestAnalyze(t *testing.T) {
	tests := []struct {
		name    string
		query   string
		op      string
		vars    map[string]any
		want    Operation
		wantErr bool
	}{
		{
			name:  "shorthand query",
			query: `{ restaurants { id } }`,
			want:  Operation{Type: OpQuery, RootFields: []Field{{Name: "restaurants", Args: map[string]any{}}}},
		},
		{
			name:  "subscription with variable",
			query: `subscription Watch($id: ID!) { orderUpdated(id: $id) { id status } }`,
			vars:  map[string]any{"id": "o1"},
			want:  Operation{Type: OpSubscription, Name: "Watch", RootFields: []Field{{Name: "orderUpdated", Args: map[string]any{"id": "o1"}}}},
		},
		{
			name:  "alias, literal, comments, commas",
			query: "# watch\nsubscription { o: orderUpdated(id: \"o\\u0032\",) @include(if: true) { ...F } }\nfragment F on Order { id }",
			want:  Operation{Type: OpSubscription, RootFields: []Field{{Name: "orderUpdated", Alias: "o", Args: map[string]any{"id": "o2"}}}},
		},
		{
			name:  "root fragment spread and inline fragment",
			query: `subscription { ...Root } fragment Root on Subscription { ... on Subscription { orderUpdated(id: 5) { id } } __typename }`,
			want:  Operation{Type: OpSubscription, RootFields: []Field{{Name: "orderUpdated", Args: map[string]any{"id": 5.0}}}},
		},
		{
			name:  "default variable value",
			query: `subscription S($id: ID = "d", $l: [Int!]! = [1, 2]) { x(id: $id, l: $l, o: {a: ENUM, b: null, c: false}) }`,
			want: Operation{Type: OpSubscription, Name: "S", RootFields: []Field{{Name: "x", Args: map[string]any{
				"id": "d", "l": []any{1.0, 2.0}, "o": map[string]any{"a": "ENUM", "b": nil, "c": false},
			}}}},
		},
		{
			name:  "pick by operation name",
			query: `query A { a } mutation B { b(x: """block "quoted" text""") }`,
			op:    "B",
			want:  Operation{Type: OpMutation, Name: "B", RootFields: []Field{{Name: "b", Args: map[string]any{"x": `block "quoted" text`}}}},
		},
		{name: "two operations, no name", query: `query A { a } query B { b }`, wantErr: true},
		{name: "unknown operation name", query: `query A { a }`, op: "Z", wantErr: true},
		{name: "syntax error", query: `subscription { a(`, wantErr: true},
		{name: "unterminated string", query: `{ a(x: "abc) }`, wantErr: true},
		{name: "fragments only", query: `fragment F on Q { a }`, wantErr: true},
		{name: "unknown fragment", query: `{ ...Nope }`, wantErr: true},
		{name: "empty", query: ``, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Analyze(tt.query, tt.op, tt.vars)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Analyze = %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Analyze: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Analyze = %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
