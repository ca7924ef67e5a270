package scaffold_test

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/scaffold"
	"github.com/threefactor/framework/lib/topology"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// The fixtures' topologies, as LoadTopology would read them.
var (
	fooddelivery = topology.Topology{
		App: "fooddelivery",
		Tables: []topology.Table{
			{Name: "orders", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true},
			{Name: "restaurants", PartitionKey: topology.Key{Name: "id", Type: topology.String}},
			{Name: "charges", PartitionKey: topology.Key{Name: "idempotencyKey", Type: topology.String}},
		},
		Functions: []topology.Function{{Name: "validateorder"}, {Name: "processpayment"}, {Name: "restaurantapproval"}, {Name: "assigndriver"}},
		Routes: []topology.Route{
			{Name: "validate-order", Function: "validateorder"}, {Name: "process-payment", Function: "processpayment"},
			{Name: "restaurant-approval", Function: "restaurantapproval"}, {Name: "assign-driver", Function: "assigndriver"},
		},
	}
	chat = topology.Topology{
		App: "chat",
		Tables: []topology.Table{{
			Name: "messages", PartitionKey: topology.Key{Name: "roomId", Type: topology.String},
			SortKey: &topology.Key{Name: "sentAt", Type: topology.Number}, Stream: true,
		}},
	}
	fooddeliveryLayout = scaffold.Layout{AppFile: "testdata/fooddelivery/events/app.go", FunctionsDir: "testdata/fooddelivery/functions"}
	chatLayout         = scaffold.Layout{AppFile: "testdata/chat/app.go", FunctionsDir: "testdata/chat/functions"}
)

// TestGolden holds the generator's output to the golden files in
// testdata/golden (go test ./lib/scaffold -update rewrites them).
func TestGolden(t *testing.T) {
	tests := []struct {
		name   string
		layout scaffold.Layout
		topo   topology.Topology
		fn     scaffold.Function
	}{
		{
			// The reference app: a MODIFY route with conditions on the new
			// image (one attribute, two values) and a changed attribute.
			name: "notifycustomer", layout: fooddeliveryLayout, topo: fooddelivery,
			fn: scaffold.Function{
				Name: "notifycustomer", Table: "orders", Operations: []topology.Operation{topology.Modify},
				Where:   []scaffold.Where{{Attr: "status", Value: "DRIVER_ASSIGNED"}, {Attr: "status", Value: "APPROVED"}},
				Changed: []string{"driverId"},
			},
		},
		{
			// An app's first function: the declaration has no Functions or
			// Routes yet; a composite key with a number; two operations;
			// the framework imported as a dependency of another module.
			name: "moderate", layout: chatLayout, topo: chat,
			fn: scaffold.Function{
				Name: "moderate", Table: "messages", Operations: []topology.Operation{topology.Insert, topology.Modify},
				Where: []scaffold.Where{{Attr: "status", Value: "PENDING"}}, Changed: []string{"text", "status"},
				Route: "moderate-messages",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := scaffold.Open(tt.layout)
			if err != nil {
				t.Fatal(err)
			}
			p, err := d.Plan(tt.topo, tt.fn)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join("testdata", "golden", tt.name)
			written := map[string]bool{}
			for _, f := range append(p.Files, p.Declaration) {
				golden := filepath.Join(dir, filepath.FromSlash(f.Path)+".golden")
				written[golden] = true
				if *update {
					if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, f.Data, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (go test ./lib/scaffold -update writes it)", err)
				}
				if !bytes.Equal(f.Data, want) {
					t.Errorf("%s differs from %s:\n%s\n(go test ./lib/scaffold -update if intended)", f.Path, golden, f.Data)
				}
			}
			_ = filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
				if err == nil && !e.IsDir() && !written[path] {
					t.Errorf("%s: the generator no longer writes this file", path)
				}
				return nil
			})
		})
	}
}

