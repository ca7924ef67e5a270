// Package cli is the threefactor command line of an app: an app's
// cmd/threefactor is one line,
//
//	func main() { cli.Main(cli.Config{App: myapp.App}) }
//
// and `go run ./cmd/threefactor help` lists its commands:
//
//	threefactor new function NAME --table TABLE --on INSERT|MODIFY|REMOVE [--where ATTR=VALUE]... [--changed ATTR]...
//	threefactor routes [--json]
//	threefactor token USER [--group GROUP]... [--claim NAME=VALUE]... [--ttl 12h]
//	threefactor subscribe SUBSCRIPTION [--var NAME=VALUE]... [--token TOKEN | --user USER] [-- COMMAND...]
//	threefactor log TABLE/KEY [--json]
//	threefactor trace CORRELATION_ID [--json]
//	threefactor replay --restore | --redeliver --route ROUTE | --digest
//	threefactor dlq list [ROUTE] [--json]
//	threefactor dlq redrive ROUTE (--id ID... | --all)
//	threefactor dlq drop ROUTE (--id ID... | --all) [--yes]
//
// Each command is one file of this package that registers itself with its
// flags; this file parses the command line (flags may come before or after
// the arguments), prints usage and help, and turns errors into exit codes:
// 2 for a bad command line, 1 for a failure. What a command does lives in
// the package it calls (lib/scaffold, lib/topology, lib/realtime/wsclient,
// lib/eventlog, lib/replay, lib/dlq).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/scaffold"
)

// Config is the command line of one app.
type Config struct {
	// App is the app the commands read.
	App app.App
	// Layout is where the app's code is, for the commands that write
	// code; its zero fields are scaffold's defaults (this repository's
	// layout: events/app.go and functions/). Flags override it.
	Layout scaffold.Layout
	// Getenv reads the environment variables that choose where the event
	// log commands look (AWS_ENDPOINT_URL, AWS_PROFILE); nil is
	// os.Getenv.
	Getenv func(string) string
}

// Main runs the command line of os.Args and exits with its code.
func Main(cfg Config) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := Run(ctx, cfg, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one verb of the command line.
type command struct {
	// name is what selects it: one word, or two ("new function").
	name string
	// args name its positional arguments, in order, all required.
	args []string
	// optional name the positional arguments that may follow args.
	optional []string
	// synopsis follows the name and args in the usage line.
	synopsis string
	// summary is its line in the list of commands.
	summary string
	// help is printed after the usage line and before the flags.
	help string
	// command says it takes a command line after "--" (env.rest).
	command bool
	// setup declares its flags on fs, with defaults from cfg, and returns
	// what runs it with the positional arguments.
	setup func(fs *flag.FlagSet, cfg Config) func(ctx context.Context, e *env, args []string) error
}

// env is what a command runs with.
type env struct {
	cfg    Config
	stdout io.Writer
	stderr io.Writer
	// stdin is where a command reads a confirmation, when terminal says
	// it is one.
	stdin    io.Reader
	terminal bool
	// rest is what followed "--", for a command that takes one.
	rest   []string
	getenv func(string) string
}

var commands = map[string]*command{}

// register adds a command; each command's file calls it from init.
func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("threefactor: command " + c.name + " registered twice")
	}
	commands[c.name] = c
}

