package scaffold

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/scanner"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/threefactor/framework/lib/errs"
)

// Defaults of Layout: this repository's.
const (
	DefaultAppFile      = "events/app.go"
	DefaultFunctionsDir = "functions"
)

// Layout says where an app's code is. Relative paths are relative to the
// working directory; zero values are the defaults.
type Layout struct {
	// AppFile is the app's declaration file. Default DefaultAppFile.
	AppFile string
	// FunctionsDir holds one folder per function. Default DefaultFunctionsDir.
	FunctionsDir string
	// AppImport is the import path of the declaration's package. Default:
	// the module path (go.mod) followed by AppFile's folder.
	AppImport string
	// AppVar names the app.App variable in AppFile. Default: the one
	// package-level variable initialized with an app.App literal.
	AppVar string
}

// Declaration is an app's declaration file, read and located: where the
// module is, how the file is imported, and the App literal in it.
type Declaration struct {
	// Root is the module root (the folder of go.mod), absolute.
	Root string
	// Module is the module path.
	Module string
	// File is the declaration file, relative to Root (slashes).
	File string
	// FunctionsDir is the functions folder, relative to Root (slashes).
	FunctionsDir string
	// Import is the import path of the declaration's package.
	Import string
	// Package is its package name.
	Package string
	// Var is the name of its app.App variable.
	Var string
	// Lib is the import path the framework's packages live under (the
	// declaration's lib/app import without /lib/app).
	Lib string

	src      []byte
	fset     *token.FileSet
	file     *ast.File
	lit      *ast.CompositeLit
	appLocal string
	// scope holds the names a function package must not take: the
	// file's imports and the package's top-level identifiers.
	scope map[string]string
}

// Open reads and locates the declaration l names.
func Open(l Layout) (*Declaration, error) {
	if l.AppFile == "" {
		l.AppFile = DefaultAppFile
	}
	if l.FunctionsDir == "" {
		l.FunctionsDir = DefaultFunctionsDir
	}
	file, err := filepath.Abs(l.AppFile)
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, errs.Wrap(errs.NotFound, fmt.Sprintf("read the app declaration %s (set --app-file)", l.AppFile), err)
	}
	root, module, err := findModule(filepath.Dir(file))
	if err != nil {
		return nil, err
	}
	d := &Declaration{Root: root, Module: module, src: src, fset: token.NewFileSet(), scope: map[string]string{}}
	if d.File, err = d.rel(file); err != nil {
		return nil, err
	}
	fdir, err := filepath.Abs(l.FunctionsDir)
	if err != nil {
		return nil, err
	}
	if d.FunctionsDir, err = d.rel(fdir); err != nil {
		return nil, err
	}
	d.Import = l.AppImport
	if d.Import == "" {
		d.Import = d.importPath(path.Dir(d.File))
	}
	d.file, err = parser.ParseFile(d.fset, file, src, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return nil, errs.Wrap(errs.FailedPrecondition, "the app declaration does not parse", err)
	}
	d.Package = d.file.Name.Name
	if err := d.readImports(); err != nil {
		return nil, err
	}
	if err := d.findApp(l.AppVar); err != nil {
		return nil, err
	}
	if err := d.readScope(filepath.Dir(file)); err != nil {
		return nil, err
	}
	return d, nil
}

// Ref is how code outside the declaration's package names the app, e.g.
// fooddelivery.App.
func (d *Declaration) Ref() string { return d.Package + "." + d.Var }

// FunctionImport is the import path of function name's package.
func (d *Declaration) FunctionImport(name string) string {
	return d.importPath(path.Join(d.FunctionsDir, name))
}

func (d *Declaration) importPath(rel string) string {
	if rel == "." || rel == "" {
		return d.Module
	}
	return d.Module + "/" + rel
}

// rel is abs relative to the module root, with slashes; it refuses paths
// outside the module.
func (d *Declaration) rel(abs string) (string, error) {
	r, err := filepath.Rel(d.Root, abs)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return "", errs.Newf(errs.BadUserInput, "%s is outside the module at %s", abs, d.Root)
	}
	return filepath.ToSlash(r), nil
}

// findModule walks up from dir to the go.mod of its module.
func findModule(dir string) (root, module string, err error) {
	for d := dir; ; {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				f := strings.Fields(line)
				if len(f) >= 2 && f[0] == "module" {
					m, uerr := strconv.Unquote(f[1])
					if uerr != nil {
						m = f[1]
					}
					return d, m, nil
				}
			}
			return "", "", errs.Newf(errs.FailedPrecondition, "%s has no module line", filepath.Join(d, "go.mod"))
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", "", errs.Newf(errs.FailedPrecondition, "no go.mod above %s: the declaration must be in a Go module", dir)
		}
		d = parent
	}
}

