package realtime_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/realtime"
)

func TestCursor(t *testing.T) {
	c := realtime.EncodeCursor("orderUpdated:o1", 1_764_000_000_000_042)
	if strings.ContainsAny(c, "+/=") {
		t.Fatalf("cursor %q is not URL-safe", c)
	}
	p, err := realtime.DecodeCursor("orderUpdated:o1", c)
	if err != nil || p != 1_764_000_000_000_042 {
		t.Fatalf("decode = %d, %v", p, err)
	}
	flipped := []byte(c)
	flipped[5] ^= 1
	for name, tc := range map[string]struct{ topic, cursor string }{
		"another topic":   {"orderUpdated:o2", c},
		"a changed byte":  {"orderUpdated:o1", string(flipped)},
		"truncated":       {"orderUpdated:o1", c[:len(c)-1]},
		"not base64":      {"orderUpdated:o1", "%%%"},
		"empty":           {"orderUpdated:o1", ""},
		"another version": {"orderUpdated:o1", "Ag" + c[2:]},
		"position 0":      {"t", realtime.EncodeCursor("t", 0)},
	} {
		if _, err := realtime.DecodeCursor(tc.topic, tc.cursor); !errors.Is(err, realtime.ErrResync) || !realtime.IsResync(err) {
			t.Errorf("%s: %v, want ErrResync", name, err)
		}
	}
	if !realtime.IsResync(eventlog.ErrExpired) {
		t.Error("an expired position is not a resync")
	}
}

func TestWithCursor(t *testing.T) {
	for in, want := range map[string]string{
		`{"data":{"x":1}}`:             `{"data":{"x":1},"extensions":{"cursor":"c1"}}`,
		`{"errors":[{"message":"m"}]}`: `{"errors":[{"message":"m"}],"extensions":{"cursor":"c1"}}`,
		`{}`:                           `{"extensions":{"cursor":"c1"}}`,
		`[1]`:                          `[1]`,
	} {
		if got := string(realtime.WithCursor([]byte(in), "c1")); got != want {
			t.Errorf("WithCursor(%s) = %s, want %s", in, got, want)
		}
	}
}
