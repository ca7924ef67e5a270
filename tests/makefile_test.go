package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestMakeHelp holds `make help` (and plain `make`) to the Makefile: every
// target is listed once, with its one line.
func TestMakeHelp(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make on PATH")
	}
	b, err := os.ReadFile(filepath.Join(repoRoot(), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	targets := regexp.MustCompile(`(?m)^([a-z][a-z-]*):(?:[^=]|$)`).FindAllStringSubmatch(string(b), -1)
	if len(targets) < 10 {
		t.Fatalf("found %d targets in the Makefile: the pattern no longer reads it", len(targets))
	}
	for _, args := range [][]string{{"-s", "help"}, {"-s"}} {
		cmd := exec.Command("make", args...)
		cmd.Dir = repoRoot()
		cmd.Env = append(os.Environ(), "MAKEFLAGS=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		for _, m := range targets {
			var found []string
			for _, l := range lines {
				if f := strings.Fields(l); len(f) > 1 && f[0] == m[1] {
					found = append(found, l)
				}
			}
			if len(found) != 1 {
				t.Errorf("make %s lists target %s %d times, want once with its line: %q", strings.Join(args, " "), m[1], len(found), found)
			}
		}
		if len(lines) != len(targets)+1 {
			t.Errorf("make %s printed %d lines for %d targets:\n%s", strings.Join(args, " "), len(lines), len(targets), out)
		}
	}
}
