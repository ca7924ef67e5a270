package lambdarun

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// invokePath is the emulator's invoke endpoint (Lambda's Invoke API path,
// function name fixed).
const invokePath = "/2015-03-31/functions/function/invocations"

// maxOutputLines is how many lines of a function's output are kept.
const maxOutputLines = 5000

// Config describes a function to run under the runtime interface emulator.
type Config struct {
	// Name names the function (AWS_LAMBDA_FUNCTION_NAME, logs, errors).
	Name string
	// Bootstrap is the function's executable (see Build).
	Bootstrap string
	// Emulator is the runtime interface emulator's executable (see
	// BuildEmulator).
	Emulator string
	// Env is the function's own environment, as its template gives it.
	// The process gets exactly these variables plus those Lambda's
	// runtime sets (region, credentials, AWS_LAMBDA_*, TZ, LANG, PATH)
	// and AWS_ENDPOINT_URL; a variable Lambda reserves is refused.
	Env map[string]string
	// Region, Credentials and Endpoint are what the function's AWS SDK
	// gets: on Lambda the region and the execution role's temporary keys;
	// here an emulator's endpoint and the keys of a user standing for the
	// role.
	Region      string
	Credentials aws.Credentials
	Endpoint    string
	// Timeout is the function's timeout; default 30s. MemoryMB is
	// reported to the function; default 128.
	Timeout  time.Duration
	MemoryMB int
	// Output, when set, receives each line the function and the emulator
	// print, prefixed with "[Name] ".
	Output io.Writer
}

// reserved are variables Lambda sets itself and refuses in a function's
// configuration.
var reserved = map[string]bool{
	"_HANDLER": true, "_X_AMZN_TRACE_ID": true, "AWS_DEFAULT_REGION": true, "AWS_REGION": true,
	"AWS_EXECUTION_ENV": true, "AWS_LAMBDA_FUNCTION_NAME": true, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": true,
	"AWS_LAMBDA_FUNCTION_VERSION": true, "AWS_LAMBDA_INITIALIZATION_TYPE": true, "AWS_LAMBDA_LOG_GROUP_NAME": true,
	"AWS_LAMBDA_LOG_STREAM_NAME": true, "AWS_ACCESS_KEY": true, "AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true,
	"AWS_SESSION_TOKEN": true, "AWS_LAMBDA_RUNTIME_API": true, "LAMBDA_TASK_ROOT": true, "LAMBDA_RUNTIME_DIR": true,
}

func (c Config) validate() error {
	var errs []error
	if c.Name == "" || c.Bootstrap == "" || c.Emulator == "" {
		errs = append(errs, errors.New("Name, Bootstrap and Emulator are required"))
	}
	if c.Region == "" {
		errs = append(errs, errors.New("no Region"))
	}
	for k := range c.Env {
		if reserved[k] {
			errs = append(errs, fmt.Errorf("%s is reserved by Lambda", k))
		}
	}
	return errors.Join(errs...)
}

