package cli_test

import (
	"net"
	"strings"
	"testing"
)

// Bad command lines exit with 2 and say what is wrong; a dev runtime
// that does not run is named as the likely cause. (tests/subscribe_test.go
// runs the command against the dev runtime.)
func TestSubscribeCommandLine(t *testing.T) {
	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "ws://" + l.Addr().String() + "/graphql"
	l.Close()
	t.Setenv("TOKEN", "")
	q := "subscription { orderUpdated(id: \"o\") { status } }"
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"subscribe"}, 2, "want SUBSCRIPTION, got 0 argument(s)"},
		{[]string{"subscribe", q, "--url", closed}, 2, "no token: give --token TOKEN, --user USER or $TOKEN"},
		{[]string{"subscribe", q, "--token", "t", "--user", "alice"}, 2, "give --token or --user, not both"},
		{[]string{"subscribe", q, "--token", "t", "--var", "=x"}, 2, `--var "=x": want NAME=VALUE`},
		{[]string{"subscribe", q, "--token", "t", "--var", "id"}, 2, `--var "id": want NAME=VALUE`},
		{[]string{"subscribe", q, "--token", "t", "--count", "-1"}, 2, "--count -1: want 0 or more"},
		{[]string{"subscribe", q, "--token", "t", "--url", closed}, 1, "is make dev running"},
		{[]string{"subscribe", q, "--token", "t", "--url", "http://127.0.0.1:1/graphql"}, 1, "want ws:// or wss://"},
		// What follows -- is the command to run, not more arguments.
		{[]string{"subscribe", q, "--token", "t", "--url", closed, "--", "echo", "--var", "x"}, 1, "is make dev running"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[1:], " "), func(t *testing.T) {
			code, out, errOut := threefactor(tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.msg) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d and %q", code, errOut, tt.code, tt.msg)
			}
			if out != "" {
				t.Errorf("stdout: %s", out)
			}
		})
	}
	code, out, _ := threefactor("help", "subscribe")
	if code != 0 || !strings.Contains(out, "usage: threefactor subscribe SUBSCRIPTION [--var NAME=VALUE]...") || !strings.Contains(out, "--until TEXT") {
		t.Errorf("help subscribe: exit %d\n%s", code, out)
	}
}
