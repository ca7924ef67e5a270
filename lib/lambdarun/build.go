package lambdarun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// EmulatorPackage is AWS's runtime interface emulator, a tool dependency
// of the module (go.mod pins its version); BuildEmulator builds it from
// source.
const EmulatorPackage = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// EmulatorBinary is the name of the emulator's executable.
const EmulatorBinary = "aws-lambda-rie"

// buildArgs are `make build`'s flags: a static, stripped executable
// without local paths, with aws-lambda-go's RPC mode compiled out (the
// provided.al2023 runtime speaks the Runtime API only).
var buildArgs = []string{"-trimpath", "-ldflags", "-s -w", "-tags", "lambda.norpc"}

// BuildFlags are the go build flags Build uses, `make build`'s (with
// CGO_ENABLED=0); tests/lambda holds the Makefile to them.
func BuildFlags() []string { return append([]string(nil), buildArgs...) }

// BuildConfig says what Build builds.
type BuildConfig struct {
	// Dir is the root of the Go module holding the packages.
	Dir string
	// Out receives Out/<name>/bootstrap for each function.
	Out string
	// Packages maps each function's name to its main package, relative
	// to Dir (see Packages).
	Packages map[string]string
	// GOOS and GOARCH to build for; default the host's (the emulator runs
	// binaries of the host), linux/arm64 for the deployment package.
	GOOS, GOARCH string
	// Parallel bounds the builds running at once; default 2. The go
	// command itself uses every core, and builds share the build cache.
	Parallel int
}

// Packages are the main packages of the Lambdas named, as `make build`
// finds them: ./functions/<name>/lambda.
func Packages(names []string) map[string]string {
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[n] = "./functions/" + n + "/lambda"
	}
	return m
}

// Build builds every package as Out/<name>/bootstrap with `make build`'s
// flags and returns the paths by function name. The error names every
// package that did not build, with the compiler's output.
func Build(ctx context.Context, cfg BuildConfig) (map[string]string, error) {
	if cfg.Dir == "" || cfg.Out == "" || len(cfg.Packages) == 0 {
		return nil, errors.New("lambdarun: build: Dir, Out and Packages are required")
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 2
	}
	names := make([]string, 0, len(cfg.Packages))
	for n := range cfg.Packages {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make(map[string]string, len(names))
	errs := make([]error, len(names))
	sem := make(chan struct{}, cfg.Parallel)
	var wg sync.WaitGroup
	for i, name := range names {
		bin := filepath.Join(cfg.Out, name, "bootstrap")
		out[name] = bin
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = goBuild(ctx, cfg.Dir, cfg.GOOS, cfg.GOARCH, bin, cfg.Packages[name], buildArgs...)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("lambdarun: build: %w", err)
	}
	return out, nil
}

// BuildEmulator builds the runtime interface emulator for the host from
// the module at dir (its go.mod pins the version) as out/aws-lambda-rie.
func BuildEmulator(ctx context.Context, dir, out string) (string, error) {
	bin := filepath.Join(out, EmulatorBinary)
	if err := goBuild(ctx, dir, "", "", bin, EmulatorPackage, "-trimpath"); err != nil {
		return "", fmt.Errorf("lambdarun: build the runtime interface emulator: %w", err)
	}
	return bin, nil
}

func goBuild(ctx context.Context, dir, goos, goarch, bin, pkg string, args ...string) error {
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", append(append([]string{"build"}, args...), "-o", bin, pkg)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+or(goos, runtime.GOOS), "GOARCH="+or(goarch, runtime.GOARCH))
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, strings.TrimSpace(buf.String()))
	}
	return nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