// readImports finds the framework's lib/app import and its local name.
func (d *Declaration) readImports() error {
	for _, spec := range d.file.Imports {
		p, _ := strconv.Unquote(spec.Path.Value)
		local := path.Base(p)
		if spec.Name != nil {
			local = spec.Name.Name
		}
		if strings.HasSuffix(p, "/lib/app") {
			d.appLocal = local
			d.Lib = strings.TrimSuffix(p, "/lib/app")
		}
	}
	if d.appLocal == "" {
		return errs.Newf(errs.FailedPrecondition, "%s does not import the framework's lib/app: it is not an app declaration", d.File)
	}
	return nil
}

// findApp finds the App variable: the package-level variable whose value
// is an app.App composite literal (the one named want, when set).
func (d *Declaration) findApp(want string) error {
	var found []string
	for _, decl := range d.file.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.VAR {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.CompositeLit)
				if !ok || !d.isAppType(lit.Type) {
					if want != "" && name.Name == want {
						return errs.Newf(errs.FailedPrecondition, "%s: var %s is not written as an %s.App{...} literal, which the generator edits", d.File, want, d.appLocal)
					}
					continue
				}
				found = append(found, name.Name)
				if want == "" || name.Name == want {
					d.Var, d.lit = name.Name, lit
				}
			}
		}
	}
	switch {
	case want != "" && d.lit == nil:
		return errs.Newf(errs.NotFound, "%s has no var %s = %s.App{...}", d.File, want, d.appLocal)
	case want == "" && len(found) == 0:
		return errs.Newf(errs.FailedPrecondition, "%s has no var X = %s.App{...}: the generator needs the app written as a literal", d.File, d.appLocal)
	case want == "" && len(found) > 1:
		return errs.Newf(errs.BadUserInput, "%s declares several apps (%s): choose one with --app-var", d.File, strings.Join(found, ", "))
	}
	return nil
}

func (d *Declaration) isAppType(e ast.Expr) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	x, ok := sel.X.(*ast.Ident)
	return ok && x.Name == d.appLocal && sel.Sel.Name == "App"
}

// readScope records the names a new import of the declaration file would
// clash with: the file's imports and the package's top-level names.
func (d *Declaration) readScope(dir string) error {
	for _, spec := range d.file.Imports {
		p, _ := strconv.Unquote(spec.Path.Value)
		local := path.Base(p)
		if spec.Name != nil {
			local = spec.Name.Name
		}
		d.scope[local] = "an import of " + d.File
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, n), nil, parser.SkipObjectResolution)
		if err != nil || f.Name.Name != d.Package {
			continue // not part of the package; a broken file shows when the app is loaded
		}
		for _, decl := range f.Decls {
			switch decl := decl.(type) {
			case *ast.FuncDecl:
				if decl.Recv == nil {
					d.scope[decl.Name.Name] = "a function of package " + d.Package
				}
			case *ast.GenDecl:
				for _, spec := range decl.Specs {
					switch s := spec.(type) {
					case *ast.ValueSpec:
						for _, id := range s.Names {
							d.scope[id.Name] = "a name in package " + d.Package
						}
					case *ast.TypeSpec:
						d.scope[s.Name.Name] = "a type in package " + d.Package
					}
				}
			}
		}
	}
	return nil
}

// field is the element Key: ... of the App literal, or nil.
func (d *Declaration) field(key string) *ast.KeyValueExpr {
	for _, e := range d.lit.Elts {
		if kv, ok := e.(*ast.KeyValueExpr); ok {
			if id, ok := kv.Key.(*ast.Ident); ok && id.Name == key {
				return kv
			}
		}
	}
	return nil
}

// tableRef is the expression the declaration names table number i of its
// Tables list with (an identifier or selector, like Orders), when the list
// is a literal of n tables; else "".
func (d *Declaration) tableRef(i, n int) string {
	kv := d.field("Tables")
	if kv == nil {
		return ""
	}
	list, ok := kv.Value.(*ast.CompositeLit)
	if !ok || len(list.Elts) != n || i >= n {
		return ""
	}
	tl, ok := list.Elts[i].(*ast.CompositeLit)
	if !ok {
		return ""
	}
	for _, e := range tl.Elts {
		kv, ok := e.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		if id, ok := kv.Key.(*ast.Ident); !ok || id.Name != "Name" {
			continue
		}
		switch v := kv.Value.(type) {
		case *ast.Ident:
			return v.Name
		case *ast.SelectorExpr:
			if x, ok := v.X.(*ast.Ident); ok {
				return x.Name + "." + v.Sel.Name
			}
		}
	}
	return ""
}

// localName is the name the declaration imports path under, or "".
func (d *Declaration) localName(p string) string {
	for _, spec := range d.file.Imports {
		sp, _ := strconv.Unquote(spec.Path.Value)
		if sp != p {
			continue
		}
		if spec.Name != nil {
			return spec.Name.Name
		}
		return path.Base(p)
	}
	return ""
}

// edit replaces del bytes at a byte offset of the source with text.
type edit struct {
	at   int
	del  int
	text string
}

func (d *Declaration) offset(p token.Pos) int { return d.fset.Position(p).Offset }

