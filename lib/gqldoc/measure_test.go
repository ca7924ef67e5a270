package gqldoc_test

import (
	"errors"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	graphql "github.com/graph-gophers/graphql-go"

	"github.com/threefactor/framework/lib/gqldoc"
)

// shopSDL is shaped like the reference app's schema.
const shopSDL = `
schema { query: Query mutation: Mutation subscription: Subscription }
type Query {
  restaurants: [Restaurant!]!
  order(id: ID!): Order
  matrix: [[Int!]!]!
  search(term: String!): [Result!]!
}
type Mutation { placeOrder(input: PlaceOrderInput!): Order! }
type Subscription { orderUpdated(id: ID!): Order! }
union Result = Restaurant | Order
type Restaurant { id: ID! name: String! menu: [MenuItem!]! }
type MenuItem { id: ID! name: String! priceCents: Int! }
type Order { id: ID! status: Status! items: [OrderItem!]! next: Order }
type OrderItem { menuItemId: ID! quantity: Int! }
enum Status { PLACED PAID }
input PlaceOrderInput { restaurantId: ID! items: [OrderItemInput!]! note: String = "" }
input OrderItemInput { menuItemId: ID! quantity: Int! }
`

func shop(t testing.TB) *gqldoc.Schema {
	t.Helper()
	return gqldoc.NewSchema(graphql.MustParseSchema(shopSDL, nil).AST())
}

