package graphqlhttp_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	graphql "github.com/graph-gophers/graphql-go"
	"github.com/graph-gophers/graphql-go/relay"
	"github.com/threefactor/framework/lib/benchfig"
	"github.com/threefactor/framework/lib/graphqlhttp"
)

func TestMain(m *testing.M) { os.Exit(benchfig.Main(m)) }

const benchBody = `{"query":"query Order($name: String) { hello(name: $name) node(depth: 4) { id child { id child { id child { id } } } } }","operationName":"Order","variables":{"name":"ada"}}`

// BenchmarkOverhead sends the same request through this package's Handler
// and through graph-gophers' relay.Handler, on the same schema, in the
// same run, each into an httptest.ResponseRecorder. The relay handler does
// nothing but decode, execute and encode, so the ratio is what limits,
// ids, error mapping and the request log cost.
func BenchmarkOverhead(b *testing.B) {
	res := &resolver{}
	schema, err := graphqlhttp.ParseSchema(testSDL, res, graphqlhttp.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	ours, err := graphqlhttp.New(schema, graphqlhttp.Config{
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	// relay gets a schema with graphql-go's defaults, as its users have.
	relaySchema := graphql.MustParseSchema(testSDL, res)
	theirs := &relay.Handler{Schema: relaySchema}

	want := serve(b, ours)
	if got := serve(b, theirs); got != want {
		b.Fatalf("the handlers disagree:\nours  %s\nrelay %s", want, got)
	}

	// The sub-benchmarks report each side's ns/op and allocations.
	run := func(h http.Handler, ran *bool) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				serve(b, h)
			}
			*ran = true
		}
	}
	var oursRan, relayRan bool
	b.Run("relay", run(theirs, &relayRan))
	b.Run("ours", run(ours, &oursRan))
	if !oursRan || !relayRan {
		return // -bench selected one side only: no ratio to record
	}
	// The figures come from short batches of each side, interleaved (which
	// goes first alternating), so that the load of a shared machine falls
	// on both sides alike; medians discount the batches a burst of load
	// hit harder on one side.
	batch := func(h http.Handler) float64 {
		start := time.Now()
		for range overheadBatch {
			serve(b, h)
		}
		return float64(time.Since(start).Nanoseconds()) / overheadBatch
	}
	oursNs := make([]float64, overheadBatches)
	relayNs := make([]float64, overheadBatches)
	ratios := make([]float64, overheadBatches)
	for i := range ratios {
		if i%2 == 0 {
			relayNs[i] = batch(theirs)
			oursNs[i] = batch(ours)
		} else {
			oursNs[i] = batch(ours)
			relayNs[i] = batch(theirs)
		}
		ratios[i] = oursNs[i] / relayNs[i]
	}
	benchfig.Record("graphql_ours_ns_per_op", median(oursNs), "ns/op")
	benchfig.Record("graphql_relay_ns_per_op", median(relayNs), "ns/op")
	benchfig.Record("graphql_overhead_ratio", median(ratios), "ratio")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// The interleaved batches of BenchmarkOverhead's ratio.
const (
	overheadBatch   = 100
	overheadBatches = 41
)

func serve(b *testing.B, h http.Handler) string {
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(benchBody))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}
