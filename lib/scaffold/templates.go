package scaffold

import (
	"bytes"
	"fmt"
	"go/format"
	"path"
	"strconv"
	"strings"
	"text/template"

	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/topology"
)

// The three files of a function. Each is formatted with go/format after
// rendering, so alignment is gofmt's.
var templates = template.Must(template.New("").Parse(`
{{- define "function" -}}
// {{.Doc}}
//
// TODO: say what the step does, and why doing it twice does no harm.
package {{.Package}}

import (
	"context"

	"{{.Lib}}/lib/app"
	"{{.Lib}}/lib/change"
	"{{.Lib}}/lib/consumer"
)

// Name is the function's name in the app declaration.
const Name = "{{.Name}}"

// {{.Type}} is an item of the {{.Table}} table as a change's images hold it:
// a JSON object of the item's attributes (the dynamodbav tags name the same
// attributes for the SDK's attributevalue). It has the table's key and the
// attributes the route matches on; add the ones the step reads.
{{- if .HasAny}} A field
// typed any is one whose type the generator cannot know: give it its own.
{{- end}}
type {{.Type}} struct {
{{- range .Fields}}
	{{.Go}} {{.Type}} ` + "`" + `dynamodbav:"{{.Attr}}{{.Omit}}" json:"{{.Attr}}{{.Omit}}"` + "`" + `
{{- end}}
}

// Build builds the handler from the function's environment, once per
// process: at a Lambda cold start, and when the dev runtime starts. Read
// settings and make clients here (env.Table({{printf "%q" .Table}}) is the table's
// name, env.DynamoDB() a client, env.Logger a logger that adds the change's
// correlation id), so that a missing setting stops the function at start,
// by name.
func Build(_ context.Context, env *app.Env) (consumer.Handler[{{.Type}}], error) {
	return func(ctx context.Context, c change.Change[{{.Type}}]) error {
		// {{.Images}}
		//
		// Do one thing, and change state by writing: the write is the next
		// change event. The step runs at least once per change, so make a
		// second run harmless (c.ID is the change's stable id; see
		// lib/idempotency). Return an error to have the change delivered
		// again after a backoff, errs.Permanent(err) to send it to the
		// dead-letter queue at once.
		return nil
	}, nil
}
{{end}}

{{- define "test" -}}
package {{.Package}}_test

import (
	"os"
	"testing"

	{{if .AppAlias}}{{.AppAlias}} {{end}}"{{.AppImport}}"
	"{{.FuncImport}}"
	"{{.Lib}}/lib/app/apptest"
	"{{.Lib}}/lib/change"
	"{{.Lib}}/lib/errs"
)

// The tests run against the emulator: AWS_ENDPOINT_URL, or a private one
// started for this test binary.
func TestMain(m *testing.M) { os.Exit(apptest.Main(m)) }

// TestHandle delivers changes that the {{.Route}} route matches to the
// function through the framework's consumer, as the route's queue would,
// over fresh tables on the emulator.
func TestHandle(t *testing.T) {
	f := apptest.NewFunction(t, {{.AppRef}}, {{.Package}}.Name)
	item := {{.ItemLit}}
{{- if .BeforeLit}}
	before := {{.BeforeLit}}
{{- end}}
	for _, c := range []change.Event{
{{- range .Events}}
		{{.}},
{{- end}}
	} {
		if err := f.Deliver(t, c); err != nil {
			t.Fatalf("%s: the handler failed: %v", c.Operation, err)
		}
	}
	// TODO: assert what the step did, e.g. read what it wrote with f.Get.
}

// A change whose image does not decode into {{.Type}} fails permanently:
// the consumer sends it to the dead-letter queue at once instead of
// retrying it.
func TestUndecodableImageFailsPermanently(t *testing.T) {
	f := apptest.NewFunction(t, {{.AppRef}}, {{.Package}}.Name)
	bad := {{.BadLit}} // {{.BadWhy}}
	err := f.Deliver(t, {{.BadEvent}})
	if err == nil || !errs.IsPermanent(err) {
		t.Fatalf("err = %v, want a permanent failure", err)
	}
}
{{end}}

{{- define "main" -}}
// Command lambda is the {{.Name}} Lambda: an SQS event source mapping (with
// ReportBatchItemFailures) delivers its routes' change events to it.
package main

import (
	{{if .AppAlias}}{{.AppAlias}} {{end}}"{{.AppImport}}"
	"{{.FuncImport}}"
	"{{.Lib}}/lib/app"
)

func main() { app.StartFunction({{.AppRef}}, {{.Package}}.Name) }
{{end}}
`))

type templateField struct {
	Go, Attr, Type, Omit string
}

type templateData struct {
	Package, Name, App, Route, Table, Type string
	Doc, Images                            string
	Fields                                 []templateField
	HasAny                                 bool
	Lib, AppImport, AppAlias, AppRef       string
	FuncImport                             string
	ItemLit, BeforeLit                     string
	Events                                 []string
	BadLit, BadWhy, BadEvent               string
}

