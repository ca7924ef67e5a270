package emulator

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Region and dummy credentials used against a local emulator only. Library
// code never sets these: it takes whatever aws.Config it is given.
const (
	Region    = "us-east-1"
	AccessKey = "test"
	SecretKey = "test"
)

// ErrNotInstalled says moto_server is not on PATH.
var ErrNotInstalled = errors.New(`moto_server not found on PATH: install it with  pip install "moto[server]"  (or run  make deps ), or point AWS_ENDPOINT_URL at LocalStack or a running moto`)

// Server is a moto server started by this process.
type Server struct {
	cmd      *exec.Cmd
	endpoint string
	done     chan struct{}
}

// Endpoint is the server's http://127.0.0.1:PORT URL.
func (s *Server) Endpoint() string { return s.endpoint }

// Close stops the server and waits for it to exit.
func (s *Server) Close() error {
	if s.cmd.Process == nil {
		return nil
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	return nil
}

// Option configures a server started with Start.
type Option func(*options)

type options struct {
	env []string
}

// WithEnv adds "NAME=value" settings to the server's environment, such
// as moto's own (see StartEnforcingIAM).
func WithEnv(kv ...string) Option {
	return func(o *options) { o.env = append(o.env, kv...) }
}

// Start starts a private moto server on a free loopback port and waits
// until it answers. The caller must Close it. Its output goes to logPath
// when set, else it is discarded.
func Start(ctx context.Context, logPath string, opts ...Option) (*Server, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, ErrNotInstalled
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s, err := launch(ctx, bin, port, logPath, false, o.env)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// motoServer is moto's server with DynamoDB requests serialized (see the
// script); it runs on the Python that moto_server runs on.
//
//go:embed motoserver.py
var motoServer string

// command runs motoServer on the interpreter of the moto_server script
// bin, or on python3 when bin starts through a shim (pyenv, asdf).
func command(bin string, port int) *exec.Cmd {
	py := "python3"
	if b, err := os.ReadFile(bin); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		if i := strings.TrimPrefix(line, "#!"); i != line && !strings.Contains(i, " ") && strings.Contains(filepath.Base(i), "python") {
			py = strings.TrimSpace(i)
		}
	}
	return exec.Command(py, "-c", motoServer, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
}

// launch starts moto on port: the serialized server, or, when its Python
// cannot run it (moto installed for another interpreter), moto_server as
// installed.
func launch(ctx context.Context, bin string, port int, logPath string, detached bool, env []string) (*Server, error) {
	withEnv := func(cmd *exec.Cmd) *exec.Cmd {
		if len(env) > 0 {
			cmd.Env = append(os.Environ(), env...)
		}
		return cmd
	}
	s, err := launchCmd(ctx, withEnv(command(bin, port)), port, logPath, detached)
	if errors.Is(err, errExited) {
		return launchCmd(ctx, withEnv(exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))), port, logPath, detached)
	}
	return s, err
}

var errExited = errors.New("process exited")

func launchCmd(ctx context.Context, cmd *exec.Cmd, port int, logPath string, detached bool) (*Server, error) {
	// Own process group: Close can stop moto and its children together, and
	// a Ctrl-C or kill of the dev runtime's group does not reach a detached one.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: !detached, Setsid: detached}
	if logPath != "" {
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("emulator log %s: %w", logPath, err)
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	s := &Server{cmd: cmd, endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	if err := waitReady(ctx, s.endpoint, s.done, 30*time.Second); err != nil {
		_ = s.Close()
		hint := ""
		if logPath != "" {
			hint = " (see " + logPath + ")"
		}
		return nil, fmt.Errorf("moto on port %d did not become ready: %w%s", port, err, hint)
	}
	return s, nil
}

func waitReady(ctx context.Context, endpoint string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		if Alive(ctx, client, endpoint) {
			return nil
		}
		select {
		case <-exited:
			return errExited
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer after %s", timeout)
		}
	}
}

// Alive reports whether an AWS-compatible endpoint answers HTTP.
func Alive(ctx context.Context, client *http.Client, endpoint string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(endpoint, "/")+"/moto-api/", nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Ensure returns the endpoint of the long-lived local emulator recorded in
// stateDir, starting one on a free port when none answers. The emulator
// runs in its own session, like a database server: killing the caller's
// process group leaves it and its data alive. started says whether this
// call started it. Its pid and endpoint are kept in stateDir/moto.pid and
// stateDir/moto.endpoint; its log in stateDir/moto.log.
func Ensure(ctx context.Context, stateDir string) (endpoint string, started bool, err error) {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return "", false, fmt.Errorf("state dir: %w", err)
	}
	epFile := filepath.Join(stateDir, "moto.endpoint")
	if b, err := os.ReadFile(epFile); err == nil {
		ep := strings.TrimSpace(string(b))
		if Alive(ctx, &http.Client{Timeout: 2 * time.Second}, ep) {
			return ep, false, nil
		}
	}
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return "", false, ErrNotInstalled
	}
	port, err := freePort()
	if err != nil {
		return "", false, err
	}
	s, err := launch(ctx, bin, port, filepath.Join(stateDir, "moto.log"), true, nil)
	if err != nil {
		return "", false, err
	}
	if err := os.WriteFile(filepath.Join(stateDir, "moto.pid"), []byte(strconv.Itoa(s.cmd.Process.Pid)+"\n"), 0o644); err != nil {
		return "", false, err
	}
	if err := os.WriteFile(epFile, []byte(s.endpoint+"\n"), 0o644); err != nil {
		return "", false, err
	}
	// Detached: do not reap it when this process exits.
	_ = s.cmd.Process.Release()
	return s.endpoint, true, nil
}

// StopRecorded stops the long-lived emulator recorded in stateDir, if any.
func StopRecorded(stateDir string) error {
	b, err := os.ReadFile(filepath.Join(stateDir, "moto.pid"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("bad pid file: %w", err)
	}
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	os.Remove(filepath.Join(stateDir, "moto.pid"))
	os.Remove(filepath.Join(stateDir, "moto.endpoint"))
	return nil
}

// Config is an aws.Config for a local emulator at endpoint: the fixed
// region and dummy credentials, the endpoint for every service, and
// request bodies buffered (BufferRequestBodies).
func Config(ctx context.Context, endpoint string) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, "")),
		config.WithBaseEndpoint(endpoint),
		config.WithRetryMaxAttempts(5),
	)
	cfg.HTTPClient = BufferRequestBodies(cfg.HTTPClient)
	return cfg, err
}

// SetEnv points the standard AWS environment variables at endpoint, so
// that code loading the default config (as Lambda mains do) reaches it.
func SetEnv(endpoint string) {
	os.Setenv("AWS_ENDPOINT_URL", endpoint)
	os.Setenv("AWS_REGION", Region)
	os.Setenv("AWS_ACCESS_KEY_ID", AccessKey)
	os.Setenv("AWS_SECRET_ACCESS_KEY", SecretKey)
	os.Unsetenv("AWS_PROFILE")
	os.Unsetenv("AWS_SESSION_TOKEN")
}
