package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/realtime/store"
	"github.com/threefactor/framework/lib/topology"
)

// realtimeStore is the dev stack's connection and subscription store.
func realtimeStore(t testing.TB) *store.Store {
	t.Helper()
	topo := fooddelivery.App.Topology()
	st, err := store.New(dynamodb.NewFromConfig(emulatortest.Config(t)), store.Config{
		ConnectionsTable:   topo.TableName(topology.ConnectionsTable),
		SubscriptionsTable: topo.TableName(topology.SubscriptionsTable),
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// wsURL is the dev stack's WebSocket endpoint (the same /graphql path).
func (s *devStack) wsURL() string { return "ws" + strings.TrimPrefix(s.url, "http") }

// initPayload is the connection_init payload (graphql-ws's
// connectionParams) carrying the stack's token.
func (s *devStack) initPayload() map[string]string {
	return map[string]string{"Authorization": "Bearer " + s.token}
}

// mustOrder reads an order over HTTP.
func (s *devStack) mustOrder(t testing.TB, id string) order {
	t.Helper()
	var out struct{ Order order }
	if err := s.do(context.Background(), `query($id: ID!) { order(id: $id) { `+orderSelection+` } }`, map[string]any{"id": id}, &out); err != nil {
		t.Fatalf("order %s: %v", id, err)
	}
	return out.Order
}

// rtWaitFor polls cond until it holds; it fails the test after limit. The
// limit only ends a broken run; it is not a speed assertion.
func rtWaitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// repoRoot is the module root (the tests folder's parent).
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// nodeClient drives tests/js/client.mjs: the graphql-ws npm client.
type nodeClient struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	mu     sync.Mutex
	events []map[string]any
	signal chan struct{}
}

func startNode(t *testing.T) *nodeClient {
	t.Helper()
	script := filepath.Join(repoRoot(), "tests", "js", "client.mjs")
	if _, err := os.Stat(filepath.Join(repoRoot(), "tests", "js", "node_modules", "graphql-ws")); err != nil {
		t.Fatalf("tests/js/node_modules is missing: run  make deps  (npm ci in tests/js)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "node", script)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("node: %v", err)
	}
	n := &nodeClient{t: t, cmd: cmd, stdin: stdin, signal: make(chan struct{}, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				continue
			}
			n.mu.Lock()
			n.events = append(n.events, ev)
			n.mu.Unlock()
			select {
			case n.signal <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cancel()
			<-done
		}
		cancel()
	})
	n.await(time.Minute, "node ready", func(ev map[string]any) bool { return ev["event"] == "ready" })
	return n
}

func (n *nodeClient) do(cmd map[string]any) {
	n.t.Helper()
	b, _ := json.Marshal(cmd)
	if _, err := n.stdin.Write(append(b, '\n')); err != nil {
		n.t.Fatalf("node command: %v", err)
	}
}

// await waits for an event matching match and returns it.
func (n *nodeClient) await(limit time.Duration, what string, match func(map[string]any) bool) map[string]any {
	n.t.Helper()
	deadline := time.After(limit)
	for {
		n.mu.Lock()
		for _, ev := range n.events {
			if match(ev) {
				n.mu.Unlock()
				return ev
			}
		}
		n.mu.Unlock()
		select {
		case <-n.signal:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			n.mu.Lock()
			defer n.mu.Unlock()
			n.t.Fatalf("gave up after %s waiting for %s; events: %v", limit, what, n.events)
		}
	}
}

// of lists the events about a subscription or client.
func (n *nodeClient) of(key, value string) []map[string]any {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []map[string]any
	for _, ev := range n.events {
		if ev[key] == value {
			out = append(out, ev)
		}
	}
	return out
}