func TestOpenLocatesTheDeclaration(t *testing.T) {
	d, err := scaffold.Open(fooddeliveryLayout)
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("testdata/fooddelivery")
	if d.Root != abs || d.Module != "github.com/threefactor/framework" || d.File != "events/app.go" || d.FunctionsDir != "functions" {
		t.Errorf("located %+v", d)
	}
	if d.Import != "github.com/threefactor/framework/events" || d.Package != "fooddelivery" || d.Var != "App" || d.Ref() != "fooddelivery.App" {
		t.Errorf("import %s package %s var %s", d.Import, d.Package, d.Var)
	}
	if d.Lib != "github.com/threefactor/framework" || d.FunctionImport("x") != "github.com/threefactor/framework/functions/x" {
		t.Errorf("lib %s", d.Lib)
	}
	c, err := scaffold.Open(chatLayout)
	if err != nil {
		t.Fatal(err)
	}
	if c.Import != "example.com/chat" || c.Lib != "github.com/threefactor/framework" || c.FunctionImport("m") != "example.com/chat/functions/m" {
		t.Errorf("chat: import %s lib %s", c.Import, c.Lib)
	}
	o, err := scaffold.Open(scaffold.Layout{AppFile: chatLayout.AppFile, FunctionsDir: chatLayout.FunctionsDir, AppImport: "example.com/other", AppVar: "App"})
	if err != nil || o.Import != "example.com/other" {
		t.Errorf("explicit import: %v %+v", err, o)
	}
}

// Bad requests are refused with a code and a message that names the
// problem, before anything is written.
func TestPlanRefuses(t *testing.T) {
	ok := scaffold.Function{Name: "notify", Table: "orders", Operations: []topology.Operation{topology.Insert}}
	with := func(change func(*scaffold.Function)) scaffold.Function {
		f := ok
		change(&f)
		return f
	}
	tests := []struct {
		name string
		fn   scaffold.Function
		code errs.Code
		msg  string
	}{
		{"upper case", with(func(f *scaffold.Function) { f.Name = "Notify" }), errs.BadUserInput, "lower case letters and digits"},
		{"dash", with(func(f *scaffold.Function) { f.Name = "notify-customer" }), errs.BadUserInput, "lower case letters and digits"},
		{"empty", with(func(f *scaffold.Function) { f.Name = "" }), errs.BadUserInput, "function name"},
		{"keyword", with(func(f *scaffold.Function) { f.Name = "select" }), errs.BadUserInput, "Go keyword"},
		{"predeclared", with(func(f *scaffold.Function) { f.Name = "string" }), errs.BadUserInput, "predeclared"},
		{"framework function", with(func(f *scaffold.Function) { f.Name = "router" }), errs.BadUserInput, "framework function"},
		{"generated import", with(func(f *scaffold.Function) { f.Name = "errs" }), errs.BadUserInput, "generated code imports"},
		{"declaration package", with(func(f *scaffold.Function) { f.Name = "fooddelivery" }), errs.BadUserInput, "package name"},
		{"no operation", with(func(f *scaffold.Function) { f.Operations = nil }), errs.BadUserInput, "--on"},
		{"bad route", with(func(f *scaffold.Function) { f.Route = "Bad_Route" }), errs.BadUserInput, "route name"},
		{"bad type", with(func(f *scaffold.Function) { f.Type = "order" }), errs.BadUserInput, "item type"},
		{"type clash", with(func(f *scaffold.Function) { f.Type = "Build" }), errs.BadUserInput, "clashes"},
		{"existing function", with(func(f *scaffold.Function) { f.Name = "validateorder" }), errs.AlreadyExists, "already has a function validateorder"},
		{"existing route", with(func(f *scaffold.Function) { f.Route = "assign-driver" }), errs.AlreadyExists, "already has a route assign-driver"},
		{"name of an import", with(func(f *scaffold.Function) { f.Name = "orders" }), errs.AlreadyExists, "an import of events/app.go"},
		{"name in the package", with(func(f *scaffold.Function) { f.Name = "seed" }), errs.AlreadyExists, "a function of package fooddelivery"},
		{"unknown table", with(func(f *scaffold.Function) { f.Table = "drivers" }), errs.NotFound, `no table "drivers" (its tables: orders, restaurants, charges)`},
		{"table without stream", with(func(f *scaffold.Function) { f.Table = "restaurants" }), errs.FailedPrecondition, "has no stream"},
		{"where on a REMOVE", with(func(f *scaffold.Function) {
			f.Operations = []topology.Operation{topology.Remove}
			f.Where = []scaffold.Where{{Attr: "status", Value: "PAID"}}
		}), errs.BadUserInput, "a REMOVE has none"},
		{"changed key", with(func(f *scaffold.Function) { f.Changed = []string{"id"} }), errs.BadUserInput, "key attribute"},
		{"changed bad attribute", with(func(f *scaffold.Function) { f.Changed = []string{"a.b"} }), errs.BadUserInput, "--changed"},
		{"two attributes, one field", with(func(f *scaffold.Function) { f.Changed = []string{"driverId", "driver-id"} }), errs.BadUserInput, "both be the Go field DriverID"},
	}
	d, err := scaffold.Open(fooddeliveryLayout)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := d.Plan(fooddelivery, tt.fn)
			if err == nil {
				t.Fatalf("planned %+v, want an error", p.Files)
			}
			if errs.CodeOf(err) != tt.code || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want code %s and %q", err, tt.code, tt.msg)
			}
		})
	}
}

