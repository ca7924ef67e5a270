package gqldoc_test

import (
	"os"
	"testing"

	graphql "github.com/graph-gophers/graphql-go"

	"github.com/threefactor/framework/lib/benchfig"
	"github.com/threefactor/framework/lib/gqldoc"
)

func TestMain(m *testing.M) { os.Exit(benchfig.Main(m)) }

// BenchmarkAnalyze is what a request pays here before graphql-go runs:
// parse, select, measure, coerce; the baseline, in the same run, is
// graphql-go's own parse and validation of the same document, which every
// request pays too. It records gqldoc_analyze_ns_per_op and
// gqldoc_over_validate_ratio.
func BenchmarkAnalyze(b *testing.B) {
	const sdl = `type Query { hello(name: String): String! node(depth: Int!): Node }
		type Node { id: ID! child: Node }`
	const query = `query Order($name: String) { hello(name: $name) node(depth: 4) { id child { id child { id child { id } } } } }`
	gs := graphql.MustParseSchema(sdl, nil)
	s := gqldoc.NewSchema(gs.AST())
	vars := map[string]any{"name": "ada"}
	var ours, theirs float64
	b.Run("gqldoc", func(b *testing.B) {
		b.ReportAllocs()
		defer func() { ours = float64(b.Elapsed().Nanoseconds()) / float64(b.N) }()
		var d gqldoc.Document
		for b.Loop() {
			if err := d.Parse(query); err != nil {
				b.Fatal(err)
			}
			op, err := d.Operation("Order")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.Measure(op); err != nil {
				b.Fatal(err)
			}
			if _, err := s.CoerceVariables(op, vars); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("graphql-go-validate", func(b *testing.B) {
		b.ReportAllocs()
		defer func() { theirs = float64(b.Elapsed().Nanoseconds()) / float64(b.N) }()
		for b.Loop() {
			if errs := gs.ValidateWithVariables(query, vars); len(errs) > 0 {
				b.Fatal(errs)
			}
		}
	})
	if ours > 0 && theirs > 0 {
		benchfig.Record("gqldoc_analyze_ns_per_op", ours, "ns/op")
		benchfig.Record("gqldoc_over_validate_ratio", ours/theirs, "ratio")
	}
}
