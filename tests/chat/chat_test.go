package chat_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/threefactor/framework/lib/cli"
	"github.com/threefactor/framework/lib/devapp/devapptest"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/realtime/store"
	"github.com/threefactor/framework/lib/realtime/wsclient"
	"github.com/threefactor/framework/lib/topology"
	"github.com/threefactor/framework/tests/chat"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

func TestAppIsValid(t *testing.T) {
	if err := chat.App.Validate(); err != nil {
		t.Fatal(err)
	}
}

// The framework's command line reads this app as it reads the reference
// app: its route, with the pattern the generator was asked for.
func TestRoutes(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := cli.Run(context.Background(), cli.Config{App: chat.App}, []string{"routes", "--json"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var got struct {
		App    string
		Routes []struct {
			Name, Function string
			Pattern        json.RawMessage
		}
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	// The app's one route, then the framework's event log route.
	var pattern bytes.Buffer
	if len(got.Routes) == 2 {
		_ = json.Compact(&pattern, got.Routes[0].Pattern)
	}
	want := `{"detail":{"new":{"status":["PENDING"]},"operation":["INSERT"],"table":["messages"]},"detail-type":["Change"],"source":["chat.changes"]}`
	if got.App != "chat" || len(got.Routes) != 2 || got.Routes[0].Name != "moderate" || got.Routes[0].Function != "moderate" || pattern.String() != want ||
		got.Routes[1].Name != topology.EventLogRoute || got.Routes[1].Function != topology.EventLogFunction {
		t.Fatalf("routes %s", out.String())
	}
}

// lockedBuffer collects a process's output while it runs.
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

type message struct {
	Room, ID, Author, Text, Status string
	Flagged                        bool
}

const messageFields = `room id author text status flagged`

// TestChatEndToEnd posts messages over real HTTP and receives, over real
// WebSockets speaking graphql-transport-ws (a Go client, and the graphql-ws
// npm client through tests/js/subscribe.mjs), the pushes that the moderate
// function's writes cause: the mutation answers PENDING with the text as
// sent; the room's subscribers get the message once it is PUBLISHED, with
// banned words masked, and nobody else's room sees it.
func TestChatEndToEnd(t *testing.T) {
	s := devapptest.Start(t, chat.App)
	rt, url, topo := s.RT, s.GraphQLURL(), chat.App.Topology()
	token := s.Token(t, "ada")

	// The generated function runs behind its route's queue, as the startup
	// listing says.
	waitFor(t, "the startup listing", func() bool {
		return strings.Contains(s.Listing(), "-> moderate  (queue chat-moderate, dlq chat-moderate-dlq)")
	})

	lobby := dialGraphQLWS(t, s.WebSocketURL(), token)
	kitchen := dialGraphQLWS(t, s.WebSocketURL(), token)
	sub := `subscription($room: ID!) { messageAdded(room: $room) { ` + messageFields + ` } }`
	lobby.subscribe(t, "lobby-1", sub, map[string]any{"room": "lobby"})
	kitchen.subscribe(t, "kitchen-1", sub, map[string]any{"room": "kitchen"})
	// And the graphql-ws npm client, as a web or mobile app would.
	npm := startNodeSubscriber(t, s.WebSocketURL(), token, sub, map[string]any{"room": "lobby"})

	// Subscribing is asynchronous: wait until both are stored, so that
	// every later change must reach them.
	st, err := store.New(dynamodb.NewFromConfig(rt.AWS()), store.Config{
		ConnectionsTable:   topo.TableName(topology.ConnectionsTable),
		SubscriptionsTable: topo.TableName(topology.SubscriptionsTable),
	})
	if err != nil {
		t.Fatal(err)
	}
	for room, n := range map[string]int{"lobby": 2, "kitchen": 1} {
		waitFor(t, "the "+room+" subscriptions stored", func() bool {
			subs, err := st.SubscriptionsFor(context.Background(), chat.RoomTopic(room))
			return err == nil && len(subs) == n
		})
	}

	post := func(room, author, text string) message {
		t.Helper()
		var out struct{ PostMessage message }
		do(t, url, token, `mutation($in: PostMessageInput!) { postMessage(input: $in) { `+messageFields+` } }`,
			map[string]any{"in": map[string]any{"room": room, "author": author, "text": text}}, &out)
		return out.PostMessage
	}

	sent := post("lobby", "ada", "well darn it")
	if sent.Status != "PENDING" || sent.Text != "well darn it" || sent.Flagged || sent.ID == "" {
		t.Fatalf("postMessage answered %+v, want the message PENDING as sent", sent)
	}
	got := lobby.next(t, "lobby-1")
	if got.ID != sent.ID || got.Room != "lobby" || got.Status != "PUBLISHED" || got.Text != "well **** it" || !got.Flagged || got.Author != "ada" {
		t.Fatalf("lobby got %+v, want %s PUBLISHED as \"well **** it\", flagged", got, sent.ID)
	}

	if got := npm.next(t); got.ID != sent.ID || got.Text != "well **** it" || !got.Flagged {
		t.Fatalf("the graphql-ws client got %+v, want %s masked", got, sent.ID)
	}

	clean := post("lobby", "bo", "hello all")
	if got := lobby.next(t, "lobby-1"); got.ID != clean.ID || got.Text != "hello all" || got.Flagged || got.Status != "PUBLISHED" {
		t.Fatalf("lobby got %+v, want %s published unchanged", got, clean.ID)
	}

	// The kitchen's first push is the kitchen's message: none of the
	// lobby's reached it.
	soup := post("kitchen", "cy", "soup is ready")
	if got := kitchen.next(t, "kitchen-1"); got.ID != soup.ID || got.Room != "kitchen" {
		t.Fatalf("kitchen got %+v, want %s", got, soup.ID)
	}

	// The room's history is what moderation published, oldest first.
	var hist struct{ Messages []message }
	do(t, url, token, `query($room: ID!) { messages(room: $room) { `+messageFields+` } }`, map[string]any{"room": "lobby"}, &hist)
	if len(hist.Messages) != 2 || hist.Messages[0].ID != sent.ID || hist.Messages[0].Text != "well **** it" || hist.Messages[1].ID != clean.ID {
		t.Fatalf("lobby history %+v", hist.Messages)
	}

	// Bad input is refused with a code, and nothing is written.
	var resp struct {
		Errors []struct {
			Extensions struct{ Code string }
		}
	}
	raw := postGraphQL(t, url, token, `mutation { postMessage(input: {room: "lobby", author: "ada", text: ""}) { id } }`, nil)
	if err := json.Unmarshal(raw, &resp); err != nil || len(resp.Errors) != 1 || resp.Errors[0].Extensions.Code == "" {
		t.Fatalf("empty text: %s", raw)
	}
}

// do runs one GraphQL operation over HTTP and decodes its data into out;
// errors fail the test.
func do(t *testing.T, url, token, query string, vars map[string]any, out any) {
	t.Helper()
	raw := postGraphQL(t, url, token, query, vars)
	var r struct {
		Data   json.RawMessage
		Errors []json.RawMessage
	}
	if err := json.Unmarshal(raw, &r); err != nil || len(r.Errors) > 0 {
		t.Fatalf("%s: %s (%v)", query, raw, err)
	}
	if err := json.Unmarshal(r.Data, out); err != nil {
		t.Fatalf("%s: data %s: %v", query, r.Data, err)
	}
}

func postGraphQL(t *testing.T, url, token, query string, vars map[string]any) []byte {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// graphQLWS is the framework's Go client (lib/realtime/wsclient) on one
// connection, its token in connection_init.
type graphQLWS struct {
	c    *wsclient.Client
	subs map[string]*wsclient.Subscription
}

func dialGraphQLWS(t *testing.T, url, token string) *graphQLWS {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := wsclient.Dial(ctx, wsclient.Config{URL: url, ConnectionParams: wsclient.Bearer(token)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &graphQLWS{c: c, subs: map[string]*wsclient.Subscription{}}
}

func (c *graphQLWS) subscribe(t *testing.T, name, query string, vars map[string]any) {
	t.Helper()
	s, err := c.c.Subscribe(context.Background(), wsclient.Request{Query: query, Variables: vars})
	if err != nil {
		t.Fatal(err)
	}
	c.subs[name] = s
}

// next is the next message pushed to subscription name.
func (c *graphQLWS) next(t *testing.T, name string) message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := c.subs[name].Next(ctx)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var data struct{ MessageAdded message }
	if len(r.Errors) > 0 || json.Unmarshal(r.Data, &data) != nil {
		t.Fatalf("%s: payload %s", name, r.Raw)
	}
	return data.MessageAdded
}

// nodeSubscriber is tests/js/subscribe.mjs: the graphql-ws npm client,
// printing each result as a JSON line.
type nodeSubscriber struct{ lines chan string }

func startNodeSubscriber(t *testing.T, url, token, query string, vars map[string]any) *nodeSubscriber {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	js := filepath.Join(filepath.Dir(file), "..", "js")
	if _, err := os.Stat(filepath.Join(js, "node_modules", "graphql-ws")); err != nil {
		t.Fatal("tests/js/node_modules is missing: run  make deps  (npm ci in tests/js)")
	}
	v, _ := json.Marshal(vars)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "node", filepath.Join(js, "subscribe.mjs"), url, query, string(v))
	cmd.Env = append(os.Environ(), "TOKEN="+token)
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("node: %v", err)
	}
	n := &nodeSubscriber{lines: make(chan string, 16)}
	go func() {
		defer close(n.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			n.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("subscribe.mjs stderr:\n%s", stderr.String())
		}
	})
	return n
}

// next is the next message the client printed.
func (n *nodeSubscriber) next(t *testing.T) message {
	t.Helper()
	select {
	case line, ok := <-n.lines:
		if !ok {
			t.Fatal("subscribe.mjs ended")
		}
		var p struct {
			Data   struct{ MessageAdded message }
			Errors []json.RawMessage
		}
		if err := json.Unmarshal([]byte(line), &p); err != nil || len(p.Errors) > 0 {
			t.Fatalf("subscribe.mjs printed %s (%v)", line, err)
		}
		return p.Data.MessageAdded
	case <-time.After(2 * time.Minute):
		t.Fatal("subscribe.mjs printed nothing in 2m")
	}
	return message{}
}

// waitFor polls cond until it holds; it fails the test after two minutes
// (which only ends a broken run: it is not a speed assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
