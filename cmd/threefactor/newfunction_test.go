package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNewFunctionInACopy runs `threefactor new function` in a copy of the
// repository, as a user would, and holds the result to what the command
// promises: the repository builds and vets, the new route is in the app
// with the pattern asked for, the generated test passes against the
// emulator, and running the command again is refused with nothing
// changed.
//
// The copy lives at a path fixed per checkout (locked while in use), so
// that Go's build cache, which keys packages by folder, serves every
// package the run does not change.
func TestNewFunctionInACopy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and tests a copy of the repository (about two minutes); go test without -short runs it")
	}
	root := repoRoot(t)
	dir := lockedCopyDir(t, root)
	start := time.Now()
	copyRepo(t, root, dir)
	t.Logf("copied %s to %s in %s", root, dir, time.Since(start).Round(time.Millisecond))

	args := []string{"new", "function", "notifycustomer", "--table", "orders", "--on", "MODIFY",
		"--where", "status=DRIVER_ASSIGNED", "--changed", "driverId"}
	out := goIn(t, dir, append([]string{"run", "./cmd/threefactor"}, args...)...)
	for _, want := range []string{
		"created functions/notifycustomer/notifycustomer.go",
		"created functions/notifycustomer/notifycustomer_test.go",
		"created functions/notifycustomer/lambda/main.go",
		"updated events/app.go",
		"make dev", "fooddelivery-notifycustomer-dlq",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	goIn(t, dir, "build", "./...")
	goIn(t, dir, "vet", "./...")
	test := goIn(t, dir, "test", "-count=1", "-v", "./functions/notifycustomer/...")
	for _, want := range []string{"--- PASS: TestHandle", "--- PASS: TestUndecodableImageFailsPermanently", "ok  \tgithub.com/threefactor/framework/functions/notifycustomer"} {
		if !strings.Contains(test, want) {
			t.Errorf("go test output lacks %q:\n%s", want, test)
		}
	}

	// The app the copy's threefactor reads has the route, as asked.
	var routes struct {
		Routes []struct {
			Name, Function string
			Pattern        json.RawMessage
		}
	}
	if err := json.Unmarshal([]byte(goIn(t, dir, "run", "./cmd/threefactor", "routes", "--json")), &routes); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range routes.Routes {
		if r.Name != "notifycustomer" {
			continue
		}
		found = true
		var compact bytes.Buffer
		_ = json.Compact(&compact, r.Pattern)
		want := `{"detail":{"changed":["driverId"],"new":{"status":["DRIVER_ASSIGNED"]},"operation":["MODIFY"],"table":["orders"]},"detail-type":["Change"],"source":["fooddelivery.changes"]}`
		if r.Function != "notifycustomer" || compact.String() != want {
			t.Errorf("route %s -> %s pattern %s, want -> notifycustomer pattern %s", r.Name, r.Function, compact.String(), want)
		}
	}
	if !found {
		t.Errorf("no route notifycustomer in %+v", routes.Routes)
	}

	// Again: refused, and nothing changed.
	decl := filepath.Join(dir, "events", "app.go")
	before, err := os.ReadFile(decl)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", append([]string{"run", "./cmd/threefactor"}, args...)...)
	cmd.Dir = dir
	again, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(again), "ALREADY_EXISTS") {
		t.Errorf("second run: %v\n%s\nwant exit 1 with ALREADY_EXISTS", err, again)
	}
	if after, _ := os.ReadFile(decl); !bytes.Equal(before, after) {
		t.Errorf("the refused run changed events/app.go")
	}
}

// goIn runs the go command in dir and returns its output; it fails the
// test, with the output, when the command fails.
func goIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	start := time.Now()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	t.Logf("go %s: %s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	return out.String()
}

// lockedCopyDir is the copy's folder for this checkout, empty, held under
// an exclusive lock until the test ends, and removed then.
func lockedCopyDir(t *testing.T, root string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(os.TempDir(), "threefactor-newfunction-"+hex.EncodeToString(sum[:6]))
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = os.RemoveAll(dir)
		_ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
		lock.Close()
	})
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// copyRepo copies the repository's source: no VCS data, installed
// packages, build output or local state.
func copyRepo(t *testing.T, root, dir string) {
	t.Helper()
	skipAnywhere := map[string]bool{".git": true, "node_modules": true}
	skipAtRoot := map[string]bool{"build": true, "cdk.out": true, ".dev": true}
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		if skipAnywhere[e.Name()] || (filepath.Dir(rel) == "." && skipAtRoot[rel]) {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dir, rel)
		switch {
		case e.IsDir():
			return os.MkdirAll(target, 0o755)
		case e.Type().IsRegular():
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			info, err := e.Info()
			if err != nil {
				return err
			}
			return os.WriteFile(target, b, info.Mode().Perm())
		}
		return nil // sockets, symlinks: not source
	})
	if err != nil {
		t.Fatal(err)
	}
}
