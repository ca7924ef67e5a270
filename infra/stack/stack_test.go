package stack

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/threefactor/framework/lib/topology"
)

func TestParseStage(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Stage
		wantErr bool
	}{
		{"dev", Dev, false},
		{"prod", Prod, false},
		{"staging", "", true},
		{"", "", true},
		{"PROD", "", true},
	} {
		got, err := ParseStage(tc.in)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ParseStage(%q) = %q, %v", tc.in, got, err)
		}
	}
}

func TestStageSettings(t *testing.T) {
	if Dev.Introspection() != true || Prod.Introspection() != false {
		t.Error("introspection: want on in dev, off in prod")
	}
	if Dev.LogLevel() != "debug" || Prod.LogLevel() != "info" {
		t.Errorf("log levels %s/%s", Dev.LogLevel(), Prod.LogLevel())
	}
	if d, p := DefaultThrottle(Dev), DefaultThrottle(Prod); d.RatePerSecond >= p.RatePerSecond || d.Burst < d.RatePerSecond {
		t.Errorf("throttles dev %+v prod %+v", d, p)
	}
}

func TestPascal(t *testing.T) {
	for in, want := range map[string]string{
		"orders":       "Orders",
		"order-items":  "OrderItems",
		"validate_it":  "ValidateIt",
		"a-b-c":        "ABC",
		"assigndriver": "Assigndriver",
	} {
		if got := pascal(in); got != want {
			t.Errorf("pascal(%q) = %q, want %q", in, got, want)
		}
	}
	if LogicalTableID("order-items") != "TableOrderItems" {
		t.Errorf("LogicalTableID = %s", LogicalTableID("order-items"))
	}
}

var testTopology = topology.Topology{
	App:       "shop",
	Tables:    []topology.Table{{Name: "orders", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true}},
	Functions: []topology.Function{{Name: "ship", Tables: []string{"orders"}, Timeout: 5 * time.Second}},
	Routes: []topology.Route{{
		Name: "ship-order", Function: "ship",
		Match: topology.Match{Table: "orders", Operations: []topology.Operation{topology.Insert}},
	}},
}

func TestLambdas(t *testing.T) {
	want := []string{"fanout", "graphql", "realtime", "router", "ship"}
	if got := testTopology.Lambdas(); !reflect.DeepEqual(got, want) {
		t.Errorf("Lambdas = %v, want %v", got, want)
	}
}

func TestCheckAssets(t *testing.T) {
	root := t.TempDir()
	err := CheckAssets(root, testTopology)
	if err == nil || !strings.Contains(err.Error(), "make build") || !strings.Contains(err.Error(), "fanout, graphql, realtime, router, ship") {
		t.Fatalf("empty build dir: %v", err)
	}
	for _, name := range testTopology.Lambdas() {
		if name == "ship" {
			continue
		}
		os.MkdirAll(filepath.Join(root, name), 0o755)
		if err := os.WriteFile(filepath.Join(root, name, "bootstrap"), []byte("x"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := CheckAssets(root, testTopology); err == nil || !strings.HasSuffix(err.Error(), "for ship: run `make build` first") {
		t.Fatalf("one missing: %v", err)
	}
	os.MkdirAll(filepath.Join(root, "ship"), 0o755)
	os.WriteFile(filepath.Join(root, "ship", "bootstrap"), []byte("x"), 0o755)
	if err := CheckAssets(root, testTopology); err != nil {
		t.Fatalf("all present: %v", err)
	}
}

// NewStack refuses a topology that does not validate, before creating
// anything.
func TestNewStackRejects(t *testing.T) {
	bad := testTopology
	bad.Routes = append([]topology.Route(nil), bad.Routes...)
	bad.Routes[0].Function = "nosuch"
	if _, err := NewStack(nil, "x", Props{Topology: bad, Stage: Dev, Code: AssetDirs("build")}); err == nil ||
		!strings.Contains(err.Error(), `unknown function "nosuch"`) {
		t.Errorf("invalid topology: %v", err)
	}
	if _, err := NewStack(nil, "x", Props{Topology: testTopology, Stage: "qa", Code: AssetDirs("build")}); err == nil {
		t.Error("unknown stage accepted")
	}
	if _, err := NewStack(nil, "x", Props{Topology: testTopology, Stage: Dev}); err == nil {
		t.Error("no code source accepted")
	}
}
