package scaffold_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/scaffold"
	"github.com/threefactor/framework/lib/topology"
)

// An app in its own module, with the framework as a dependency (replaced
// by this checkout, so the go command needs no network).
const shopApp = `package shop

import (
	"context"

	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/topology"
)

var App = app.App{
	Name: "shop",
	Tables: []topology.Table{
		{Name: "carts", PartitionKey: topology.Key{Name: "cartId", Type: topology.String}, Stream: true},
	},
	GraphQL: api,
}

type root struct{}

func (root) Ok() bool { return true }

var api = app.GraphQL{
	SDL:      "schema { query: Query } type Query { ok: Boolean! }",
	Resolver: func(context.Context, *app.Env) (any, error) { return root{}, nil },
	Topics: realtime.Topics{
		Subscription: func(string, map[string]any) (string, error) { return "", nil },
		Change:       func(change.Event) []string { return nil },
	},
}
`

// TestGenerateInAnotherModule runs Generate and LoadTopology for real
// (the go command compiles the app) on an app that is not this
// repository's: a new function is written and checked, an app that does
// not build or validate is refused, and a check that fails undoes
// everything.
func TestGenerateInAnotherModule(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles an app several times")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	gomod := "module example.com/shop\n\ngo 1.26\n\nrequire github.com/threefactor/framework v0.0.0\n\nreplace github.com/threefactor/framework => " + repo + "\n"
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(rel, data string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", gomod)
	write("go.sum", string(sum))
	// The framework's requirements come from its own go.mod, all in the
	// module cache already.
	t.Setenv("GOFLAGS", "-mod=mod")
	t.Setenv("GOPROXY", "off")
	ctx := context.Background()
	decl := filepath.Join(root, "app.go")
	layout := scaffold.Layout{AppFile: decl, FunctionsDir: filepath.Join(root, "functions")}
	fn := scaffold.Function{Name: "abandoned", Table: "carts", Operations: []topology.Operation{topology.Modify}, Where: []scaffold.Where{{Attr: "state", Value: "OPEN"}}}

	t.Run("an invalid app is refused", func(t *testing.T) {
		write("app.go", strings.Replace(shopApp, "GraphQL: api,", "", 1))
		d, err := scaffold.Open(layout)
		if err != nil {
			t.Fatal(err)
		}
		topo, err := scaffold.LoadTopology(ctx, d)
		if !errors.Is(err, scaffold.ErrInvalidApp) || !strings.Contains(err.Error(), "GraphQL") || topo.App != "shop" {
			t.Fatalf("LoadTopology = %+v, %v; want the topology and ErrInvalidApp naming GraphQL", topo, err)
		}
		if _, err := scaffold.Generate(ctx, layout, fn); !errors.Is(err, scaffold.ErrInvalidApp) || !strings.Contains(err.Error(), "fix it before") {
			t.Fatalf("Generate: %v", err)
		}
	})

	t.Run("an app that does not build is refused", func(t *testing.T) {
		write("app.go", shopApp)
		write("broken.go", "package shop\n\nvar broken int = \"text\"\n")
		defer os.Remove(filepath.Join(root, "broken.go"))
		d, err := scaffold.Open(layout)
		if err != nil {
			t.Fatal(err)
		}
		_, err = scaffold.LoadTopology(ctx, d)
		if errs.CodeOf(err) != errs.FailedPrecondition || !strings.Contains(err.Error(), "could not build app shop.App") || !strings.Contains(err.Error(), "broken.go") {
			t.Fatalf("LoadTopology: %v", err)
		}
	})

	t.Run("a new function is written and checked", func(t *testing.T) {
		write("app.go", shopApp)
		p, err := scaffold.Generate(ctx, layout, fn)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range append(p.Files, p.Declaration) {
			got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f.Path)))
			if err != nil || !bytes.Equal(got, f.Data) {
				t.Fatalf("%s not written: %v", f.Path, err)
			}
		}
		if !strings.Contains(string(p.Files[2].Data), "app.StartFunction(shop.App, abandoned.Name)") ||
			!strings.Contains(string(p.Declaration.Data), `"example.com/shop/functions/abandoned"`) {
			t.Errorf("main:\n%s\ndeclaration:\n%s", p.Files[2].Data, p.Declaration.Data)
		}
		d, err := scaffold.Open(layout)
		if err != nil {
			t.Fatal(err)
		}
		topo, err := scaffold.LoadTopology(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		r, ok := topo.Route("abandoned")
		if !ok || r.Function != "abandoned" || topo.EventPatternJSON(r) !=
			`{"detail":{"new":{"state":["OPEN"]},"operation":["MODIFY"],"table":["carts"]},"detail-type":["Change"],"source":["shop.changes"]}` {
			t.Fatalf("route %+v ok=%v pattern %s", r, ok, topo.EventPatternJSON(r))
		}
	})

	t.Run("a failed check undoes everything", func(t *testing.T) {
		// The app builds now, and stops building with a second function.
		write("guard.go", "package shop\n\nfunc init() {\n\tif len(App.Functions) > 1 {\n\t\tpanic(\"one function is enough\")\n\t}\n}\n")
		before, _ := os.ReadFile(decl)
		_, err := scaffold.Generate(ctx, layout, scaffold.Function{Name: "expired", Table: "carts", Operations: []topology.Operation{topology.Remove}})
		if err == nil || !strings.Contains(err.Error(), "one function is enough") || !strings.Contains(err.Error(), "nothing was changed") {
			t.Fatalf("Generate: %v", err)
		}
		if after, _ := os.ReadFile(decl); !bytes.Equal(before, after) {
			t.Errorf("the declaration was left changed:\n%s", after)
		}
		if _, err := os.Stat(filepath.Join(root, "functions", "expired")); !os.IsNotExist(err) {
			t.Errorf("the function's folder was left: %v", err)
		}
	})
}
