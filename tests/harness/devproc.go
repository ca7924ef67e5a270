package harness

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/identity/devissuer"
)

var (
	buildOnce sync.Once
	devBin    string
	buildErr  error
)

// DevBinary builds ./cmd/dev once per test binary, so tests run what
// `make dev` runs.
func DevBinary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs cmd/dev: runs in make test, not with -short")
	}
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "threefactor-dev")
		if err != nil {
			buildErr = err
			return
		}
		devBin = filepath.Join(dir, "dev")
		cmd := exec.Command("go", "build", "-o", devBin, "./cmd/dev")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/dev: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return devBin
}

// FreeAddr is a free loopback address.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Dev is a running cmd/dev process in its own process group, on the
// emulator AWS_ENDPOINT_URL names.
type Dev struct {
	Addr string
	Log  string
	// StateDir is its state directory, which holds its token issuer.
	StateDir string
	cmd      *exec.Cmd
	exited   chan error
}

// Token mints a token the process accepts, as `make token` does: with
// the issuer of its state directory, for o.Subject (default "alice").
func (d *Dev) Token(t testing.TB, o devissuer.Options) string {
	t.Helper()
	if o.Subject == "" {
		o.Subject = "alice"
	}
	tok, err := devissuer.Mint(d.StateDir, o)
	if err != nil {
		t.Fatalf("mint a token: %v", err)
	}
	return tok
}

// Issuer is the process's token issuer.
func (d *Dev) Issuer(t testing.TB) *devissuer.Issuer {
	t.Helper()
	iss, err := devissuer.Open(d.StateDir, "")
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

// StartDev starts cmd/dev on addr with extra environment, on the test's
// emulator, waits for /healthz and stops it (SIGTERM) when the test ends.
func StartDev(t testing.TB, addr string, env ...string) *Dev {
	t.Helper()
	return StartDevWith(t, DevOptions{Addr: addr, Env: env})
}

// DevOptions say how to start cmd/dev.
type DevOptions struct {
	Addr string
	// StateDir is its -state-dir; default a fresh temporary directory.
	StateDir string
	// OwnEmulator leaves AWS_ENDPOINT_URL out of its environment, so that
	// it starts (or reuses) the long-lived emulator of its state dir.
	OwnEmulator bool
	// Env is extra environment.
	Env []string
}

// StartDevWith starts cmd/dev as o says, waits for /healthz and stops it
// (SIGTERM) when the test ends.
func StartDevWith(t testing.TB, o DevOptions) *Dev {
	t.Helper()
	if testing.Short() {
		t.Skip("end to end: runs in make test, not with -short")
	}
	if !o.OwnEmulator {
		emulatortest.Endpoint(t) // start the test binary's emulator, which the process inherits
	}
	dir := t.TempDir()
	addr := o.Addr
	if o.StateDir == "" {
		o.StateDir = filepath.Join(dir, "state")
	}
	d := &Dev{Addr: addr, Log: filepath.Join(dir, "dev.log"), StateDir: o.StateDir, exited: make(chan error, 1)}
	logf, err := os.Create(d.Log)
	if err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command(DevBinary(t), "-state-dir", o.StateDir)
	var env []string
	for _, kv := range os.Environ() {
		if !(o.OwnEmulator && strings.HasPrefix(kv, "AWS_ENDPOINT_URL=")) {
			env = append(env, kv)
		}
	}
	d.cmd.Env = append(env, append([]string{"DEV_ADDR=" + addr, "LOG_LEVEL=warn"}, o.Env...)...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	// Its own group: Kill9 hits it and anything it started, as a crash would.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- d.cmd.Wait(); logf.Close() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		}
		if t.Failed() {
			d.DumpLog(t)
		}
	})
	// Generous: with DEV_LAMBDA=binary it builds every function first.
	deadline := time.Now().Add(5 * time.Minute)
	for {
		select {
		case err := <-d.exited:
			d.exited <- err
			d.DumpLog(t)
			t.Fatalf("dev exited before serving: %v", err)
		default:
		}
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d
			}
		}
		if time.Now().After(deadline) {
			d.DumpLog(t)
			t.Fatal("dev did not become healthy in 5m")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Kill9 kills the process group with SIGKILL and waits for the process.
func (d *Dev) Kill9(t testing.TB) {
	t.Helper()
	if err := syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9: %v", err)
	}
	err := <-d.exited
	d.exited <- err
}

// Stop sends SIGTERM and waits for a clean exit.
func (d *Dev) Stop(t testing.TB) {
	t.Helper()
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case err := <-d.exited:
		d.exited <- err
		if err != nil {
			d.DumpLog(t)
			t.Errorf("dev exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not stop within 30s of SIGTERM")
	}
}

// Output is what the process wrote so far.
func (d *Dev) Output(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(d.Log)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// DumpLog logs the tail of the process's output.
func (d *Dev) DumpLog(t testing.TB) {
	b, _ := os.ReadFile(d.Log)
	if len(b) > 20000 {
		b = b[len(b)-20000:]
	}
	t.Logf("dev log %s (tail):\n%s", d.Log, b)
}
