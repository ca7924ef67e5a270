package scaffold

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/threefactor/framework/lib/errs"
)

// Generate adds function f to the app that l locates: it reads the app
// (LoadTopology), plans the files (Declaration.Plan), writes them, and
// checks the result: the app builds with the new function, its
// declaration validates and lists the function and its route, and the new
// package, its test and its Lambda main pass go vet. When the check fails
// everything written is undone and the error says why.
func Generate(ctx context.Context, l Layout, f Function) (*Plan, error) {
	d, err := Open(l)
	if err != nil {
		return nil, err
	}
	topo, err := LoadTopology(ctx, d)
	if errors.Is(err, ErrInvalidApp) {
		return nil, fmt.Errorf("%w (fix it before adding a function)", err)
	}
	if err != nil {
		return nil, err
	}
	p, err := d.Plan(topo, f)
	if err != nil {
		return nil, err
	}
	if err := p.Write(); err != nil {
		return nil, err
	}
	if err := p.verify(ctx, d); err != nil {
		if uerr := p.Undo(); uerr != nil {
			return nil, errors.Join(err, fmt.Errorf("undo: %w", uerr))
		}
		return nil, fmt.Errorf("%w\n(nothing was changed)", err)
	}
	return p, nil
}

// Write writes the plan: the function's folder and files, then the
// declaration. It refuses when the folder exists or the declaration
// changed since it was read.
func (p *Plan) Write() error {
	dir := filepath.Join(p.Root, filepath.FromSlash(p.Dir))
	if _, err := os.Stat(dir); err == nil {
		return errs.Newf(errs.AlreadyExists, "%s exists", p.Dir)
	}
	declPath := filepath.Join(p.Root, filepath.FromSlash(p.Declaration.Path))
	now, err := os.ReadFile(declPath)
	if err != nil {
		return err
	}
	if !bytes.Equal(now, p.original) {
		return errs.Newf(errs.FailedPrecondition, "%s changed while the function was being planned: run the command again", p.Declaration.Path)
	}
	for _, f := range p.Files {
		path := filepath.Join(p.Root, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			_ = os.RemoveAll(dir)
			return err
		}
		if err := os.WriteFile(path, f.Data, 0o644); err != nil {
			_ = os.RemoveAll(dir)
			return err
		}
	}
	if err := replaceFile(declPath, p.Declaration.Data); err != nil {
		_ = os.RemoveAll(dir)
		return err
	}
	return nil
}

// Undo restores the declaration and removes the function's folder.
func (p *Plan) Undo() error {
	err := replaceFile(filepath.Join(p.Root, filepath.FromSlash(p.Declaration.Path)), p.original)
	return errors.Join(err, os.RemoveAll(filepath.Join(p.Root, filepath.FromSlash(p.Dir))))
}

// replaceFile writes data to path through a temporary file in the same
// folder and a rename, keeping path's mode, so that the file is never
// half written.
func replaceFile(path string, data []byte) error {
	mode := os.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// verify builds the app with the new function and vets the new package.
func (p *Plan) verify(ctx context.Context, d *Declaration) error {
	topo, err := LoadTopology(ctx, d)
	if err != nil {
		return fmt.Errorf("the app with function %s: %w", p.Function.Name, err)
	}
	if _, ok := topo.Function(p.Function.Name); !ok {
		return errs.Newf(errs.InternalServerError, "the edited declaration has no function %s", p.Function.Name)
	}
	if _, ok := topo.Route(p.Function.Route); !ok {
		return errs.Newf(errs.InternalServerError, "the edited declaration has no route %s", p.Function.Route)
	}
	cmd := exec.CommandContext(ctx, "go", "vet", "./"+p.Dir+"/...")
	cmd.Dir = p.Root
	if out, err := cmd.CombinedOutput(); err != nil {
		return errs.Wrap(errs.InternalServerError, "go vet of the new function", fmt.Errorf("%v\n%s", err, strings.TrimSpace(string(out))))
	}
	return nil
}
