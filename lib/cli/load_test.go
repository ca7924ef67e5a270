package cli_test

import (
	"strings"
	"testing"
)

// The load command refuses a bad command line before it sends anything.
func TestLoadUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"load"}, "--rate and --duration are required"},
		{[]string{"load", "--rate", "5"}, "--rate and --duration are required"},
		{[]string{"load", "--rate", "5", "--duration", "1s", "--url", "ftp://x"}, "want http(s)://host/graphql"},
		{[]string{"load", "--rate", "5", "--duration", "1s", "--url", "https://api.example.com/graphql"}, "give a user's token"},
		{[]string{"load", "--rate", "5", "--duration", "1s", "--dlq-urls", "nonsense"}, "--dlq-urls"},
	} {
		t.Setenv("THREEFACTOR_TOKEN", "")
		code, _, stderr := threefactor(tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}
