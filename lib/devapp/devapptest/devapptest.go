// Package devapptest runs an app on the dev runtime in a test, the way
// `make dev` runs it: provisioned on the test binary's emulator, with an
// OpenID Connect issuer of its own whose tokens the HTTP API's authorizer
// and the WebSocket's connection_init accept, and with test-sized
// intervals so retries and redelivery show in seconds. It stops when the
// test ends.
//
//	func TestMain(m *testing.M) { os.Exit(apptest.Main(m)) }
//
//	func TestFlow(t *testing.T) {
//		s := devapptest.Start(t, myapp.App)
//		token := s.Token(t, "alice")
//		// POST s.GraphQLURL() with "Authorization: Bearer "+token,
//		// subscribe at s.WebSocketURL() with {"Authorization": "Bearer "+token}
//	}
package devapptest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/devapp"
	"github.com/threefactor/framework/lib/devruntime"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/identity/devissuer"
	"github.com/threefactor/framework/lib/topology"
)

// Logger is quiet unless the tests run with -v; then it shows warnings
// and errors on stderr.
func Logger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(correlation.WrapHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	}
	return slog.New(correlation.WrapHandler(slog.DiscardHandler))
}

// FastConfig is a runtime configuration with test-sized intervals, on
// a free loopback port.
func FastConfig(cfg aws.Config, topo topology.Topology) devruntime.Config {
	return devruntime.Config{
		AWS: cfg, Topology: topo, Addr: "127.0.0.1:0", Logger: Logger(), Out: io.Discard,
		StreamPollInterval: 20 * time.Millisecond, ShardDiscoveryInterval: 200 * time.Millisecond,
		StreamRetryBackoff: 20 * time.Millisecond, StreamMaxBackoff: 500 * time.Millisecond,
		QueueWaitTime: time.Second, QueuePollers: 4, RetryBackoff: time.Millisecond,
		ShutdownTimeout: 10 * time.Second,
	}
}

// Stack is an app running on a dev runtime.
type Stack struct {
	RT     *devruntime.Runtime
	Issuer *devissuer.Issuer
	// EventLog is the app's event log, in the test's temporary state
	// directory as make dev keeps it under .dev (nil when the app's log
	// is disabled).
	EventLog *eventlog.FileStore
	out      *lockedBuffer
}

// Options adjust Start.
type Options struct {
	// Config changes the runtime's configuration before it starts.
	Config func(*devruntime.Config)
	// Wire changes the options the app is wired with.
	Wire func(*devapp.Options)
}

// Start provisions a on the test's emulator, wires it and runs it until
// the test ends. With -short the test is skipped (it needs the emulator).
func Start(t testing.TB, a app.App, opts ...Options) *Stack {
	t.Helper()
	cfg := FastConfig(emulatortest.Config(t), a.Topology())
	s := &Stack{out: &lockedBuffer{}}
	cfg.Out = s.out
	wo := devapp.Options{Getenv: func(string) string { return "" }, GraphiQLAssets: devapp.FindGraphiQLAssets()}
	for _, o := range opts {
		if o.Config != nil {
			o.Config(&cfg)
		}
		if o.Wire != nil {
			o.Wire(&wo)
		}
	}
	var err error
	stateDir := filepath.Join(t.TempDir(), "state")
	if s.Issuer, err = devissuer.Open(stateDir, a.Name); err != nil {
		t.Fatal(err)
	}
	wo.Issuer = s.Issuer
	if !a.DisableEventLog && wo.EventLog == nil {
		if s.EventLog, err = eventlog.OpenFileStore(eventlog.LocalDir(stateDir), eventlog.FileConfig{Topology: a.Topology(), Logger: cfg.Logger}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.EventLog.Close() })
		wo.EventLog = s.EventLog
	}
	ctx, cancel := context.WithCancel(context.Background())
	if s.RT, err = devruntime.New(cfg); err != nil {
		cancel()
		t.Fatal(err)
	}
	if _, err := s.RT.Provision(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := devapp.Wire(ctx, s.RT, a, wo); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.RT.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runtime: %v", err)
		}
	})
	select {
	case <-s.RT.Ready():
	case err := <-done:
		t.Fatalf("the runtime stopped before it was ready: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("the runtime was not ready in 2m")
	}
	return s
}

// GraphQLURL is the GraphQL endpoint over HTTP.
func (s *Stack) GraphQLURL() string { return s.RT.URL() + topology.GraphQLPath }

// WebSocketURL is the GraphQL endpoint over WebSocket.
func (s *Stack) WebSocketURL() string {
	return "ws" + strings.TrimPrefix(s.RT.URL(), "http") + topology.GraphQLPath
}

// Token is a token for user, valid for the runtime's API, with the given
// groups (cognito:groups).
func (s *Stack) Token(t testing.TB, user string, groups ...string) string {
	t.Helper()
	tok, err := s.Issuer.Mint(devissuer.Options{Subject: user, Groups: groups})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Listing is what the runtime printed at start: its endpoints, streams
// and queues.
func (s *Stack) Listing() string { return s.out.String() }

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
