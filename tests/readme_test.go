package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/threefactor/framework/tests/harness"
)

// tryIt is the README's "Try it": the fenced block marked ```sh try-it.
func tryIt(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)\n```sh try-it\n(.*?)\n```\n").FindSubmatch(b)
	if m == nil {
		t.Fatal("README.md has no ```sh try-it block")
	}
	return string(m[1])
}

// TestReadmeTryIt pastes the README's Try it into bash, as a person would,
// against `make dev` (cmd/dev, on its own port and state directory): the
// README cannot drift from what works. The dev runtime logs for people
// meanwhile: its lines are checked too, and no warning may appear.
func TestReadmeTryIt(t *testing.T) {
	script := tryIt(t)
	if !strings.Contains(script, "localhost:8080") {
		t.Fatal("the Try it block no longer talks to localhost:8080: update this test's substitution")
	}
	d := harness.StartDev(t, harness.FreeAddr(t), "LOG_FORMAT=human", "LOG_LEVEL=info")
	script = strings.ReplaceAll(script, "localhost:8080", d.Addr)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-e")
	cmd.Stdin = strings.NewReader(script)
	cmd.Dir = repoRoot()
	// make token and threefactor subscribe find the dev runtime's issuer
	// and address the way they find make dev's: STATE_DIR and DEV_ADDR.
	cmd.Env = append(os.Environ(), "STATE_DIR="+d.StateDir, "DEV_ADDR="+d.Addr, "MAKEFLAGS=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the Try it block failed: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")

	// Every line is a JSON response or push, in the order the README
	// tells: PLACED, VALIDATED, the snapshot (the order as it is: it may
	// print before or after the payment's answer), the payment's answer,
	// then the pushes up to DRIVER_ASSIGNED.
	var statuses []string
	for _, l := range lines {
		var r struct {
			Data   map[string]struct{ Status string }
			Errors []json.RawMessage
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil || len(r.Errors) > 0 || len(r.Data) != 1 {
			t.Fatalf("stdout line %q is not one GraphQL result without errors\nstdout:\n%s", l, out)
		}
		for field, v := range r.Data {
			statuses = append(statuses, field+":"+v.Status)
		}
	}
	got := strings.Join(statuses, " ")
	if !regexp.MustCompile(`^placeOrder:PLACED order:VALIDATED (orderUpdated:VALIDATED )?payOrder:VALIDATED (orderUpdated:\w+ )*orderUpdated:PAID (orderUpdated:\w+ )*orderUpdated:APPROVED (orderUpdated:\w+ )*orderUpdated:DRIVER_ASSIGNED$`).MatchString(got) {
		t.Errorf("the Try it printed %s\nwant PLACED, VALIDATED, the payment, then pushes through PAID and APPROVED to DRIVER_ASSIGNED", got)
	}
	if !strings.Contains(stderr.String(), "subscribed at ws://"+d.Addr+"/graphql") {
		t.Errorf("threefactor subscribe did not say it was subscribed:\n%s", stderr.String())
	}

	// What make dev printed meanwhile: a line per event, for people.
	log := d.Output(t)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{3} request +POST mutation PlaceOrder → 200  \S+  alice  ·\S{6}$`),
		regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{3} change +orders INSERT ord_\w+ .*status=PLACED`),
		regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{3} validateorder +order validated  orderId=ord_\w+ status=VALIDATED totalCents=1800`),
		regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{3} deliver +validate-order → validateorder  #1 ok  \S+  ·\S{6}$`),
		regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{3} subscribe +orderUpdated`),
		regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{3} push +orderUpdated → connection \S+  \d+ B`),
		regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{3} change +orders MODIFY ord_\w+ .*status=DRIVER_ASSIGNED`),
	} {
		if !want.MatchString(log) {
			t.Errorf("the dev runtime's output has no line matching %s", want)
		}
	}
	checkNoWarnings(t, log)
	if strings.Contains(log, `{"time":`) {
		t.Errorf("LOG_FORMAT=human still wrote JSON lines")
	}
}

// sdkWarning matches what the AWS SDK prints or the runtime relays from
// it: with the emulator nothing of it is about the user's code.
var sdkWarning = regexp.MustCompile(`(?m)^SDK \d{4}/|aws-sdk|failed to discard remaining HTTP response body|response did not match expected checksum`)

// checkNoWarnings fails on any SDK warning, and on any warning or error
// the dev runtime printed in a run where nothing was meant to fail.
func checkNoWarnings(t *testing.T, log string) {
	t.Helper()
	if m := sdkWarning.FindString(log); m != "" {
		t.Errorf("the dev runtime printed an SDK warning (%q):\n%s", m, log)
	}
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, " WARN ") || strings.Contains(l, " ERROR ") || strings.Contains(l, `"level":"WARN"`) || strings.Contains(l, `"level":"ERROR"`) {
			t.Errorf("the dev runtime warned: %s", l)
		}
	}
}
