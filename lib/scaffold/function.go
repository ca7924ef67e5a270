package scaffold

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/topology"
)

// Function is a new function and the route that feeds it.
type Function struct {
	// Name is the function's name, its package name and its folder under
	// the functions folder: lower case letters and digits.
	Name string
	// Table is the logical name of the table whose changes the route
	// matches; it must have a stream. The function gets access to it.
	Table string
	// Operations the route matches: INSERT, MODIFY, REMOVE. At least one.
	Operations []topology.Operation
	// Where are conditions on the new image: each attribute equals one of
	// its values (a repeated attribute takes any of them).
	Where []Where
	// Changed matches changes in which any of these attributes changed.
	Changed []string
	// Route names the route. Default: Name.
	Route string
	// Type names the item type the handler decodes images into. Default:
	// the singular of the table's name (orders: Order).
	Type string
}

// Where is one condition of a route on the new image: Attr = Value.
type Where struct {
	Attr  string
	Value string
}

// ParseWhere reads ATTR=VALUE. The value is a string (a route on a number
// or on anything-but, prefix or exists is declared by hand).
func ParseWhere(s string) (Where, error) {
	attr, value, ok := strings.Cut(s, "=")
	if !ok {
		return Where{}, errs.Newf(errs.BadUserInput, "--where %q: want ATTR=VALUE", s)
	}
	if !attrRE.MatchString(attr) {
		return Where{}, errs.Newf(errs.BadUserInput, "--where %q: attribute %q: want a letter followed by letters, digits, - or _", s, attr)
	}
	return Where{Attr: attr, Value: value}, nil
}

// ParseOperations reads operations, each an INSERT, MODIFY or REMOVE (any
// case) or a comma-separated list of them.
func ParseOperations(args ...string) ([]topology.Operation, error) {
	var ops []topology.Operation
	seen := map[topology.Operation]bool{}
	for _, a := range args {
		for _, s := range strings.Split(a, ",") {
			op := topology.Operation(strings.ToUpper(strings.TrimSpace(s)))
			switch op {
			case topology.Insert, topology.Modify, topology.Remove:
			default:
				return nil, errs.Newf(errs.BadUserInput, "--on %q: want INSERT, MODIFY or REMOVE", s)
			}
			if !seen[op] {
				seen[op] = true
				ops = append(ops, op)
			}
		}
	}
	return ops, nil
}

// File is a file the generator writes, relative to the module root.
type File struct {
	Path string
	Data []byte
}

// Plan is what Generate writes: the new files, and the edited declaration.
type Plan struct {
	// App is the app's name.
	App string
	// Function is the request with its defaults applied.
	Function Function
	// Root is the module root the paths are relative to.
	Root string
	// Dir is the function's folder.
	Dir string
	// Files are the new files.
	Files []File
	// Declaration is the edited declaration file.
	Declaration File

	original []byte
}

// field is one field of the generated item type.
type field struct {
	Go, Attr, Type string
	key            bool
	where          []string
	changed        bool
}

// Plan computes the files of a new function f of the app whose topology
// (loaded with LoadTopology) is topo, and the edited declaration. It
// writes nothing, and refuses bad or conflicting requests with an
// errs.BadUserInput, errs.NotFound, errs.AlreadyExists or
// errs.FailedPrecondition error naming the problem.
func (d *Declaration) Plan(topo topology.Topology, f Function) (*Plan, error) {
	if f.Route == "" {
		f.Route = f.Name
	}
	tb, err := d.check(topo, &f)
	if err != nil {
		return nil, err
	}
	fields, err := itemFields(tb, f)
	if err != nil {
		return nil, err
	}
	p := &Plan{App: topo.App, Function: f, Root: d.Root, Dir: path.Join(d.FunctionsDir, f.Name), original: d.src}
	if _, err := os.Stat(filepath.Join(d.Root, filepath.FromSlash(p.Dir))); err == nil {
		return nil, errs.Newf(errs.AlreadyExists, "%s exists: function %s has code already; delete the folder or choose another name", p.Dir, f.Name)
	}
	data := d.templateData(topo, tb, f, fields)
	for _, t := range []struct{ name, file string }{
		{"function", f.Name + ".go"},
		{"test", f.Name + "_test.go"},
		{"main", "lambda/main.go"},
	} {
		src, err := render(t.name, data)
		if err != nil {
			return nil, err
		}
		p.Files = append(p.Files, File{Path: path.Join(p.Dir, t.file), Data: src})
	}
	decl, err := d.declare(topo, f)
	if err != nil {
		return nil, err
	}
	p.Declaration = File{Path: d.File, Data: decl}
	return p, nil
}

