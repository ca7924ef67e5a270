package scaffold

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/topology"
)

// loader prints the topology of an app and whether it is valid; it is run
// with `go run` in the app's module, so it reads the app as it is on disk.
const loader = `package main

import (
	"encoding/json"
	"os"

	declaration %q
)

func main() {
	a := declaration.%s
	out := struct {
		Topology any
		Invalid  string
	}{Topology: a.Topology()}
	if err := a.Validate(); err != nil {
		out.Invalid = err.Error()
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
}
`

// ErrInvalidApp is the error of LoadTopology for an app that builds but
// whose declaration does not validate.
var ErrInvalidApp = errs.New(errs.FailedPrecondition, "the app declaration is not valid")

// LoadTopology compiles the app that d declares, as it is on disk, and
// returns its topology. An app that does not compile is an
// errs.FailedPrecondition error with the compiler's output; one that does
// not validate returns its topology and an error wrapping ErrInvalidApp.
// It needs the go command, and takes as long as `go run` of the app does
// (the build cache makes a second run quick).
func LoadTopology(ctx context.Context, d *Declaration) (topology.Topology, error) {
	var topo topology.Topology
	dir, err := os.MkdirTemp("", "threefactor-load")
	if err != nil {
		return topo, err
	}
	defer os.RemoveAll(dir)
	main := filepath.Join(dir, "main.go")
	if err := os.WriteFile(main, fmt.Appendf(nil, loader, d.Import, d.Var), 0o600); err != nil {
		return topo, err
	}
	cmd := exec.CommandContext(ctx, "go", "run", main)
	cmd.Dir = d.Root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return topo, errs.Wrap(errs.FailedPrecondition,
			fmt.Sprintf("could not build app %s (%s in %s)", d.Ref(), d.Import, d.File), fmt.Errorf("%s", msg))
	}
	var out struct {
		Topology topology.Topology
		Invalid  string
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return topo, errs.Wrap(errs.InternalServerError, "read the app's topology", err)
	}
	if out.Invalid != "" {
		return out.Topology, fmt.Errorf("%w: %s", ErrInvalidApp, out.Invalid)
	}
	return out.Topology, nil
}
