package cli

import (
	"context"
	"flag"
	"fmt"
	"path"
	"strings"

	"github.com/threefactor/framework/lib/scaffold"
	"github.com/threefactor/framework/lib/topology"
)

func init() {
	register(&command{
		name:     "new function",
		args:     []string{"NAME"},
		synopsis: "--table TABLE --on INSERT|MODIFY|REMOVE [--where ATTR=VALUE]... [--changed ATTR]...",
		summary:  "add a function and its route: its package, a test on the emulator, its Lambda main, and both in the app declaration",
		help: `
NAME is the function's name, package and folder: lower case letters and
digits. The route (named NAME unless --route says otherwise) takes the
changes of TABLE that are one of the --on operations, whose new image has
each --where attribute equal to one of its values, and (with --changed) in
which one of the --changed attributes changed. The function gets access to
TABLE. Its queue, dead-letter queue, rule, mapping, Lambda and alarms come
from the declaration: make dev runs it, make synth deploys it.

The other flags point at another app's folder; the defaults are the
layout of the app this command was built with. The app is compiled to
read its tables, and compiled again with the new function: when that
fails nothing is changed.`,
		setup: setupNewFunction,
	})
}

func setupNewFunction(fs *flag.FlagSet, cfg Config) func(context.Context, *env, []string) error {
	def := cfg.Layout
	if def.AppFile == "" {
		def.AppFile = scaffold.DefaultAppFile
	}
	if def.FunctionsDir == "" {
		def.FunctionsDir = scaffold.DefaultFunctionsDir
	}
	table := fs.String("table", "", "the `TABLE` whose changes the route takes (it must have a stream)")
	var on, where, changed stringList
	fs.Var(&on, "on", "the `OPERATION`s the route takes: INSERT, MODIFY or REMOVE (repeat it, or give a comma list)")
	fs.Var(&where, "where", "only changes whose new image has `ATTR=VALUE`, a string (repeat it; the same ATTR again adds a value it may have)")
	fs.Var(&changed, "changed", "only changes in which `ATTR` changed (repeat it: any of them)")
	route := fs.String("route", "", "the route's `NAME` (default: the function's)")
	typ := fs.String("type", "", "the item type's `NAME` (default: the table's singular, e.g. Order for orders)")
	appFile := fs.String("app-file", def.AppFile, "the app's declaration `FILE`")
	funcsDir := fs.String("functions-dir", def.FunctionsDir, "the `DIR` that holds the app's functions")
	appImport := fs.String("app-import", def.AppImport, "the declaration's import `PATH` (default: go.mod's module path and the file's folder)")
	appVar := fs.String("app-var", def.AppVar, "the declaration's app.App `VAR`iable (default: the one in the file)")
	dryRun := fs.Bool("dry-run", false, "print what would be written, and write nothing")

	return func(ctx context.Context, e *env, args []string) error {
		if *table == "" {
			return usagef("--table is required")
		}
		if len(on) == 0 {
			return usagef("--on is required: INSERT, MODIFY or REMOVE")
		}
		ops, err := scaffold.ParseOperations(on...)
		if err != nil {
			return err
		}
		f := scaffold.Function{Name: args[0], Table: *table, Operations: ops, Changed: changed, Route: *route, Type: *typ}
		for _, w := range where {
			cond, err := scaffold.ParseWhere(w)
			if err != nil {
				return err
			}
			f.Where = append(f.Where, cond)
		}
		l := scaffold.Layout{AppFile: *appFile, FunctionsDir: *funcsDir, AppImport: *appImport, AppVar: *appVar}
		if *dryRun {
			d, err := scaffold.Open(l)
			if err != nil {
				return err
			}
			topo, err := scaffold.LoadTopology(ctx, d)
			if err != nil {
				return err
			}
			p, err := d.Plan(topo, f)
			if err != nil {
				return err
			}
			printPlan(e, p, "would create", "would update")
			fmt.Fprintln(e.stdout, "(dry run: nothing was written)")
			return nil
		}
		fmt.Fprintf(e.stderr, "reading the app in %s (this compiles it)...\n", *appFile)
		p, err := scaffold.Generate(ctx, l, f)
		if err != nil {
			return err
		}
		printPlan(e, p, "created", "updated")
		printNext(e, p, l)
		return nil
	}
}

func printPlan(e *env, p *scaffold.Plan, created, updated string) {
	what := map[string]string{
		p.Function.Name + ".go":      "the handler: the step goes where the TODO is",
		p.Function.Name + "_test.go": "its test, on the emulator",
		"lambda/main.go":             "its Lambda main",
	}
	width := 0
	for _, f := range p.Files {
		width = max(width, len(f.Path))
	}
	for _, f := range p.Files {
		fmt.Fprintf(e.stdout, "%s %-*s  %s\n", created, width, f.Path, what[strings.TrimPrefix(f.Path, p.Dir+"/")])
	}
	fmt.Fprintf(e.stdout, "%s %-*s  function %s, route %s: %s\n", updated, width, p.Declaration.Path, p.Function.Name, p.Function.Route, describeMatch(p.Function))
}

// describeMatch says which changes the route takes, in the declaration's
// terms.
func describeMatch(f scaffold.Function) string {
	ops := make([]string, len(f.Operations))
	for i, op := range f.Operations {
		ops[i] = string(op)
	}
	s := strings.Join(ops, "|") + " of " + f.Table
	for _, w := range f.Where {
		s += fmt.Sprintf(", new.%s = %q", w.Attr, w.Value)
	}
	if len(f.Changed) > 0 {
		s += ", changed " + strings.Join(f.Changed, "|")
	}
	return s
}

func printNext(e *env, p *scaffold.Plan, l scaffold.Layout) {
	main := path.Join(p.Dir, p.Function.Name+".go")
	steps := [][2]string{
		{"edit " + main, "write the step where the TODO is, and assert what it does in its test"},
		{"go test ./" + p.Dir + "/...", "runs its test against a local emulator"},
	}
	if l.AppFile == scaffold.DefaultAppFile {
		// This repository's app: its make targets, and the golden files
		// that hold its routes and its synthesized template.
		local := topology.Topology{App: p.App}
		steps = append(steps,
			[2]string{"make dev", fmt.Sprintf("runs it behind queue %s (dlq %s)", local.QueueName(p.Function.Route), local.DLQName(p.Function.Route))},
			[2]string{"make routes", "shows its route's EventBridge pattern"},
			[2]string{"go test ./events -update", "accepts the new route in events/testdata/patterns.golden"},
			[2]string{"go test ./infra -run TestGoldenTemplate -update", "accepts its resources in infra/testdata/stack.golden.json"},
			[2]string{"make synth", "synthesizes its rule, queue, DLQ, mapping, Lambda and alarms"},
		)
	}
	width := 0
	for _, s := range steps {
		width = max(width, len(s[0]))
	}
	fmt.Fprintln(e.stdout, "\nnext:")
	for _, s := range steps {
		fmt.Fprintf(e.stdout, "  %-*s  %s\n", width, s[0], s[1])
	}
}