// usageError is a bad command line: exit code 2, with the usage.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// Run runs the command line args (without the program's name) and
// returns the exit code: 0, 1 for a failure, 2 for a bad command line.
func Run(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) int {
	a := cfg.App
	e := &env{cfg: cfg, stdout: stdout, stderr: stderr, stdin: os.Stdin, terminal: isTerminal(os.Stdin), getenv: cfg.Getenv}
	if e.getenv == nil {
		e.getenv = os.Getenv
	}
	if len(args) == 0 {
		printHelp(e.stderr, a)
		return 2
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) == 1 {
			printHelp(e.stdout, a)
			return 0
		}
		c, _ := lookup(args[1:])
		if c == nil {
			fmt.Fprintf(e.stderr, "threefactor help: no command %q; the commands are:\n\n", strings.Join(args[1:], " "))
			printCommands(e.stderr)
			return 2
		}
		fs := c.flags(io.Discard)
		c.setup(fs, cfg)
		c.printUsage(e.stdout, fs)
		return 0
	}
	c, rest := lookup(args)
	if c == nil {
		if group := groupOf(args[0]); len(group) > 0 {
			fmt.Fprintf(e.stderr, "threefactor %s: say what: %s\n", args[0], strings.Join(group, ", "))
		} else {
			fmt.Fprintf(e.stderr, "threefactor: no command %q; the commands are:\n\n", args[0])
			printCommands(e.stderr)
		}
		return 2
	}
	fs := c.flags(io.Discard)
	runner := c.setup(fs, cfg)
	pos, after, err := parse(fs, rest)
	if c.command {
		e.rest = after
	} else {
		pos = append(pos, after...)
	}
	if errors.Is(err, flag.ErrHelp) {
		c.printUsage(e.stdout, fs)
		return 0
	}
	if err == nil && (len(pos) < len(c.args) || len(pos) > len(c.args)+len(c.optional)) {
		err = usagef("want %s, got %d argument(s)%s", c.argsLine(), len(pos), quoted(pos))
		if len(c.args)+len(c.optional) == 0 {
			err = usagef("takes no arguments, got %s", strings.Join(pos, " "))
		}
	}
	if err == nil {
		err = runner(ctx, e, pos)
	}
	if err == nil {
		return 0
	}
	fmt.Fprintf(e.stderr, "threefactor %s: %v\n", c.name, err)
	var ue usageError
	if errors.As(err, &ue) || errs.CodeOf(err) == errs.BadUserInput {
		fmt.Fprintf(e.stderr, "usage: %s\n(threefactor help %s for more)\n", c.usageLine(), c.name)
		return 2
	}
	return 1
}

func quoted(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	return ": " + strings.Join(xs, " ")
}

// lookup finds the command args start with: a two-word name first.
func lookup(args []string) (*command, []string) {
	if len(args) >= 2 {
		if c, ok := commands[args[0]+" "+args[1]]; ok {
			return c, args[2:]
		}
	}
	if len(args) >= 1 {
		if c, ok := commands[args[0]]; ok {
			return c, args[1:]
		}
	}
	return nil, nil
}

// groupOf lists the two-word commands whose first word is w.
func groupOf(w string) []string {
	var out []string
	for name := range commands {
		if strings.HasPrefix(name, w+" ") {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// flags is the command's flag set, with errors going to w.
func (c *command) flags(w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("threefactor "+c.name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {}
	return fs
}

// parse parses flags wherever they are among the positional arguments
// (Go's flag package stops at the first of those); what follows "--" is
// returned apart, unparsed.
func parse(fs *flag.FlagSet, args []string) (pos, after []string, err error) {
	for {
		before := args
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, nil, err
			}
			return nil, nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil, nil
		}
		// fs.Parse stopped at a positional argument, or after "--".
		consumed := before[:len(before)-len(args)]
		if n := len(consumed); n > 0 && consumed[n-1] == "--" {
			return pos, args, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// argsLine is the positional arguments as usage shows them.
func (c *command) argsLine() string {
	parts := append([]string(nil), c.args...)
	for _, o := range c.optional {
		parts = append(parts, "["+o+"]")
	}
	return strings.Join(parts, " ")
}

func (c *command) usageLine() string {
	parts := []string{"threefactor", c.name}
	if a := c.argsLine(); a != "" {
		parts = append(parts, a)
	}
	if c.synopsis != "" {
		parts = append(parts, c.synopsis)
	}
	return strings.Join(parts, " ")
}

func (c *command) printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n", c.usageLine(), c.summary)
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.help))
	}
	var b strings.Builder
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(&b, "  --%s", f.Name)
		if name != "" {
			fmt.Fprintf(&b, " %s", name)
		}
		fmt.Fprintf(&b, "\n      %s", usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" {
			fmt.Fprintf(&b, " (default %s)", f.DefValue)
		}
		b.WriteString("\n")
	})
	if b.Len() > 0 {
		fmt.Fprintf(w, "\nflags:\n%s", b.String())
	}
}

func printHelp(w io.Writer, a app.App) {
	fmt.Fprintf(w, "threefactor is the command line of app %s.\n\nusage: threefactor <command> [arguments] [flags]\n\ncommands:\n", a.Name)
	printCommands(w)
	fmt.Fprint(w, "\nthreefactor help <command> prints a command's flags. Run it from the module root: go run ./cmd/threefactor ...\n")
}

func printCommands(w io.Writer) {
	names := make([]string, 0, len(commands)+1)
	width := len("help")
	for n := range commands {
		names = append(names, n)
		width = max(width, len(n))
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-*s  %s\n", width, n, commands[n].summary)
	}
	fmt.Fprintf(w, "  %-*s  %s\n", width, "help", "this list, or a command's usage and flags: threefactor help <command>")
}

// stringList is a flag that may be repeated; each use adds a value.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}