func (d *Declaration) templateData(topo topology.Topology, tb topology.Table, f Function, fields []*field) templateData {
	td := templateData{
		Package: f.Name, Name: f.Name, App: topo.App, Route: f.Route, Table: f.Table, Type: f.Type,
		Images: wrap("TODO: the step. "+images(f), 70, "\n\t\t// "),
		Lib:    d.Lib, AppImport: d.Import, AppRef: d.Ref(), FuncImport: d.FunctionImport(f.Name),
	}
	td.Doc = wrap(fmt.Sprintf("Package %s is the %s function of app %s: its route, %s, delivers it %s.",
		f.Name, f.Name, topo.App, f.Route, summary(f)), 74, "\n// ")
	if path.Base(d.Import) != d.Package {
		td.AppAlias = d.Package
	}
	var item, before, bad []string
	modify := false
	for _, op := range f.Operations {
		modify = modify || op == topology.Modify
	}
	for i, fl := range fields {
		tf := templateField{Go: fl.Go, Attr: fl.Attr, Type: fl.Type}
		if fl.Type == "any" {
			tf.Omit, td.HasAny = ",omitempty", true
		}
		td.Fields = append(td.Fields, tf)

		var now, was string
		switch {
		case fl.key:
			now = keyValue(fl, i)
			was = now
		case len(fl.where) > 0:
			now = strconv.Quote(fl.where[0])
			was = now
			if fl.changed {
				was = strconv.Quote("not-" + fl.where[0])
			}
		case fl.changed:
			now, was = `"after"`, `"before"`
		}
		item = append(item, fl.Go+": "+now)
		before = append(before, fl.Go+": "+was)
		if fl.key {
			v := now
			if i == 0 {
				v, td.BadWhy = badKey(fl, f.Type)
			}
			bad = append(bad, strconv.Quote(fl.Attr)+": "+v)
		}
	}
	lit := func(vals []string) string { return f.Name + "." + f.Type + "{" + strings.Join(vals, ", ") + "}" }
	td.ItemLit = lit(item)
	if modify {
		td.BeforeLit = lit(before)
	}
	table := strconv.Quote(f.Table)
	for _, op := range f.Operations {
		switch op {
		case topology.Insert:
			td.Events = append(td.Events, "f.Insert(t, "+table+", item)")
		case topology.Modify:
			td.Events = append(td.Events, "f.Modify(t, "+table+", before, item)")
		case topology.Remove:
			td.Events = append(td.Events, "f.Remove(t, "+table+", item)")
		}
	}
	td.BadLit = "map[string]any{" + strings.Join(bad, ", ") + "}"
	switch f.Operations[0] {
	case topology.Insert:
		td.BadEvent = "f.Insert(t, " + table + ", bad)"
	case topology.Modify:
		td.BadEvent = "f.Modify(t, " + table + ", bad, bad)"
	case topology.Remove:
		td.BadEvent = "f.Remove(t, " + table + ", bad)"
	}
	return td
}

// keyValue is a test value of key field number i.
func keyValue(fl *field, i int) string {
	switch fl.Type {
	case "int64":
		return strconv.Itoa(i + 1)
	case "[]byte":
		return "[]byte(" + strconv.Quote("test-"+strings.ToLower(fl.Attr)) + ")"
	}
	return strconv.Quote("test-" + strings.ToLower(fl.Attr))
}

// badKey is a value of the key field that does not decode into its type.
func badKey(fl *field, typ string) (string, string) {
	switch fl.Type {
	case "int64":
		return `"not-a-number"`, fmt.Sprintf("%s is a number in %s", fl.Attr, typ)
	case "[]byte":
		return "42", fmt.Sprintf("%s is binary (base64 in JSON) in %s", fl.Attr, typ)
	}
	return "42", fmt.Sprintf("%s is a string in %s", fl.Attr, typ)
}

// summary says in words which changes the route delivers.
func summary(f Function) string {
	ops := make([]string, len(f.Operations))
	for i, op := range f.Operations {
		ops[i] = string(op)
	}
	s := "each " + orList(ops) + " of an item of the " + f.Table + " table"
	var conds []string
	for _, c := range whereConditions(f.Where) {
		q := make([]string, len(c.values))
		for i, v := range c.values {
			q[i] = strconv.Quote(v)
		}
		conds = append(conds, "new."+c.attr+" = "+orList(q))
	}
	if len(conds) > 0 {
		s += " with " + strings.Join(conds, " and ")
	}
	if len(f.Changed) > 0 {
		s += ", in which " + orList(f.Changed) + " changed"
	}
	return s
}

func orList(xs []string) string {
	if len(xs) <= 1 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}

// images says which images the handler gets.
func images(f Function) string {
	var newer, removed, modify bool
	for _, op := range f.Operations {
		switch op {
		case topology.Insert:
			newer = true
		case topology.Modify:
			newer, modify = true, true
		case topology.Remove:
			removed = true
		}
	}
	var s []string
	if newer {
		x := "c.NewItem is the " + f.Type + " after the change"
		if modify {
			x += ", c.OldItem the one before it"
		}
		s = append(s, x+".")
	}
	if removed {
		s = append(s, "c.OldItem is the removed "+f.Type+".")
	}
	s = append(s, "A change too large to publish whole has neither (c.Reduced): read the item by its key, c.Keys, then.")
	return strings.Join(s, " ")
}

// wrap breaks s into lines of at most width, joined by sep.
func wrap(s string, width int, sep string) string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return strings.Join(append(lines, line), sep)
}

// render executes template name and formats the result.
func render(name string, data templateData) ([]byte, error) {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		return nil, errs.Wrap(errs.InternalServerError, "render "+name, err)
	}
	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, errs.Wrap(errs.InternalServerError, "format the generated "+name+" file", fmt.Errorf("%w\n%s", err, b.Bytes()))
	}
	return src, nil
}
