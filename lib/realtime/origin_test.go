package realtime_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	graphql "github.com/graph-gophers/graphql-go"

	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/origin"
	"github.com/threefactor/framework/lib/provision"
	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/realtime/store"
	"github.com/threefactor/framework/lib/realtime/wsproto"
	"github.com/threefactor/framework/lib/topology"
)

// TestConnectOrigin: $connect (what API Gateway invokes on AWS, with the
// handshake's headers) refuses a browser origin that is not allowed with
// 403 and stores nothing; allowed origins and native clients (no Origin)
// connect.
func TestConnectOrigin(t *testing.T) {
	ctx := context.Background()
	cfg := emulatortest.Config(t)
	topo := topology.Topology{App: fmt.Sprintf("rtorigin%d-%d", os.Getpid()%10000, appSeq.Add(1))}
	if _, err := provision.Apply(ctx, cfg, topo); err != nil {
		t.Fatal(err)
	}
	st, err := store.New(dynamodb.NewFromConfig(cfg), store.Config{
		ConnectionsTable: topo.TableName(topology.ConnectionsTable), SubscriptionsTable: topo.TableName(topology.SubscriptionsTable),
	})
	if err != nil {
		t.Fatal(err)
	}
	allowed, err := origin.FromEnv(func(string) string { return "https://app.example.com, https://admin.example.com" })
	if err != nil {
		t.Fatal(err)
	}
	h, err := realtime.NewHandler(realtime.Config{
		Schema: graphql.MustParseSchema(sdl, &root{}), Store: st, Management: nopManagement{},
		Topics: realtime.Topics{Subscription: topicOf}, Origins: allowed,
		Logger: slog.New(slog.NewJSONHandler(logOut(), nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		name    string
		headers map[string]string
		multi   map[string][]string
		status  int
	}{
		{"native app", map[string]string{"Sec-WebSocket-Protocol": wsproto.Subprotocol}, nil, 200},
		{"allowed", map[string]string{"Origin": "https://app.example.com", "Sec-WebSocket-Protocol": wsproto.Subprotocol}, nil, 200},
		{"lower-case header", map[string]string{"origin": "https://admin.example.com", "sec-websocket-protocol": wsproto.Subprotocol}, nil, 200},
		{"evil", map[string]string{"Origin": "https://evil.example", "Sec-WebSocket-Protocol": wsproto.Subprotocol}, nil, 403},
		{"evil without subprotocol", map[string]string{"Origin": "https://evil.example"}, nil, 403},
		{"null", map[string]string{"Origin": "null", "Sec-WebSocket-Protocol": wsproto.Subprotocol}, nil, 403},
		{"loopback is not implied on AWS", map[string]string{"Origin": "http://localhost:3000", "Sec-WebSocket-Protocol": wsproto.Subprotocol}, nil, 403},
		{"two origins", nil, map[string][]string{"Origin": {"https://app.example.com", "https://evil.example"}, "Sec-WebSocket-Protocol": {wsproto.Subprotocol}}, 403},
	} {
		id := fmt.Sprintf("origin-%d=", i)
		req := events.APIGatewayWebsocketProxyRequest{Headers: c.headers, MultiValueHeaders: c.multi}
		req.RequestContext.RouteKey, req.RequestContext.ConnectionID = realtime.RouteConnect, id
		resp, err := h.Handle(ctx, req)
		if err != nil || resp.StatusCode != c.status {
			t.Errorf("%s: %d, %v; want %d", c.name, resp.StatusCode, err, c.status)
			continue
		}
		_, gerr := st.GetConnection(ctx, id)
		if stored := gerr == nil; stored != (c.status == http.StatusOK) {
			t.Errorf("%s: connection stored = %v", c.name, stored)
		}
	}
}

type nopManagement struct{ realtime.ManagementAPI }