func TestPlanRefusesAnExistingFolder(t *testing.T) {
	root := copyFixture(t, "testdata/fooddelivery")
	if err := os.MkdirAll(filepath.Join(root, "functions", "notify"), 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := scaffold.Open(scaffold.Layout{AppFile: filepath.Join(root, "events", "app.go"), FunctionsDir: filepath.Join(root, "functions")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Plan(fooddelivery, scaffold.Function{Name: "notify", Table: "orders", Operations: []topology.Operation{topology.Insert}})
	if errs.CodeOf(err) != errs.AlreadyExists || !strings.Contains(err.Error(), "functions/notify exists") {
		t.Fatalf("err = %v", err)
	}
}

// Declarations the generator cannot edit safely are refused with what it
// looked for.
func TestOpenRefuses(t *testing.T) {
	tests := []struct {
		name, src, appVar string
		code              errs.Code
		msg               string
	}{
		{"no lib/app import", "package x\n\nvar App = 1\n", "", errs.FailedPrecondition, "does not import the framework's lib/app"},
		{"built by a call", "package x\n\nimport \"example.com/fw/lib/app\"\n\nvar App = build()\n\nfunc build() app.App { return app.App{} }\n", "", errs.FailedPrecondition, "no var X = app.App{...}"},
		{"named var built by a call", "package x\n\nimport \"example.com/fw/lib/app\"\n\nvar App = build()\n\nfunc build() app.App { return app.App{} }\n", "App", errs.FailedPrecondition, "not written as an app.App{...} literal"},
		{"two apps", "package x\n\nimport \"example.com/fw/lib/app\"\n\nvar A = app.App{}\nvar B = app.App{}\n", "", errs.BadUserInput, "several apps (A, B)"},
		{"missing var", "package x\n\nimport \"example.com/fw/lib/app\"\n\nvar A = app.App{}\n", "B", errs.NotFound, "no var B"},
		{"syntax error", "package x\n\nvar = \n", "", errs.FailedPrecondition, "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeModule(t, tt.src)
			_, err := scaffold.Open(scaffold.Layout{AppFile: file, FunctionsDir: filepath.Join(filepath.Dir(file), "functions"), AppVar: tt.appVar})
			if errs.CodeOf(err) != tt.code || err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want code %s and %q", err, tt.code, tt.msg)
			}
		})
	}
	if _, err := scaffold.Open(scaffold.Layout{AppFile: "testdata/none.go"}); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("missing file: %v", err)
	}
}

