package events_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appevents "github.com/threefactor/framework/events"
)

var update = flag.Bool("update", false, "rewrite testdata/patterns.golden")

func TestTopologyIsValid(t *testing.T) {
	if err := appevents.Topology.Validate(); err != nil {
		t.Fatal(err)
	}
}

// Every declared function has its folder with a Lambda main.
func TestEveryFunctionHasALambda(t *testing.T) {
	for _, f := range appevents.Topology.Functions {
		main := filepath.Join("..", "functions", f.Name, "lambda", "main.go")
		if _, err := os.Stat(main); err != nil {
			t.Errorf("function %s: %v", f.Name, err)
		}
	}
}

// The routes' EventBridge patterns are what decides which change reaches
// which step; a change to them shows up here (go test ./events -update).
func TestPatterns(t *testing.T) {
	var b strings.Builder
	for _, r := range appevents.Topology.RoutesWithDefaults() {
		var pretty map[string]any
		_ = json.Unmarshal([]byte(appevents.Topology.EventPatternJSON(r)), &pretty)
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
