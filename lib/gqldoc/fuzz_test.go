package gqldoc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	graphql "github.com/graph-gophers/graphql-go"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"
	"github.com/graph-gophers/graphql-go/introspection"
	"github.com/graph-gophers/graphql-go/trace/tracer"

	"github.com/threefactor/framework/lib/gqldoc"
)

// The reference: graph-gophers/graphql-go, through what it exposes. Its
// parser is internal, so the fuzz test asks the schema: Validate reports a
// syntax error (errors.Is ErrSyntax) when the document does not parse, and
// Exec, through a tracer, shows which operation ran (its name, the type
// of its root fields) and with which arguments.
const probeSDL = `
schema { query: Query mutation: Mutation subscription: Subscription }
type Query {
  q(s: String, i: Int, f: Float, b: Boolean, id: ID, e: E, l: [String], o: In): String
  obj: Obj
  list: [Obj]
}
type Obj { f(s: String): String  obj: Obj }
enum E { A B }
input In { s: String  i: Int  l: [In] }
type Mutation { m(s: String, i: Int, f: Float, b: Boolean, id: ID, e: E, l: [String], o: In): String }
type Subscription { sub(s: String): String }
`

type in struct {
	S *string
	I *int32
	L *[]*in
}

type probeArgs struct {
	S  *string
	I  *int32
	F  *float64
	B  *bool
	ID *graphql.ID
	E  *string
	L  *[]*string
	O  *in
}

type probe struct{}

func (*probe) Q(probeArgs) *string { return nil }
func (*probe) Obj() *obj           { return &obj{} }
func (*probe) List() *[]*obj       { return &[]*obj{{}} }
func (*probe) M(probeArgs) *string { return nil }
func (*probe) Sub(struct{ S *string }) <-chan *string {
	ch := make(chan *string)
	close(ch)
	return ch
}

type obj struct{}

func (obj) F(struct{ S *string }) *string { return nil }
func (obj) Obj() *obj                     { return nil }

// run is what the tracer saw of one Exec.
type run struct {
	mu       sync.Mutex
	executed bool
	name     string
	roots    map[string]traced // by type.field, args
}

type traced struct {
	typeName string
	args     map[string]any
}

type runKey struct{}

type recorder struct{}

func (recorder) TraceQuery(ctx context.Context, _ string, operationName string, _ map[string]any, _ map[string]*introspection.Type) (context.Context, tracer.QueryFinishFunc) {
	if r, ok := ctx.Value(runKey{}).(*run); ok {
		r.mu.Lock()
		r.executed, r.name = true, operationName
		r.mu.Unlock()
	}
	return ctx, func([]*gqlerrors.QueryError) {}
}

func (recorder) TraceField(ctx context.Context, _, typeName, fieldName string, _ bool, args map[string]any) (context.Context, tracer.FieldFinishFunc) {
	if r, ok := ctx.Value(runKey{}).(*run); ok && (typeName == "Query" || typeName == "Mutation") && fieldName != "__typename" {
		r.mu.Lock()
		key := typeName + "." + fieldName + " " + canonical(args)
		r.roots[key] = traced{typeName: typeName, args: args}
		r.mu.Unlock()
	}
	return ctx, func(*gqlerrors.QueryError) {}
}