// The generator adds to the declaration however its lists and imports are
// written, and refuses a Functions list it cannot add to.
func TestPlanEditsDeclarations(t *testing.T) {
	topo := topology.Topology{App: "x", Tables: []topology.Table{{Name: "items", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true}}}
	fn := scaffold.Function{Name: "count", Table: "items", Operations: []topology.Operation{topology.Insert}}
	tests := []struct {
		name, src string
		want      []string // in the edited declaration, in order
		err       string
	}{
		{
			name: "one import, one-line literal",
			src:  "package x\n\nimport \"example.com/fw/lib/app\"\n\nvar App = app.App{Name: \"x\", Tables: tables}\n",
			want: []string{"import (", `"example.com/fw/lib/app"`, `"example.com/fw/lib/topology"`, `"example.com/m/functions/count"`, ")",
				`Tables: tables,`, `Functions: []app.Function{`, `Function: topology.Function{Name: count.Name, Tables: []string{"items"}},`,
				`Routes: []topology.Route{`, `Name: "count", Function: count.Name,`, `Table: "items", Operations: []topology.Operation{topology.Insert},`},
		},
		{
			name: "lists without trailing comma, renamed imports",
			src: "package x\n\nimport (\n\tfw \"example.com/fw/lib/app\"\n\ttp \"example.com/fw/lib/topology\"\n)\n\nvar App = fw.App{Name: \"x\", Functions: []fw.Function{a}, Routes: []tp.Route{ra}}\n\n" +
				"var a, ra = fw.Function{}, tp.Route{}\n",
			want: []string{`tp "example.com/fw/lib/topology"`, `"example.com/m/functions/count"`, "Functions: []fw.Function{a,", "Function: tp.Function{Name: count.Name",
				"Handler:  fw.Handle(count.Build),", "Routes: []tp.Route{ra,", "Match: tp.Match{"},
		},
		{
			name: "routes missing",
			src:  "package x\n\nimport (\n\t\"example.com/fw/lib/app\"\n\t\"example.com/fw/lib/topology\"\n)\n\nvar App = app.App{\n\tName: \"x\",\n\tFunctions: []app.Function{},\n\tGraphQL: api,\n}\n",
			want: []string{"Functions: []app.Function{", "Handler:  app.Handle(count.Build),", "Routes: []topology.Route{", `Name: "count"`, "GraphQL: api,"},
		},
		{
			name: "functions built elsewhere",
			src:  "package x\n\nimport \"example.com/fw/lib/app\"\n\nvar App = app.App{Name: \"x\", Functions: functions()}\n",
			err:  "App.Functions is not written as a literal list",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeModule(t, tt.src)
			d, err := scaffold.Open(scaffold.Layout{AppFile: file, FunctionsDir: filepath.Join(filepath.Dir(filepath.Dir(file)), "functions")})
			if err != nil {
				t.Fatal(err)
			}
			p, err := d.Plan(topo, fn)
			if tt.err != "" {
				if errs.CodeOf(err) != errs.FailedPrecondition || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := string(p.Declaration.Data)
			rest := got
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("%q missing (or out of order) in:\n%s", w, got)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func TestParse(t *testing.T) {
	ops, err := scaffold.ParseOperations("insert,MODIFY", "Modify", "REMOVE")
	if err != nil || len(ops) != 3 || ops[0] != topology.Insert || ops[1] != topology.Modify || ops[2] != topology.Remove {
		t.Errorf("ParseOperations = %v, %v", ops, err)
	}
	if _, err := scaffold.ParseOperations("UPDATE"); errs.CodeOf(err) != errs.BadUserInput {
		t.Errorf("UPDATE: %v", err)
	}
	w, err := scaffold.ParseWhere("status=PAID=yes")
	if err != nil || w.Attr != "status" || w.Value != "PAID=yes" {
		t.Errorf("ParseWhere = %+v, %v", w, err)
	}
	if w, err := scaffold.ParseWhere("status="); err != nil || w.Value != "" {
		t.Errorf("empty value: %+v, %v", w, err)
	}
	for _, bad := range []string{"status", "=PAID", "new.status=PAID", "1x=2"} {
		if _, err := scaffold.ParseWhere(bad); errs.CodeOf(err) != errs.BadUserInput {
			t.Errorf("ParseWhere(%q) = %v, want a BAD_USER_INPUT error", bad, err)
		}
	}
}

// writeModule writes src as x/app.go in a fresh module example.com/m and
// returns its path.
func writeModule(t *testing.T, src string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/m\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "x", "app.go")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// copyFixture copies a testdata module to a temporary folder.
func copyFixture(t *testing.T, dir string) string {
	t.Helper()
	root := t.TempDir()
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if e.IsDir() {
			return os.MkdirAll(filepath.Join(root, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(root, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// Write writes the files and the declaration; Undo takes both back.
func TestWriteAndUndo(t *testing.T) {
	root := copyFixture(t, "testdata/fooddelivery")
	decl := filepath.Join(root, "events", "app.go")
	original, err := os.ReadFile(decl)
	if err != nil {
		t.Fatal(err)
	}
	d, err := scaffold.Open(scaffold.Layout{AppFile: decl, FunctionsDir: filepath.Join(root, "functions")})
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Plan(fooddelivery, scaffold.Function{Name: "notify", Table: "orders", Operations: []topology.Operation{topology.Insert}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Write(); err != nil {
		t.Fatal(err)
	}
	for _, f := range append(p.Files, p.Declaration) {
		got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f.Path)))
		if err != nil || !bytes.Equal(got, f.Data) {
			t.Fatalf("%s: %v", f.Path, err)
		}
	}
	if err := p.Write(); errs.CodeOf(err) != errs.AlreadyExists {
		t.Errorf("second write: %v", err)
	}
	if err := p.Undo(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(decl); !bytes.Equal(got, original) {
		t.Errorf("undo left the declaration changed")
	}
	if _, err := os.Stat(filepath.Join(root, "functions", "notify")); !os.IsNotExist(err) {
		t.Errorf("undo left the folder: %v", err)
	}

	// A declaration edited after the plan was made is not overwritten.
	if err := os.WriteFile(decl, append(original, []byte("// edited\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.Write(); errs.CodeOf(err) != errs.FailedPrecondition {
		t.Errorf("write over an edited declaration: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "functions", "notify")); !os.IsNotExist(err) {
		t.Errorf("a refused write left the folder: %v", err)
	}
}