// environ is the process environment: the function's variables and those
// Lambda's provided.al2023 runtime sets.
func (c Config) environ() []string {
	env := map[string]string{
		"PATH":                            "/usr/local/bin:/usr/bin/:/bin",
		"LANG":                            "en_US.UTF-8",
		"TZ":                              ":UTC",
		"AWS_REGION":                      c.Region,
		"AWS_DEFAULT_REGION":              c.Region,
		"AWS_ACCESS_KEY_ID":               c.Credentials.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":           c.Credentials.SecretAccessKey,
		"AWS_EXECUTION_ENV":               "AWS_Lambda_provided.al2023",
		"AWS_LAMBDA_FUNCTION_NAME":        c.Name,
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(c.MemoryMB),
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + c.Name,
		"AWS_LAMBDA_LOG_STREAM_NAME":      "local",
		// The emulator's setting: it ends an invocation at this timeout.
		"AWS_LAMBDA_FUNCTION_TIMEOUT": strconv.Itoa(int((c.Timeout + time.Second - 1) / time.Second)),
	}
	if c.Credentials.SessionToken != "" {
		env["AWS_SESSION_TOKEN"] = c.Credentials.SessionToken
	}
	if c.Endpoint != "" {
		env["AWS_ENDPOINT_URL"] = c.Endpoint
	}
	for k, v := range c.Env {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// Function is a function's bootstrap running under the runtime interface
// emulator, as Lambda runs it: one execution environment, invoked one
// event at a time, initialized on the first invocation.
type Function struct {
	cfg    Config
	cmd    *exec.Cmd
	url    string
	exited chan struct{}
	client *http.Client
	// ready is how long the emulator took to accept invocations.
	ready time.Duration

	invokeMu sync.Mutex // one invocation at a time, as in one execution environment

	mu        sync.Mutex
	lines     []string
	dropped   int
	coldStart time.Duration
	outCond   *sync.Cond
}

// Start starts the emulator on two free loopback ports of its own (its
// invoke API and the Runtime API the bootstrap talks to) and waits until
// it accepts invocations. The bootstrap itself starts on the first
// invocation, as on Lambda. Close stops both.
func Start(ctx context.Context, cfg Config) (*Function, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MemoryMB <= 0 {
		cfg.MemoryMB = 128
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("lambdarun: function %s: %w", cfg.Name, err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		f, err := start(ctx, cfg)
		if err == nil {
			return f, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("lambdarun: function %s: %w", cfg.Name, lastErr)
}

func start(ctx context.Context, cfg Config) (*Function, error) {
	// The ports are free now; another process may take one before the
	// emulator binds it, in which case it exits and Start tries again.
	apiAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	runtimeAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(cfg.Emulator,
		"--runtime-interface-emulator-address", apiAddr,
		"--runtime-api-address", runtimeAddr,
		"--log-level", "warn",
		cfg.Bootstrap)
	cmd.Env = cfg.environ()
	// Own process group: Close stops the emulator and the bootstrap together.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	f := &Function{
		cfg: cfg, cmd: cmd, url: "http://" + apiAddr + invokePath, exited: make(chan struct{}),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}},
	}
	f.outCond = sync.NewCond(&f.mu)
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Emulator, err)
	}
	go f.readOutput(pr)
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(f.exited)
	}()
	if err := f.waitListening(ctx, apiAddr); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("the runtime interface emulator did not start: %w\n%s", err, strings.Join(f.Output(), "\n"))
	}
	f.ready = time.Since(started)
	return f, nil
}

func (f *Function) waitListening(ctx context.Context, addr string) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			// Another process may have taken the port between freeAddr
			// and the emulator's bind (the emulator then exits): the
			// listener must be the emulator's.
			if owns, known := listens(f.cmd.Process.Pid, addr); known && !owns {
				return fmt.Errorf("another process listens on %s", addr)
			}
			return nil
		}
		select {
		case <-f.exited:
			return errors.New("it exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s", addr)
		}
	}
}

func (f *Function) readOutput(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if f.cfg.Output != nil {
			fmt.Fprintf(f.cfg.Output, "[%s] %s\n", f.cfg.Name, line)
		}
		f.mu.Lock()
		f.lines = append(f.lines, line)
		if len(f.lines) > maxOutputLines {
			n := len(f.lines) - maxOutputLines
			f.lines = append(f.lines[:0:0], f.lines[n:]...)
			f.dropped += n
		}
		f.outCond.Broadcast()
		f.mu.Unlock()
	}
	f.mu.Lock()
	f.outCond.Broadcast()
	f.mu.Unlock()
}

// Name is the function's name.
func (f *Function) Name() string { return f.cfg.Name }

// Output is what the function and the emulator printed, line by line (the
// last lines, when there were many).
func (f *Function) Output() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.lines...)
}

// ColdStart is how long the first answer took from the emulator's start:
// the emulator's own start until it accepted invocations, plus the first
// invocation until its answer, which includes the bootstrap's start and
// initialization (the emulator starts it on the first invocation, as
// Lambda does on a cold start); the time the function sat idle in between
// is not counted. Zero before the first answer.
func (f *Function) ColdStart() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.coldStart
}

// Close stops the emulator and the bootstrap.
func (f *Function) Close() error {
	if f.cmd.Process == nil {
		return nil
	}
	select {
	case <-f.exited:
		return nil
	default:
	}
	_ = syscall.Kill(-f.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-f.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-f.cmd.Process.Pid, syscall.SIGKILL)
		<-f.exited
	}
	f.client.CloseIdleConnections()
	return nil
}

// FunctionError is an invocation the function did not complete: its
// handler returned an error or panicked, it timed out, or its process
// exited (at initialization: a configuration error, which the main
// prints).
type FunctionError struct {
	Function string
	// Type is the error's type: the Go type of the handler's error,
	// "Runtime.ExitError" when the process exited, "Sandbox.Timedout".
	Type string
	// Message is the handler's error message, or what the process printed
	// before it exited.
	Message string
	// Init says the function failed while initializing: before its
	// handler ever ran.
	Init bool
}