func TestMeasure(t *testing.T) {
	s := shop(t)
	intro, err := os.ReadFile("../graphqlhttp/testdata/introspection.graphql")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		doc  string
		want gqldoc.Figures
		err  bool
	}{
		{name: "scalars cost nothing", doc: `{ order(id: "o") { id status } }`, want: gqldoc.Figures{Depth: 2, Cost: 1}},
		{name: "a list weighs ten times what it selects", doc: `{ restaurants { id name } }`, want: gqldoc.Figures{Depth: 2, Cost: 10}},
		{name: "nested lists", doc: `{ restaurants { id name menu { id name priceCents } } }`, want: gqldoc.Figures{Depth: 3, Cost: 110}},
		{name: "a list of lists", doc: `{ matrix }`, want: gqldoc.Figures{Depth: 1, Cost: 100}},
		{name: "aliases count", doc: `{ a: restaurants { id } b: restaurants { id } c: restaurants { id } }`, want: gqldoc.Figures{Depth: 2, Cost: 30}},
		{name: "fragments count where spread", doc: `{ ...R ...R order(id: "o") { ...O } } fragment R on Query { restaurants { id } } fragment O on Order { items { quantity } }`,
			want: gqldoc.Figures{Depth: 3, Cost: 20 + 1 + 10}},
		{name: "inline fragments on a union", doc: `{ search(term: "x") { ... on Restaurant { menu { id } } ... on Order { id } } }`,
			want: gqldoc.Figures{Depth: 3, Cost: 10 * (1 + 10)}},
		{name: "depth counts fields, not fragments", doc: `{ order(id: "o") { next { ... on Order { next { ...N } } } } } fragment N on Order { next { id } }`,
			want: gqldoc.Figures{Depth: 5, Cost: 4}},
		{name: "a mutation's root fields weigh more", doc: `mutation { a: placeOrder(input: {restaurantId: "r", items: []}) { id } b: placeOrder(input: {restaurantId: "r", items: []}) { items { quantity } } }`,
			want: gqldoc.Figures{Depth: 3, Cost: 1 + 11 + 2*gqldoc.MutationFieldCost}},
		{name: "__typename is free", doc: `{ __typename order(id: "o") { __typename } }`, want: gqldoc.Figures{Depth: 2, Cost: 1}},
		{name: "unknown fields cost as objects", doc: `{ nope { id } }`, want: gqldoc.Figures{Depth: 2, Cost: 2}},
		{name: "introspection is free and adds no depth", doc: `{ __schema { types { fields { name } } } restaurants { id } }`,
			want: gqldoc.Figures{Depth: 2, Cost: 10, Introspection: true, IntrospectionLists: 2}},
		{name: "graphql-js introspection query", doc: string(intro),
			want: gqldoc.Figures{Introspection: true, IntrospectionLists: 3}},
		{name: "introspection nested four lists", doc: `{ __schema { types { fields { type { fields { args { name } } } } } } }`,
			want: gqldoc.Figures{Introspection: true, IntrospectionLists: 4}},
		{name: "introspection where it is not valid still counts", doc: `{ order(id: "o") { __schema { types { name } } } }`,
			want: gqldoc.Figures{Depth: 4, Cost: 4, Introspection: true}},
		{name: "fragment chains are measured once each", doc: chain(40), want: gqldoc.Figures{Depth: 2, Cost: 1 << 40}}, // capped
		{name: "unknown fragment", doc: `{ ...Nope }`, err: true},
		{name: "fragment cycle", doc: `{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }`, err: true},
		{name: "literal graphql-go cannot decode", doc: `{ order(id: 1_000) { id } }`, err: true},
		{name: "string graphql-go cannot decode", doc: `{ order(id: "\400") { id } }`, err: true},
		{name: "minus before a name", doc: `{ order(id: -x) { id } }`, err: true},
		{name: "bad literal in a default", doc: `query ($id: ID = 0x1F) { order(id: $id) { id } }`, err: true},
		{name: "bad literal in a directive", doc: `{ order(id: "o") @include(if: 1e999) { id } }`, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := gqldoc.Parse(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			op, err := d.Operation("")
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Measure(op)
			if tt.err {
				var e *gqldoc.Error
				if !errors.As(err, &e) || e.Kind != gqldoc.Invalid {
					t.Fatalf("Measure = %+v, %v; want an Invalid error", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Measure = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// chain is a document whose fragments each spread the next twice: n
// levels expand to 2^n fields, which Measure adds up without expanding.
func chain(n int) string {
	var b strings.Builder
	b.WriteString("{ ...F0 }")
	for i := range n {
		b.WriteString(" fragment F")
		b.WriteString(itoa(i))
		b.WriteString(" on Query { ...F")
		b.WriteString(itoa(i + 1))
		b.WriteString(" ...F")
		b.WriteString(itoa(i + 1))
		b.WriteString(" }")
	}
	b.WriteString(" fragment F" + itoa(n) + " on Query { restaurants { id } }")
	return b.String()
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestCoerceVariables(t *testing.T) {
	s := shop(t)
	tests := []struct {
		name string
		doc  string
		vars map[string]any
		want map[string]any // the variables to execute with; nil: an error
		errs []string
	}{
		{name: "valid", doc: `query($id: ID!, $in: PlaceOrderInput!) { order(id: $id) { id } }`,
			vars: map[string]any{"id": "o1", "in": map[string]any{"restaurantId": "r", "items": []any{map[string]any{"menuItemId": "m", "quantity": 2.0}}}},
			want: map[string]any{"id": "o1", "in": map[string]any{"restaurantId": "r", "items": []any{map[string]any{"menuItemId": "m", "quantity": 2.0}}}}},
		{name: "ID numbers become strings", doc: `query($id: ID!, $in: PlaceOrderInput!) { order(id: $id) { id } }`,
			vars: map[string]any{"id": 7.0, "in": map[string]any{"restaurantId": 1.0, "items": []any{map[string]any{"menuItemId": -2.0, "quantity": 1.0}}}},
			want: map[string]any{"id": "7", "in": map[string]any{"restaurantId": "1", "items": []any{map[string]any{"menuItemId": "-2", "quantity": 1.0}}}}},
		{name: "a single item for a list", doc: `query($in: PlaceOrderInput!) { __typename }`,
			vars: map[string]any{"in": map[string]any{"restaurantId": "r", "items": map[string]any{"menuItemId": "m", "quantity": 1.0}}},
			want: map[string]any{"in": map[string]any{"restaurantId": "r", "items": map[string]any{"menuItemId": "m", "quantity": 1.0}}}},
		{name: "defaults and nullable variables may be left out", doc: `query($a: Int = 3, $b: String, $s: Status) { __typename }`,
			vars: map[string]any{"s": "PAID", "undeclared": []any{1}}, want: map[string]any{"s": "PAID", "undeclared": []any{1}}},
		{name: "Int bounds", doc: `query($a: Int, $b: Int) { __typename }`,
			vars: map[string]any{"a": 2147483647.0, "b": -2147483648.0}, want: map[string]any{"a": 2147483647.0, "b": -2147483648.0}},
		{name: "Int over 32 bits", doc: `query($a: Int) { __typename }`, vars: map[string]any{"a": 2147483648.0},
			errs: []string{`Variable "$a" got invalid value 2147483648; Int cannot represent non 32-bit signed integer value: 2147483648`}},
		{name: "every bad variable", doc: `query($a: Int!, $b: Float, $c: Boolean, $d: String, $e: ID, $f: Status, $g: [Int!]!, $h: PlaceOrderInput) { __typename }`,
			vars: map[string]any{"b": "1", "c": 1.0, "d": true, "e": []any{}, "f": "NOPE", "g": []any{1.0, nil}, "h": "x"},
			errs: []string{
				`Variable "$a" of required type "Int!" was not provided.`,
				`Variable "$b" got invalid value "1"; Float cannot represent non numeric value: "1"`,
				`Variable "$c" got invalid value 1; Boolean cannot represent a non boolean value: 1`,
				`Variable "$d" got invalid value true; String cannot represent a non string value: true`,
				`Variable "$e" got invalid value []; ID cannot represent value: []`,
				`Variable "$f" got invalid value "NOPE"; Value "NOPE" does not exist in "Status" enum.`,
				`Variable "$g" got invalid value null at "g[1]"; Expected non-nullable type "Int!" not to be null.`,
				`Variable "$h" got invalid value "x"; Expected type "PlaceOrderInput" to be an object.`,
			}},
		{name: "null for a non-null variable", doc: `query($id: ID!) { __typename }`, vars: map[string]any{"id": nil},
			errs: []string{`Variable "$id" of non-null type "ID!" must not be null.`}},
		{name: "input object fields", doc: `query($in: PlaceOrderInput!) { __typename }`,
			vars: map[string]any{"in": map[string]any{"restaurantId": "r", "items": []any{map[string]any{"quantity": 1.0}}}},
			errs: []string{`Variable "$in" got invalid value {"quantity":1} at "in.items[0]"; Field "menuItemId" of required type "ID!" was not provided.`}},
		{name: "unknown input field", doc: `query($in: OrderItemInput!) { __typename }`,
			vars: map[string]any{"in": map[string]any{"menuItemId": "m", "quantity": 1.0, "z": 1, "b": 2}},
			errs: []string{`Variable "$in" got invalid value {"b":2,"menuItemId":"m","quantity":1,"z":1}; Field "b" is not defined by type "OrderItemInput".`}},
		{name: "unknown types are graphql-go's to report", doc: `query($x: Nope!, $o: Order) { __typename }`,
			vars: map[string]any{"x": 1.0, "o": 2.0}, want: map[string]any{"x": 1.0, "o": 2.0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := gqldoc.Parse(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			op, err := d.Operation("")
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.CoerceVariables(op, tt.vars)
			if tt.errs != nil {
				var list gqldoc.Errors
				if !errors.As(err, &list) {
					t.Fatalf("CoerceVariables = %v, %v; want errors", got, err)
				}
				var msgs []string
				for _, e := range list {
					if e.Kind != gqldoc.BadVariables || len(e.Locations) != 1 {
						t.Errorf("error %+v: want kind BadVariables with a location", e)
					}
					msgs = append(msgs, e.Message)
				}
				if !reflect.DeepEqual(msgs, tt.errs) {
					t.Errorf("errors\n  %q\nwant\n  %q", msgs, tt.errs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("CoerceVariables = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestCoerceVariablesKeepsTheCallersMap: a conversion copies.
func TestCoerceVariablesKeepsTheCallersMap(t *testing.T) {
	s := shop(t)
	d, _ := gqldoc.Parse(`query($id: ID!) { order(id: $id) { id } }`)
	op, _ := d.Operation("")
	vars := map[string]any{"id": 5.0}
	got, err := s.CoerceVariables(op, vars)
	if err != nil || got["id"] != "5" || vars["id"] != 5.0 {
		t.Fatalf("got %v, %v; caller's map %v", got, err, vars)
	}
}

func TestMeasureAllocs(t *testing.T) {
	s := shop(t)
	var d gqldoc.Document
	doc := `query Q($id: ID!) { order(id: $id) { id status items { quantity } ...F } restaurants { menu { id } } } fragment F on Order { next { id } }`
	vars := map[string]any{"id": "o1"}
	n := testing.AllocsPerRun(100, func() {
		if err := d.Parse(doc); err != nil {
			t.Fatal(err)
		}
		op, err := d.Operation("Q")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Measure(op); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CoerceVariables(op, vars); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("parse, measure and coerce allocate %v times", n)
	}
}
