package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/threefactor/framework/tests/harness"
)

// TestGraphiQLInBrowser opens make dev's GraphiQL in headless Chromium
// with no name but loopback resolvable (tests/js/graphiql.mjs): the page
// renders from the files the dev runtime serves, opens with the app's
// tabs and the demo user's token, its docs explorer shows the schema, and
// it runs a mutation and a subscription whose pushes arrive in the result
// pane. CHROMIUM names the browser (default /usr/bin/chromium; make deps
// installs it in CI).
func TestGraphiQLInBrowser(t *testing.T) {
	d := harness.StartDev(t, harness.FreeAddr(t))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := browserScript(ctx, t, "graphiql.mjs", "http://"+d.Addr)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	steps := map[string]map[string]any{}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var s map[string]any
		if json.Unmarshal(sc.Bytes(), &s) == nil {
			steps[s["step"].(string)] = s
		}
	}
	if err != nil {
		t.Fatalf("graphiql.mjs: %v\nsteps: %v\n%s", err, steps, stderr.String())
	}
	// The script asserts each step in the page; these are what it saw.
	for _, want := range []string{"rendered", "tabs", "token", "docs", "placeOrder", "payOrder", "orderUpdated"} {
		if steps[want] == nil {
			t.Errorf("step %s not done: %v", want, steps)
		}
	}
	if steps["token"]["sub"] != "demo" || steps["rendered"]["csp"] != true || steps["orderUpdated"]["status"] != "DRIVER_ASSIGNED" {
		t.Errorf("steps %v", steps)
	}
}

// browserScript is a command running one of tests/js's puppeteer-core
// scripts in headless Chromium: Debian's package, or the one CHROMIUM
// names (puppeteer-core downloads none).
func browserScript(ctx context.Context, t *testing.T, script string, args ...string) *exec.Cmd {
	t.Helper()
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("no browser at %s: install Chromium (Debian: apt-get install chromium; make deps does it in CI) or set CHROMIUM", chromium)
	}
	js := filepath.Join(repoRoot(), "tests", "js")
	if _, err := os.Stat(filepath.Join(js, "node_modules", "puppeteer-core")); err != nil {
		t.Fatal("tests/js/node_modules is missing: run make deps (npm ci in tests/js)")
	}
	cmd := exec.CommandContext(ctx, "node", append([]string{filepath.Join(js, script)}, args...)...)
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	return cmd
}