// canonical is a value as JSON, so int32 5 and float64 5 compare equal.
func canonical(v any) string {
	if m, ok := v.(map[string]any); ok && len(m) == 0 {
		v = nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

var (
	probeOnce   sync.Once
	probeSchema *graphql.Schema
	probeInfo   *gqldoc.Schema
)

func reference(t testing.TB) (*graphql.Schema, *gqldoc.Schema) {
	probeOnce.Do(func() {
		probeSchema = graphql.MustParseSchema(probeSDL, &probe{}, graphql.Tracer(recorder{}), graphql.Logger(quiet{}),
			// Bounds on graphql-go's own work, as in production.
			graphql.OverlapValidationLimit(10_000), graphql.MaxSelections(5_000))
		probeInfo = gqldoc.NewSchema(probeSchema.AST())
	})
	return probeSchema, probeInfo
}

type quiet struct{}

func (quiet) LogPanic(context.Context, any) {}

// theirParse is graphql-go's verdict: parsed, or a syntax error, or a
// panic (which the parser can raise decoding a description).
func theirParse(s *graphql.Schema, doc string) (parsed bool, errs []*gqlerrors.QueryError, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			parsed, panicked = false, true
		}
	}()
	errs = s.Validate(doc)
	for _, e := range errs {
		if errors.Is(e, gqlerrors.ErrSyntax) {
			return false, errs, false
		}
	}
	return true, errs, false
}

var fuzzVars = map[string]any{"s": "v", "i": 3.0, "b": true, "l": []any{"x"}}