// check validates f against the app and returns its table.
func (d *Declaration) check(topo topology.Topology, f *Function) (topology.Table, error) {
	var problems []error
	bad := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }
	switch {
	case !functionNameRE.MatchString(f.Name):
		bad("function name %q: want lower case letters and digits, starting with a letter, at most 40 (it is a Go package name and a resource name)", f.Name)
	case isKeyword(f.Name) || predeclared[f.Name]:
		bad("function name %q is a Go keyword or predeclared identifier: choose another", f.Name)
	case topology.IsFrameworkFunction(f.Name):
		bad("function name %q belongs to a framework function (%s)", f.Name, strings.Join(topology.FrameworkFunctions, ", "))
	case f.Name == d.Package:
		bad("function name %q is the declaration's package name", f.Name)
	case contains(generatedImports, f.Name):
		bad("function name %q is a package the generated code imports (%s): choose another", f.Name, strings.Join(generatedImports, ", "))
	}
	if !routeNameRE.MatchString(f.Route) {
		bad("route name %q: want lower case letters, digits and dashes, starting with a letter, at most 40", f.Route)
	}
	if len(f.Operations) == 0 {
		bad("no operation: say which changes the route takes with --on INSERT, MODIFY or REMOVE")
	}
	if f.Type == "" {
		f.Type = typeName(f.Table)
	}
	switch {
	case !typeNameRE.MatchString(f.Type):
		bad("item type %q: want an exported Go name (set it with --type)", f.Type)
	case f.Type == "Name" || f.Type == "Build":
		bad("item type %q clashes with the package's %s: set another with --type", f.Type, f.Type)
	}
	if err := errors.Join(problems...); err != nil {
		return topology.Table{}, errs.Wrap(errs.BadUserInput, "new function "+f.Name, err)
	}

	if _, ok := topo.Function(f.Name); ok {
		return topology.Table{}, errs.Newf(errs.AlreadyExists, "app %s already has a function %s", topo.App, f.Name)
	}
	if _, ok := topo.Route(f.Route); ok {
		return topology.Table{}, errs.Newf(errs.AlreadyExists, "app %s already has a route %s (name the new one with --route)", topo.App, f.Route)
	}
	if what, ok := d.scope[f.Name]; ok {
		return topology.Table{}, errs.Newf(errs.AlreadyExists, "%s already uses the name %s (%s): choose another name", d.File, f.Name, what)
	}
	var tb topology.Table
	found := false
	for _, t := range topo.Tables {
		if t.Name == f.Table {
			tb, found = t, true
		}
	}
	if !found {
		names := make([]string, 0, len(topo.Tables))
		for _, t := range topo.Tables {
			names = append(names, t.Name)
		}
		return tb, errs.Newf(errs.NotFound, "app %s has no table %q (its tables: %s)", topo.App, f.Table, strings.Join(names, ", "))
	}
	if !tb.Stream {
		return tb, errs.Newf(errs.FailedPrecondition, "table %s has no stream, so no change of it reaches a route: set Stream: true on it in %s first", tb.Name, d.File)
	}
	if len(f.Where) > 0 && len(f.Operations) == 1 && f.Operations[0] == topology.Remove {
		return tb, errs.New(errs.BadUserInput, "--where matches the new image, and a REMOVE has none: a REMOVE route takes no --where")
	}
	return tb, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// itemFields are the item type's fields: the table's key, then the
// attributes the route matches on.
func itemFields(tb topology.Table, f Function) ([]*field, error) {
	var fields []*field
	byAttr := map[string]*field{}
	byGo := map[string]string{}
	add := func(attr, typ string) (*field, error) {
		if fl, ok := byAttr[attr]; ok {
			return fl, nil
		}
		g := goName(attr)
		if other, ok := byGo[g]; ok {
			return nil, errs.Newf(errs.BadUserInput, "attributes %q and %q would both be the Go field %s", other, attr, g)
		}
		fl := &field{Go: g, Attr: attr, Type: typ}
		byAttr[attr], byGo[g] = fl, attr
		fields = append(fields, fl)
		return fl, nil
	}
	keys := []topology.Key{tb.PartitionKey}
	if tb.SortKey != nil {
		keys = append(keys, *tb.SortKey)
	}
	for _, k := range keys {
		typ := map[topology.KeyType]string{topology.String: "string", topology.Number: "int64", topology.Binary: "[]byte"}[k.Type]
		if typ == "" || !attrRE.MatchString(k.Name) {
			return nil, errs.Newf(errs.FailedPrecondition, "table %s: key %s of type %q is not one the generator can write", tb.Name, k.Name, k.Type)
		}
		fl, err := add(k.Name, typ)
		if err != nil {
			return nil, err
		}
		fl.key = true
	}
	for _, w := range f.Where {
		fl, err := add(w.Attr, "string")
		if err != nil {
			return nil, err
		}
		if fl.Type != "string" {
			return nil, errs.Newf(errs.BadUserInput, "--where %s=%s: %s is a %s key, and --where compares strings", w.Attr, w.Value, w.Attr, fl.Type)
		}
		if !contains(fl.where, w.Value) {
			fl.where = append(fl.where, w.Value)
		}
	}
	for _, c := range f.Changed {
		if !attrRE.MatchString(c) {
			return nil, errs.Newf(errs.BadUserInput, "--changed %q: want a letter followed by letters, digits, - or _", c)
		}
		if fl, ok := byAttr[c]; ok && fl.key {
			return nil, errs.Newf(errs.BadUserInput, "--changed %s: %s is a key attribute, and a change never changes an item's key", c, c)
		}
		fl, err := add(c, "any")
		if err != nil {
			return nil, err
		}
		fl.changed = true
	}
	return fields, nil
}

