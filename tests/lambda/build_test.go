package lambda

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/threefactor/framework/lib/lambdarun"
)

// The binaries run here are built as `make build` builds the deployment
// packages, but for this machine: the Makefile's flags are lambdarun's.
func TestBuildFlagsAreMakeBuilds(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root(), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`(?m)^\s*CGO_ENABLED=0 GOOS=linux GOARCH=arm64 \$\(GO\) build (.*) -o build/\$\$f/bootstrap \./functions/\$\$f/lambda`).FindSubmatch(b)
	if line == nil {
		t.Fatal("no `go build` of build/<name>/bootstrap in the Makefile's build target")
	}
	var quoted []string
	for _, f := range lambdarun.BuildFlags() {
		if strings.Contains(f, " ") {
			f = `"` + f + `"`
		}
		quoted = append(quoted, f)
	}
	if got, want := string(line[1]), strings.Join(quoted, " "); got != want {
		t.Errorf("make build uses %s; lambdarun.Build uses %s", got, want)
	}
}
