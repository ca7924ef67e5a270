package moderate_test

import (
	"os"
	"testing"

	"github.com/threefactor/framework/lib/app/apptest"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/tests/chat"
	"github.com/threefactor/framework/tests/chat/functions/moderate"
)

// The tests run against the emulator: AWS_ENDPOINT_URL, or a private one
// started for this test binary.
func TestMain(m *testing.M) { os.Exit(apptest.Main(m)) }

// TestHandle delivers changes that the moderate route matches to the
// function through the framework's consumer, as the route's queue would,
// over fresh tables on the emulator.
func TestHandle(t *testing.T) {
	f := apptest.NewFunction(t, chat.App, moderate.Name)
	item := moderate.Message{Room: "test-room", ID: "test-id", Status: "PENDING"}
	for _, c := range []change.Event{
		f.Insert(t, "messages", item),
	} {
		if err := f.Deliver(t, c); err != nil {
			t.Fatalf("%s: the handler failed: %v", c.Operation, err)
		}
	}
	// TODO: assert what the step did, e.g. read what it wrote with f.Get.
}

// A change whose image does not decode into Message fails permanently:
// the consumer sends it to the dead-letter queue at once instead of
// retrying it.
func TestUndecodableImageFailsPermanently(t *testing.T) {
	f := apptest.NewFunction(t, chat.App, moderate.Name)
	bad := map[string]any{"room": 42, "id": "test-id"} // room is a string in Message
	err := f.Deliver(t, f.Insert(t, "messages", bad))
	if err == nil || !errs.IsPermanent(err) {
		t.Fatalf("err = %v, want a permanent failure", err)
	}
}
