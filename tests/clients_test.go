package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/threefactor/framework/gateway"
)

// TestDocumentedClients runs each JavaScript client of docs/clients.md,
// as the doc writes it (tests/js/clients.mjs extracts the block), against
// make dev: Apollo Client 4 with its split link, urql with
// subscriptionExchange, graphql-ws alone, all in Node with the ws
// package. Each places an order, subscribes to it with the token in its
// connection params, pays, and receives the pushes to DRIVER_ASSIGNED.
func TestDocumentedClients(t *testing.T) {
	s := startDev(t)
	st := realtimeStore(t)
	js := filepath.Join(repoRoot(), "tests", "js")
	if _, err := os.Stat(filepath.Join(js, "node_modules", "@apollo", "client")); err != nil {
		t.Fatal("tests/js/node_modules is missing: run make deps (npm ci in tests/js)")
	}
	for _, client := range []string{"apollo", "urql", "graphql-ws"} {
		t.Run(client, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "node", filepath.Join(js, "clients.mjs"), client, "http://"+s.Addr)
			cmd.Env = append(os.Environ(), "TOKEN="+s.token)
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr syncBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			steps := map[string]map[string]any{}
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				var step map[string]any
				if err := json.Unmarshal(sc.Bytes(), &step); err != nil {
					t.Errorf("clients.mjs printed %q", sc.Text())
					continue
				}
				name, _ := step["step"].(string)
				steps[name] = step
				if name == "subscribed" {
					// Pay only once the subscription is stored: what the
					// payment causes must then reach it.
					id, _ := step["id"].(string)
					rtWaitFor(t, time.Minute, "the subscription stored", func() bool {
						subs, err := st.SubscriptionsFor(ctx, gateway.OrderTopic(id))
						return err == nil && len(subs) > 0
					})
					_, _ = io.WriteString(stdin, "go\n")
				}
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("clients.mjs %s: %v\nsteps %v\n%s", client, err, steps, stderr.String())
			}
			p := steps["pushes"]
			if p == nil {
				t.Fatalf("no pushes: steps %v\n%s", steps, stderr.String())
			}
			var statuses []string
			for _, s := range p["statuses"].([]any) {
				statuses = append(statuses, s.(string))
			}
			if got := strings.Join(statuses, " "); !strings.HasSuffix(got, "PAID APPROVED DRIVER_ASSIGNED") {
				t.Errorf("%s received %s, want the pushes to end PAID APPROVED DRIVER_ASSIGNED", client, got)
			}
		})
	}
}

// TestClientsResume runs each JavaScript client of docs/clients.md (with
// the resumable helper of docs/realtime.md) through a network drop:
// subscribed to an order (its first push is the order as it is), the
// socket is cut and new ones are refused while the order is paid,
// approved and assigned (and until a reconnect was refused: the
// subscription outlives that); then the network comes back, the client
// reconnects on its own and resumes with after, and receives PAID,
// APPROVED and DRIVER_ASSIGNED once each, in order.
func TestClientsResume(t *testing.T) {
	s := startDev(t)
	js := filepath.Join(repoRoot(), "tests", "js")
	if _, err := os.Stat(filepath.Join(js, "node_modules", "@apollo", "client")); err != nil {
		t.Fatal("tests/js/node_modules is missing: run make deps (npm ci in tests/js)")
	}
	for _, client := range []string{"apollo", "urql", "graphql-ws"} {
		t.Run(client, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "node", filepath.Join(js, "clients.mjs"), client, "http://"+s.Addr, "resume")
			cmd.Env = append(os.Environ(), "TOKEN="+s.token)
			var stderr syncBuffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("clients.mjs %s resume: %v\n%s\n%s", client, err, out, stderr.String())
			}
			steps := map[string]map[string]any{}
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				var step map[string]any
				if err := json.Unmarshal([]byte(line), &step); err != nil {
					t.Fatalf("clients.mjs printed %q", line)
				}
				steps[step["step"].(string)] = step
			}
			if missed := steps["missed"]; missed == nil || missed["status"] != "DRIVER_ASSIGNED" || missed["pushes"].(float64) != 1 {
				t.Fatalf("the drop did not hide the workflow from the client: %v", steps)
			}
			if refused := steps["refused"]; refused == nil || refused["attempts"].(float64) < 1 {
				t.Fatalf("no reconnect was refused while offline: %v", steps)
			}
			var statuses []string
			for _, s := range steps["pushes"]["statuses"].([]any) {
				statuses = append(statuses, s.(string))
			}
			if got := strings.Join(statuses, " "); got != "VALIDATED PAID APPROVED DRIVER_ASSIGNED" {
				t.Fatalf("%s received %s, want VALIDATED (the order as it was) PAID APPROVED DRIVER_ASSIGNED, once each", client, got)
			}
			subs := steps["pushes"]["subscribes"].([]any)
			last, _ := subs[len(subs)-1].(map[string]any)
			if first, _ := subs[0].(map[string]any); len(subs) < 2 || first["after"] != nil || last["after"] == nil || last["after"] == "" {
				t.Fatalf("subscribe messages %v: want the first without after, the one after the reconnect with it", subs)
			}
		})
	}
}