// after is the offset just past element e of a composite literal that
// closes at rbrace, and whether a comma must be written first (there is
// none after e).
func (d *Declaration) after(e ast.Node, rbrace token.Pos) (int, bool) {
	start, end := d.offset(e.End()), d.offset(rbrace)
	var s scanner.Scanner
	f := token.NewFileSet().AddFile("", -1, end-start)
	s.Init(f, d.src[start:end], nil, scanner.ScanComments)
	for {
		pos, tok, _ := s.Scan()
		switch tok {
		case token.COMMA:
			return start + f.Offset(pos) + 1, false
		case token.COMMENT:
			continue
		default:
			return start, true
		}
	}
}

// appendTo is the edit that adds elt as the last element of list.
func (d *Declaration) appendTo(list *ast.CompositeLit, elt string) edit {
	at := d.offset(list.Rbrace)
	if n := len(list.Elts); n > 0 {
		if _, comma := d.after(list.Elts[n-1], list.Rbrace); comma {
			return edit{at, 0, ",\n" + elt + ",\n"}
		}
	}
	// A closing brace on a line of its own: the element goes on the
	// lines before it.
	ls := bytes.LastIndexByte(d.src[:at], '\n') + 1
	if len(bytes.TrimSpace(d.src[ls:at])) == 0 && ls > 0 {
		return edit{ls, 0, elt + ",\n"}
	}
	return edit{at, 0, "\n" + elt + ",\n"}
}

// addToList adds elt to the App literal's list key (e.g. Functions), or,
// when the literal has no such key, adds the key with a list of elt of
// type typ after the first of the keys in anchors that is present.
func (d *Declaration) addToList(key, typ, elt string, anchors ...string) (edit, error) {
	if kv := d.field(key); kv != nil {
		list, ok := kv.Value.(*ast.CompositeLit)
		if !ok {
			return edit{}, errs.Newf(errs.FailedPrecondition,
				"%s: %s.%s is not written as a literal list (%s{...}) that the generator can add to: add the function by hand", d.File, d.Var, key, typ)
		}
		return d.appendTo(list, elt), nil
	}
	field := key + ": " + typ + "{\n" + elt + ",\n},"
	for _, a := range anchors {
		if kv := d.field(a); kv != nil {
			at, comma := d.after(kv, d.lit.Rbrace)
			if comma {
				return edit{at, 0, ",\n" + field}, nil
			}
			return edit{at, 0, "\n" + field}, nil
		}
	}
	// No anchor: first in the literal.
	return edit{d.offset(d.lit.Lbrace) + 1, 0, "\n" + field}, nil
}

// importEdits add imports of paths, each next to the import it shares the
// longest prefix with (gofmt then sorts each group).
func (d *Declaration) importEdits(paths ...string) []edit {
	specs := make([]string, len(paths))
	for i, p := range paths {
		specs[i] = strconv.Quote(p)
	}
	var decl *ast.GenDecl
	for _, dc := range d.file.Decls {
		if gd, ok := dc.(*ast.GenDecl); ok && gd.Tok == token.IMPORT {
			decl = gd
			break
		}
	}
	if decl == nil {
		return []edit{{d.offset(d.file.Name.End()), 0, "\n\nimport (\n" + strings.Join(specs, "\n") + "\n)\n"}}
	}
	if !decl.Lparen.IsValid() {
		// import "x": make it a block holding them all.
		start, end := d.offset(decl.Pos()), d.offset(decl.End())
		old := string(d.src[d.offset(decl.Specs[0].Pos()):end])
		return []edit{{start, end - start, "import (\n" + old + "\n" + strings.Join(specs, "\n") + "\n)"}}
	}
	var edits []edit
	for i, p := range paths {
		best, bestLen := decl.Specs[len(decl.Specs)-1], -1
		for _, s := range decl.Specs {
			sp, _ := strconv.Unquote(s.(*ast.ImportSpec).Path.Value)
			if n := commonPrefix(sp, p); n >= bestLen {
				best, bestLen = s, n
			}
		}
		at := d.offset(best.End())
		if nl := bytes.IndexByte(d.src[at:], '\n'); nl >= 0 {
			at += nl + 1
		}
		edits = append(edits, edit{at, 0, specs[i] + "\n"})
	}
	return edits
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// apply makes the edits and formats the result. Edits at the same offset
// are written in the order given.
func (d *Declaration) apply(edits []edit) ([]byte, error) {
	sort.SliceStable(edits, func(i, j int) bool { return edits[i].at < edits[j].at })
	var out bytes.Buffer
	pos := 0
	for _, e := range edits {
		if e.at < pos {
			return nil, errs.Newf(errs.InternalServerError, "overlapping edits of %s", d.File)
		}
		out.Write(d.src[pos:e.at])
		out.WriteString(e.text)
		pos = e.at + e.del
	}
	out.Write(d.src[pos:])
	formatted, err := format.Source(out.Bytes())
	if err != nil {
		return nil, errs.Wrap(errs.InternalServerError, "the edited declaration does not format (nothing was written)", err)
	}
	return formatted, nil
}
