package localws

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/threefactor/framework/lib/origin"
)

// TestOrigin: a browser handshake from an origin that is not allowed is
// refused with 403 before $connect (cross-site WebSocket hijacking); an
// allowed origin, a loopback one when added, and no Origin at all pass.
func TestOrigin(t *testing.T) {
	ts := startServer(t, Config{InitTimeout: -1, Origins: origin.MustParse("https://app.example.com").WithLoopback()})
	for _, c := range []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{"https://app.example.com", true},
		{"http://127.0.0.1:5173", true},
		{"http://localhost:8080", true},
		{"https://evil.example", false},
		{"null", false},
		{"https://app.example.com.evil.example", false},
	} {
		h := http.Header{}
		if c.origin != "" {
			h.Set("Origin", c.origin)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		ws, resp, err := websocket.Dial(ctx, ts.url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: h})
		cancel()
		if c.ok {
			if err != nil {
				t.Errorf("origin %q: %v, want the socket open", c.origin, err)
				continue
			}
			<-ts.hub.connected
			_ = ws.CloseNow()
			continue
		}
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("origin %q: %v, %v; want 403", c.origin, resp, err)
		}
		select {
		case id := <-ts.hub.connected:
			t.Errorf("origin %q reached $connect (%s)", c.origin, id)
		default:
		}
	}
}