// FuzzAgainstGraphQLGo holds the parser to graphql-go: they agree on
// whether a document parses; when graphql-go runs an operation, this
// package selected the same operation (type and name) and reads the same
// root fields with the same arguments; and whatever makes graphql-go
// panic, this package refuses first.
func FuzzAgainstGraphQLGo(f *testing.F) {
	for _, seed := range []struct{ doc, op string }{
		{"{ q }", ""},
		{"mutation { m }", ""},
		{"mutation { __typename }", ""},
		{"query A { q } mutation B { m }", "B"},
		{"query A { q } mutation B { m }", "A"},
		{"# c\nmutation M($s: String = \"}\") { m(s: $s) }", "M"},
		{`mutation { m(s: """{ \""" """) }`, ""},
		{`query Q { q(l: ["""a" ]) } mutation M { m } query Z { q(l: ["b"""]) }`, "M"},
		{`{ q(s: "x""y""") }`, ""},
		{"mutation { m(f: .5, i: 017) }", ""},
		{"mutation { m(i: 0x1F) }", ""},
		{"{ q(i: 1_000) }", ""},
		{`{ q(s: "\400") }`, ""},
		{`"\400" query { q }`, ""},
		{"mutation { m(s: \"a\rb\") }", ""},
		{"fragment F on Mutation { m } mutation { ...F }", ""},
		{"mutation { ... on Mutation { m } }", ""},
		{"mutation { . . . on Mutation { m(e: A) } }", ""},
		{"query mutation { q }", "mutation"},
		{"{ obj { f obj { f } } list { f(s: \"x\") } }", ""},
		{"subscription { sub }", ""},
		{"subscription S { sub(s: $s) }", "S"},
		{"\ufeffmutation{m}", ""},
		{"mutation,{m}", ""},
		{"mutation M @skip(if: true) { m }", "M"},
		{"query ($i: Int = 2, $o: In = {s: \"a\", l: [{i: -1}]}) { q(i: $i, o: $o) x: q(s: $s) }", ""},
		{"{ q(e: B, l: \"one\", b: false, id: 7, o: {l: {s: null}}) }", ""},
		{"{ q @include(if: $b) a: q @skip(if: true) }", ""},
		{`{ q(s: "\u{1F600}\uD83D\uDE00") }`, ""},
		{`{ q(s: """a \""" b""", i: 1) }`, ""},
		{`"d" query Q("e" $ "f" s: String) { q(s: $s) }`, "Q"},
		{"{ q(s: -)) }", ""},
		{"query Héllo { q }", ""},
		{"{ ...F } fragment F on Query { q ...G } fragment G on Query { obj { f } }", ""},
		{"{ __schema { types { name } } }", ""},
	} {
		f.Add(seed.doc, seed.op)
	}
	schema, info := reference(f)
	f.Fuzz(func(t *testing.T, doc, opName string) {
		var d gqldoc.Document
		ourErr := d.Parse(doc)
		parsed, verrs, panicked := theirParse(schema, doc)
		if panicked {
			// graphql-go would crash on it: it must not get that far.
			if ourErr == nil {
				if op, err := d.Operation(opName); err == nil {
					if _, err := info.Measure(op); err == nil {
						t.Fatalf("graphql-go panics on %q and this package accepts it", doc)
					}
				}
			}
			return
		}
		if parsed != (ourErr == nil) {
			t.Fatalf("graphql-go parsed %q: %v (%v); this package: %v", doc, parsed, verrs, ourErr)
		}
		if !parsed || len(verrs) > 0 {
			return // graphql-go runs nothing
		}
		op, opErr := d.Operation(opName)
		var fig gqldoc.Figures
		vars := fuzzVars
		if opErr == nil {
			var err error
			if fig, err = info.Measure(op); err != nil {
				return // refused here, before graphql-go
			}
			if vars, err = info.CoerceVariables(op, fuzzVars); err != nil {
				return // refused here, before graphql-go
			}
		}
		r := &run{roots: map[string]traced{}}
		resp, execPanic := exec(schema, r, doc, opName, vars)
		if execPanic {
			if opErr == nil {
				t.Fatalf("graphql-go panics running %q (operation %q), this package accepts it (figures %+v)", doc, opName, fig)
			}
			return
		}
		subscription := len(resp.Errors) == 1 && resp.Errors[0].Message == "graphql-ws protocol header is missing"
		if !r.executed && !subscription {
			if opErr == nil {
				t.Fatalf("graphql-go did not run %q (operation %q): %v; this package selected %v %q", doc, opName, resp.Errors, op.Kind, op.Name)
			}
			return
		}
		if opErr != nil {
			t.Fatalf("graphql-go ran %q (operation %q); this package: %v", doc, opName, opErr)
		}
		if subscription {
			if op.Kind != gqldoc.Subscription {
				t.Fatalf("graphql-go saw a subscription in %q (operation %q), this package a %v", doc, opName, op.Kind)
			}
			return
		}
		if r.name != op.Name {
			t.Fatalf("graphql-go ran operation %q of %q, this package selected %q", r.name, doc, op.Name)
		}
		want := "Query"
		if op.Kind == gqldoc.Mutation {
			want = "Mutation"
		}
		for _, tr := range r.roots {
			if tr.typeName != want {
				t.Fatalf("graphql-go ran a field of %s for %q (operation %q), this package selected a %v", tr.typeName, doc, opName, op.Kind)
			}
		}
		for _, e := range resp.Errors {
			if len(e.Path) == 0 {
				// graphql-go could not read an argument into its Go type
				// (its validation lets [] through for a Boolean) and left
				// the fields out: their arguments cannot be compared.
				return
			}
		}
		fields, err := op.RootFields(vars)
		if err != nil {
			t.Fatalf("RootFields of %q: %v", doc, err)
		}
		var ours []string
		for _, f := range fields {
			if f.Name == "__schema" || f.Name == "__type" {
				continue
			}
			ours = append(ours, want+"."+f.Name+" "+canonical(f.Args))
		}
		var theirs []string
		for k := range r.roots {
			theirs = append(theirs, k)
		}
		sort.Strings(ours)
		sort.Strings(theirs)
		if !reflect.DeepEqual(dedupe(ours), theirs) {
			t.Fatalf("root fields of %q (operation %q):\nours   %v\ntheirs %v", doc, opName, ours, theirs)
		}
	})
}

func dedupe(s []string) []string {
	out := s[:0:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

func exec(s *graphql.Schema, r *run, doc, opName string, given map[string]any) (resp *graphql.Response, panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			panicked = true
		}
	}()
	vars := make(map[string]any, len(given))
	for k, v := range given {
		vars[k] = v
	}
	resp = s.Exec(context.WithValue(context.Background(), runKey{}, r), doc, opName, vars)
	for _, e := range resp.Errors {
		if strings.Contains(e.Message, "panic occurred") {
			return resp, true
		}
	}
	return resp, false
}
