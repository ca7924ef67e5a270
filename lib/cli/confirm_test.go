package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestConfirm(t *testing.T) {
	for _, tt := range []struct {
		answer string
		want   bool
	}{
		{"y\n", true}, {"yes\n", true}, {" YES \n", true}, {"Y", true},
		{"n\n", false}, {"\n", false}, {"", false}, {"yep\n", false},
	} {
		var out bytes.Buffer
		if got := confirm(strings.NewReader(tt.answer), &out, "drop? [y/N] "); got != tt.want {
			t.Errorf("answer %q: %v, want %v", tt.answer, got, tt.want)
		}
		if !strings.HasPrefix(out.String(), "drop? [y/N] ") {
			t.Errorf("asked %q", out.String())
		}
	}
}