func (e *FunctionError) Error() string {
	phase := ""
	if e.Init {
		phase = "init failed: "
	}
	return fmt.Sprintf("function %s: %s%s: %s", e.Function, phase, e.Type, e.Message)
}

// Invoke sends one event and returns the function's answer. Invocations
// are serialized, as one execution environment runs one at a time; ctx
// bounds the wait. A failed invocation is a *FunctionError.
func (f *Function) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	f.invokeMu.Lock()
	defer f.invokeMu.Unlock()
	f.mu.Lock()
	mark := f.dropped + len(f.lines)
	f.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout+30*time.Second)
	defer cancel()
	sent := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		select {
		case <-f.exited:
			return nil, fmt.Errorf("lambdarun: function %s: the runtime interface emulator exited: %s", f.cfg.Name, strings.Join(f.Output(), "\n"))
		default:
		}
		return nil, fmt.Errorf("lambdarun: invoke %s: %w", f.cfg.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("lambdarun: invoke %s: %w", f.cfg.Name, err)
	}
	switch {
	case resp.StatusCode == http.StatusBadGateway:
		return nil, f.exitError(mark)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("lambdarun: invoke %s: the emulator answered %s: %s", f.cfg.Name, resp.Status, body)
	case bytes.HasPrefix(body, []byte("Task timed out after")):
		return nil, &FunctionError{Function: f.cfg.Name, Type: "Sandbox.Timedout", Message: string(body)}
	}
	if e, ok := handlerError(body); ok {
		e.Function = f.cfg.Name
		return nil, e
	}
	f.mu.Lock()
	if f.coldStart == 0 {
		f.coldStart = f.ready + time.Since(sent)
	}
	f.mu.Unlock()
	return body, nil
}

// handlerError recognizes the Runtime API's error document: an object with
// errorType and errorMessage (and possibly stackTrace), nothing else.
func handlerError(body []byte) (*FunctionError, bool) {
	var doc map[string]json.RawMessage
	if json.Unmarshal(body, &doc) != nil {
		return nil, false
	}
	t, hasType := doc["errorType"]
	m, hasMsg := doc["errorMessage"]
	delete(doc, "stackTrace")
	if !hasType || !hasMsg || len(doc) != 2 {
		return nil, false
	}
	e := &FunctionError{}
	_ = json.Unmarshal(t, &e.Type)
	_ = json.Unmarshal(m, &e.Message)
	return e, true
}

// exitError describes an invocation whose process exited, from the lines
// printed since mark: the emulator logs the failure before it answers, the
// function's own lines come before that.
func (f *Function) exitError(mark int) error {
	deadline := time.Now().Add(2 * time.Second)
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		done, initFailed := false, false
		var own []string
		for i := max(mark-f.dropped, 0); i < len(f.lines); i++ {
			l := f.lines[i]
			switch {
			case strings.Contains(l, "(rapid)"):
				initFailed = initFailed || strings.Contains(l, "Init failed")
				done = done || strings.Contains(l, "Invoke failed") || strings.Contains(l, "Invoke DONE failed")
			case strings.HasPrefix(l, "START RequestId") || strings.HasPrefix(l, "END RequestId") || strings.HasPrefix(l, "REPORT RequestId"):
			default:
				own = append(own, l)
			}
		}
		if done || time.Now().After(deadline) {
			msg := strings.Join(own, "\n")
			if msg == "" {
				msg = "the process exited without output"
			}
			return &FunctionError{Function: f.cfg.Name, Type: "Runtime.ExitError", Message: msg, Init: initFailed}
		}
		// Woken by the next line; a timer bounds the wait.
		t := time.AfterFunc(100*time.Millisecond, func() { f.mu.Lock(); f.outCond.Broadcast(); f.mu.Unlock() })
		f.outCond.Wait()
		t.Stop()
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// listens reports whether process pid holds the TCP listener on addr (an
// IPv4 host:port), from /proc; known is false where /proc cannot tell.
func listens(pid int, addr string) (owns, known bool) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return false, false
	}
	table, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false, false
	}
	// /proc/net/tcp prints the address as the 32-bit value in host order
	// (little-endian on amd64 and arm64) and the port big-endian.
	ip := ap.Addr().As4()
	local := fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], ap.Port())
	inode := ""
	for _, line := range strings.Split(string(table), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 9 && f[1] == local && f[3] == "0A" { // 0A: LISTEN
			inode = f[9]
			break
		}
	}
	if inode == "" {
		return false, true
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return false, false
	}
	for _, fd := range fds {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && l == "socket:["+inode+"]" {
			return true, true
		}
	}
	return false, true
}
