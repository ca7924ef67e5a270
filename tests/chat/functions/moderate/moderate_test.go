package moderate_test

import (
	"os"
	"testing"

	"github.com/threefactor/framework/lib/app/apptest"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/tests/chat"
	"github.com/threefactor/framework/tests/chat/functions/moderate"
	"github.com/threefactor/framework/tests/chat/messages"
)

// The tests run against the emulator: AWS_ENDPOINT_URL, or a private one
// started for this test binary.
func TestMain(m *testing.M) { os.Exit(apptest.Main(m)) }

func TestMask(t *testing.T) {
	f, err := moderate.NewFilter([]string{"darn", " heck ", "", "a.b"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in, out string
		masked  bool
	}{
		{"hello", "hello", false},
		{"well darn it", "well **** it", true},
		{"DARN! Heck.", "****! ****.", true},
		{"darned heckle", "darned heckle", false}, // whole words only
		{"a.b axb", "*** axb", true},              // words are literal, not patterns
		{"ünïcode darn", "ünïcode ****", true},
	}
	for _, tt := range tests {
		out, masked := f.Mask(tt.in)
		if out != tt.out || masked != tt.masked {
			t.Errorf("Mask(%q) = %q, %v; want %q, %v", tt.in, out, masked, tt.out, tt.masked)
		}
	}
	if _, err := moderate.NewFilter([]string{" ", ""}); err == nil {
		t.Error("an empty word list was accepted")
	}
}

// TestHandle delivers the changes the moderate route matches through the
// framework's consumer, as the route's queue would, over fresh tables on
// the emulator: each message is published, masked when it must be, once.
func TestHandle(t *testing.T) {
	f := apptest.NewFunction(t, chat.App, moderate.Name)
	tests := []struct {
		id, text, want string
		flagged        bool
	}{
		{"m1", "hello there", "hello there", false},
		{"m2", "well darn it", "well **** it", true},
	}
	for _, tt := range tests {
		m := messages.Message{Room: "lobby", ID: tt.id, Author: "ada", Text: tt.text, Status: messages.Pending, SentAt: "2026-01-01T00:00:00Z"}
		f.Put(t, messages.Table, m)
		ev := f.Insert(t, messages.Table, m)
		// Twice, as an at-least-once queue may deliver it.
		for i := range 2 {
			if err := f.Deliver(t, ev); err != nil {
				t.Fatalf("%s delivery %d: %v", tt.id, i+1, err)
			}
		}
		var got messages.Message
		if !f.Get(t, messages.Table, map[string]any{"room": "lobby", "id": tt.id}, &got) {
			t.Fatalf("%s is gone", tt.id)
		}
		if got.Status != messages.Published || got.Text != tt.want || got.Flagged != tt.flagged || got.Author != "ada" {
			t.Errorf("%s: %+v, want PUBLISHED %q flagged=%v", tt.id, got, tt.want, tt.flagged)
		}
	}

	// A change of a message deleted since does nothing, and fails nothing.
	gone := messages.Message{Room: "lobby", ID: "m3", Text: "darn", Status: messages.Pending}
	if err := f.Deliver(t, f.Insert(t, messages.Table, gone)); err != nil {
		t.Fatal(err)
	}
	if f.Get(t, messages.Table, map[string]any{"room": "lobby", "id": "m3"}, &messages.Message{}) {
		t.Error("moderating a deleted message wrote it back")
	}
}

// The banned words come from the function's environment.
func TestBannedWordsFromTheEnvironment(t *testing.T) {
	f := apptest.NewFunctionWith(t, chat.App, moderate.Name, map[string]string{moderate.EnvBannedWords: "spam,eggs"})
	m := messages.Message{Room: "r", ID: "m1", Text: "spam and darn and EGGS", Status: messages.Pending}
	f.Put(t, messages.Table, m)
	if err := f.Deliver(t, f.Insert(t, messages.Table, m)); err != nil {
		t.Fatal(err)
	}
	var got messages.Message
	f.Get(t, messages.Table, map[string]any{"room": "r", "id": "m1"}, &got)
	if got.Text != "**** and darn and ****" || !got.Flagged {
		t.Errorf("got %+v", got)
	}
}

// A change whose image does not decode into a message fails permanently:
// the consumer sends it to the dead-letter queue at once instead of
// retrying it.
func TestUndecodableImageFailsPermanently(t *testing.T) {
	f := apptest.NewFunction(t, chat.App, moderate.Name)
	bad := map[string]any{"room": 42, "id": "test-id"} // room is a string in a message
	err := f.Deliver(t, f.Insert(t, messages.Table, bad))
	if err == nil || !errs.IsPermanent(err) {
		t.Fatalf("err = %v, want a permanent failure", err)
	}
}
