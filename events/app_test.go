package fooddelivery_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	fooddelivery "github.com/threefactor/framework/events"
)

var update = flag.Bool("update", false, "rewrite testdata/patterns.golden")

func TestAppIsValid(t *testing.T) {
	if err := fooddelivery.App.Validate(); err != nil {
		t.Fatal(err)
	}
}

// Every Lambda of the app, the framework's and the declared functions,
// has its folder with a main.
func TestEveryFunctionHasALambda(t *testing.T) {
	for _, name := range fooddelivery.App.Lambdas() {
		main := filepath.Join("..", "functions", name, "lambda", "main.go")
		if _, err := os.Stat(main); err != nil {
			t.Errorf("function %s: %v", name, err)
		}
	}
}

// The routes' EventBridge patterns are what decides which change reaches
// which step; a change to them shows up here (go test ./events -update).
func TestPatterns(t *testing.T) {
	var b strings.Builder
	topo := fooddelivery.App.Topology()
	for _, r := range topo.RoutesWithDefaults() {
		var pretty map[string]any
		_ = json.Unmarshal([]byte(topo.EventPatternJSON(r)), &pretty)
		p, _ := json.MarshalIndent(pretty, "", "  ")
		b.WriteString("# " + r.Name + " -> " + r.Function + "\n" + string(p) + "\n")
	}
	golden := filepath.Join("testdata", "patterns.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Fatalf("patterns changed:\n%s\nwant:\n%s\n(run go test ./events -update if intended)", b.String(), want)
	}
}