// declare is the declaration with the function, its route and its import.
func (d *Declaration) declare(topo topology.Topology, f Function) ([]byte, error) {
	topoLocal := d.localName(d.Lib + "/lib/topology")
	imports := []string{d.FunctionImport(f.Name)}
	if topoLocal == "" {
		topoLocal = "topology"
		imports = append([]string{d.Lib + "/lib/topology"}, imports...)
	}
	edits := d.importEdits(imports...)

	table := strconv.Quote(f.Table)
	for i, t := range topo.Tables {
		if t.Name == f.Table {
			if ref := d.tableRef(i, len(topo.Tables)); ref != "" {
				table = ref
			}
		}
	}
	fn := fmt.Sprintf("{\nFunction: %s.Function{Name: %s.Name, Tables: []string{%s}},\nHandler: %s.Handle(%s.Build),\n}",
		topoLocal, f.Name, table, d.appLocal, f.Name)
	fe, err := d.addToList("Functions", "[]"+d.appLocal+".Function", fn, "Tables", "Source", "Name")
	if err != nil {
		return nil, err
	}

	var m strings.Builder
	fmt.Fprintf(&m, "Table: %s, Operations: []%s.Operation{", table, topoLocal)
	for i, op := range f.Operations {
		if i > 0 {
			m.WriteString(", ")
		}
		m.WriteString(topoLocal + "." + map[topology.Operation]string{topology.Insert: "Insert", topology.Modify: "Modify", topology.Remove: "Remove"}[op])
	}
	m.WriteString("},\n")
	if len(f.Where) > 0 {
		fmt.Fprintf(&m, "New: map[string]%s.Condition{", topoLocal)
		conds := whereConditions(f.Where)
		for i, c := range conds {
			if i > 0 {
				m.WriteString(", ")
			}
			quoted := make([]string, len(c.values))
			for j, v := range c.values {
				quoted[j] = strconv.Quote(v)
			}
			fmt.Fprintf(&m, "%s: %s.Is(%s)", strconv.Quote(c.attr), topoLocal, strings.Join(quoted, ", "))
		}
		m.WriteString("},\n")
	}
	if len(f.Changed) > 0 {
		quoted := make([]string, len(f.Changed))
		for i, c := range f.Changed {
			quoted[i] = strconv.Quote(c)
		}
		fmt.Fprintf(&m, "Changed: []string{%s},\n", strings.Join(quoted, ", "))
	}
	rt := fmt.Sprintf("{\nName: %s, Function: %s.Name,\nMatch: %s.Match{\n%s},\n}", strconv.Quote(f.Route), f.Name, topoLocal, m.String())
	re, err := d.addToList("Routes", "[]"+topoLocal+".Route", rt, "Functions", "Tables", "Source", "Name")
	if err != nil {
		return nil, err
	}
	if fe.at == re.at {
		// Both lists are new and go to the same place: functions first.
		fe.text += strings.TrimPrefix(re.text, ",")
		return d.apply(append(edits, fe))
	}
	return d.apply(append(edits, fe, re))
}

type condition struct {
	attr   string
	values []string
}

// whereConditions groups the values of each attribute, sorted by
// attribute as the pattern is.
func whereConditions(ws []Where) []condition {
	idx := map[string]int{}
	var out []condition
	for _, w := range ws {
		i, ok := idx[w.Attr]
		if !ok {
			i = len(out)
			idx[w.Attr] = i
			out = append(out, condition{attr: w.Attr})
		}
		if !contains(out[i].values, w.Value) {
			out[i].values = append(out[i].values, w.Value)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].attr < out[j].attr })
	return out
}
