package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/threefactor/framework/lib/identity/devissuer"
	"github.com/threefactor/framework/lib/realtime/wsclient"
	"github.com/threefactor/framework/lib/topology"
)

// EnvToken is where subscribe takes a token from when no flag gives one.
const EnvToken = "TOKEN"

func init() {
	register(&command{
		name:     "subscribe",
		args:     []string{"SUBSCRIPTION"},
		synopsis: "[--var NAME=VALUE]... [--token TOKEN | --user USER] [--url ws://127.0.0.1:8080/graphql] [--count N] [--until TEXT] [-- COMMAND...]",
		summary:  "run a subscription and print each push as a JSON line, until Ctrl-C",
		command:  true,
		help: `
Connects to the app's WebSocket (graphql-transport-ws, the token in
connection_init), starts SUBSCRIPTION and prints each result the server
pushes as one JSON line on stdout ({"data":...}). Once the subscription is
in place it says so on stderr, and runs COMMAND when one follows --: what
it causes then arrives without a race.

  threefactor subscribe 'subscription ($id: ID!) { orderUpdated(id: $id) { status } }' --var id=ord_1 --token "$TOKEN"
  threefactor subscribe '...' --var id=ord_1 --user alice --until DRIVER_ASSIGNED -- curl -s ... payOrder ...

A --var value is JSON when it reads as JSON (5, true, {"a":1}, "quoted"),
a string otherwise (--var id=ord_1). The token is --token, or minted for
--user by the local issuer in the state directory (what make token does),
or $TOKEN. It ends with exit code 0 on Ctrl-C, at --count pushes, after the
first push containing --until's text, or when the server completes the
subscription; with 1 when the server refuses the subscription (its errors
on stderr) or the connection closes (4403: the token was refused or
expired).`,
		setup: func(fs *flag.FlagSet, cfg Config) func(context.Context, *env, []string) error {
			var vars stringList
			fs.Var(&vars, "var", "a variable, `NAME=VALUE` (repeat it)")
			token := fs.String("token", "", "the `TOKEN` to connect with (default $"+EnvToken+")")
			user := fs.String("user", "", "mint a token for `USER` with the local issuer instead")
			stateDir := fs.String("state-dir", ".dev", "the dev runtime's state directory, which holds the issuer (with --user)")
			url := fs.String("url", defaultWebSocketURL(), "the WebSocket `URL`")
			count := fs.Int("count", 0, "stop after `N` pushes (0: no limit)")
			until := fs.String("until", "", "stop after the first push whose JSON contains `TEXT`")
			return func(ctx context.Context, e *env, args []string) error {
				query, cmd := args[0], e.rest
				variables, err := parseVars(vars)
				if err != nil {
					return err
				}
				if *count < 0 {
					return usagef("--count %d: want 0 or more", *count)
				}
				tok, err := subscribeToken(*token, *user, *stateDir, e.cfg.App.Name)
				if err != nil {
					return err
				}
				return subscribe(ctx, e, subscription{
					url: *url, token: tok, query: query, variables: variables,
					count: *count, until: *until, command: cmd,
				})
			}
		},
	})
}

// defaultWebSocketURL is the dev runtime's, at DEV_ADDR or its default.
func defaultWebSocketURL() string {
	addr := os.Getenv("DEV_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	return "ws://" + addr + topology.GraphQLPath
}

// parseVars turns NAME=VALUE pairs into variables.
func parseVars(pairs []string) (map[string]any, error) {
	vars := map[string]any{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, usagef("--var %q: want NAME=VALUE", p)
		}
		var val any
		if err := json.Unmarshal([]byte(v), &val); err != nil {
			val = v
		}
		vars[k] = val
	}
	return vars, nil
}

func subscribeToken(token, user, stateDir, app string) (string, error) {
	switch {
	case token != "" && user != "":
		return "", usagef("give --token or --user, not both")
	case token != "":
		return token, nil
	case user != "":
		return devissuer.Mint(stateDir, devissuer.Options{App: app, Subject: user})
	case os.Getenv(EnvToken) != "":
		return os.Getenv(EnvToken), nil
	}
	return "", usagef("no token: give --token TOKEN, --user USER or $%s", EnvToken)
}

type subscription struct {
	url, token, query string
	variables         map[string]any
	count             int
	until             string
	command           []string
}

func subscribe(ctx context.Context, e *env, s subscription) error {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := wsclient.Dial(dctx, wsclient.Config{
		URL: s.url, ConnectionParams: wsclient.Bearer(s.token),
		// API Gateway closes a WebSocket idle for 10 minutes.
		KeepAlive: 5 * time.Minute,
	})
	if err != nil {
		return connectError(err, s.url)
	}
	defer c.Close()
	sub, err := c.Subscribe(ctx, wsclient.Request{Query: s.query, Variables: s.variables})
	if err != nil {
		return err
	}
	// A pong after the subscribe: the dev runtime has stored it (it
	// handles a connection's messages in order).
	if err := c.Ping(dctx); err != nil {
		return connectError(err, s.url)
	}
	fmt.Fprintf(e.stderr, "subscribed at %s; each push is a line on stdout (Ctrl-C to stop)\n", s.url)

	ran := make(chan error, 1)
	if len(s.command) > 0 {
		go func() { ran <- runCommand(ctx, e, s.command) }()
	}
	pushes := 0
	for {
		r, err := sub.Next(ctx)
		switch {
		case errors.Is(err, io.EOF):
			return commandResult(ran, len(s.command) > 0)
		case ctx.Err() != nil:
			// Ctrl-C: stop politely.
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = sub.Stop(sctx)
			cancel()
			return nil
		case err != nil:
			var ge wsclient.GraphQLErrors
			if errors.As(err, &ge) {
				return fmt.Errorf("the subscription was refused: %w", err)
			}
			return connectError(err, s.url)
		}
		if _, err := fmt.Fprintf(e.stdout, "%s\n", compact(r.Raw)); err != nil {
			return err
		}
		pushes++
		if (s.count > 0 && pushes >= s.count) || (s.until != "" && strings.Contains(string(r.Raw), s.until)) {
			_ = sub.Stop(ctx)
			return commandResult(ran, len(s.command) > 0)
		}
	}
}

// compact is a JSON value on one line.
func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// runCommand runs what follows --, its output passing through.
func runCommand(ctx context.Context, e *env, argv []string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr, cmd.Stdin = e.stdout, e.stderr, os.Stdin
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", argv[0], err)
	}
	return nil
}

// commandResult waits for the command, when there is one: the
// subscription's end does not cut it short.
func commandResult(ran chan error, started bool) error {
	if !started {
		return nil
	}
	return <-ran
}

// connectError says what a person can do about a connection's failure.
func connectError(err error, url string) error {
	var ce *wsclient.CloseError
	switch {
	case errors.As(err, &ce) && ce.Code == 4403:
		return fmt.Errorf("%s refused the token (%w): mint a new one with make token, or check it is the dev runtime's", url, err)
	case errors.As(err, &ce):
		return err
	case strings.Contains(err.Error(), "connection refused"):
		return fmt.Errorf("nothing answers at %s: is make dev running (DEV_ADDR, --url)? (%w)", url, err)
	}
	return err
}
