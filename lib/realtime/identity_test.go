package realtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/identity"
	"github.com/threefactor/framework/lib/identity/devissuer"
	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/realtime/expiry"
	"github.com/threefactor/framework/lib/realtime/wsproto"
)

// issuer is a dev issuer with an in-process verifier.
func issuer(t *testing.T) (*devissuer.Issuer, *identity.Verifier) {
	t.Helper()
	iss, err := devissuer.Open(t.TempDir(), "rt")
	if err != nil {
		t.Fatal(err)
	}
	v, err := identity.NewVerifier(iss.VerifierConfig())
	if err != nil {
		t.Fatal(err)
	}
	return iss, v
}

func mint(t *testing.T, iss *devissuer.Issuer, o devissuer.Options) string {
	t.Helper()
	if o.Subject == "" {
		o.Subject = "ann"
	}
	tok, err := iss.Mint(o)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func initWith(token string) string {
	b, _ := json.Marshal(map[string]any{"type": "connection_init", "payload": map[string]string{"Authorization": "Bearer " + token}})
	return string(b)
}

// connectionCount is how many connections the store holds.
func (s *stack) connectionCount(t *testing.T) int {
	t.Helper()
	out, err := dynamodb.NewFromConfig(emulatortest.Config(t)).Scan(context.Background(), &dynamodb.ScanInput{
		TableName: aws.String(s.store.ConnectionsTable()), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	return int(out.Count)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// connection_init's token decides the connection: refused tokens close it
// with 4403 and leave nothing stored; a verified one is the identity every
// operation of the connection runs with.
func TestAuthenticate(t *testing.T) {
	iss, v := issuer(t)
	other, _ := issuer(t)
	s := newStack(t, time.Minute, func(c *realtime.Config) { c.OnConnect = realtime.Authenticate(v) })
	for name, init := range map[string]string{
		"no payload":               `{"type":"connection_init"}`,
		"no token":                 `{"type":"connection_init","payload":{}}`,
		"garbage":                  initWith("not-a-token"),
		"signed by another key":    initWith(mint(t, other, devissuer.Options{})),
		"for another audience":     initWith(mint(t, iss, devissuer.Options{Audience: "someone-else"})),
		"expired":                  initWith(mint(t, iss, devissuer.Options{TTL: time.Minute, Now: func() time.Time { return time.Now().Add(-time.Hour) }})),
		"Basic credentials":        `{"type":"connection_init","payload":{"Authorization":"Basic YTpi"}}`,
		"authToken of another key": `{"type":"connection_init","payload":{"authToken":"` + mint(t, other, devissuer.Options{}) + `"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			c, _, err := s.dial(t)
			if err != nil {
				t.Fatal(err)
			}
			c.send(init)
			c.expectClose(wsproto.CloseForbidden, wsproto.ReasonForbidden)
		})
	}
	waitFor(t, "refused connections forgotten", func() bool { return s.connectionCount(t) == 0 })

	t.Run("a verified token is the connection's identity", func(t *testing.T) {
		c, _, err := s.dial(t)
		if err != nil {
			t.Fatal(err)
		}
		c.send(`{"type":"connection_init","payload":{"authToken":"` + mint(t, iss, devissuer.Options{Subject: "alice"}) + `"}}`)
		if m := c.read(); m.Type != wsproto.ConnectionAck {
			t.Fatalf("got %+v", m)
		}
		c.send(`{"id":"q","type":"subscribe","payload":{"query":"{ whoami }"}}`)
		if m := c.read(); m.Type != wsproto.Next || string(m.Payload) != `{"data":{"whoami":"alice"}}` {
			t.Fatalf("got %s %s", m.Type, m.Payload)
		}
	})
}

// A token that expires while subscribed: pushes stop at exp and the
// in-process timer ends the connection (an UNAUTHENTICATED error for the
// subscription, then close 4403), removing what it stored.
func TestExpiryClosesConnection(t *testing.T) {
	iss, v := issuer(t)
	s := newStack(t, time.Minute, func(c *realtime.Config) { c.OnConnect = realtime.Authenticate(v) })
	ctx := context.Background()
	tok := mint(t, iss, devissuer.Options{TTL: 3 * time.Second})
	id, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := s.dial(t)
	if err != nil {
		t.Fatal(err)
	}
	c.send(initWith(tok))
	if m := c.read(); m.Type != wsproto.ConnectionAck {
		t.Fatalf("got %+v", m)
	}
	c.send(`{"id":"s1","type":"subscribe","payload":{"query":"subscription { itemChanged(id: \"exp1\") { status } }"}}`)
	c.send(`{"type":"ping"}`)
	if m := c.read(); m.Type != wsproto.Pong {
		t.Fatalf("got %+v", m)
	}
	ev := change.Event{ID: "e1", Table: "items", Keys: json.RawMessage(`{"id":"exp1"}`), New: json.RawMessage(`{"id":"exp1","status":"PAID"}`)}
	if time.Now().Before(id.Expires) {
		if st, err := s.fanout.Publish(ctx, ev); err != nil || st.Pushed != 1 {
			t.Fatalf("before exp: %+v, %v", st, err)
		}
		if m := c.read(); m.Type != wsproto.Next || m.ID != "s1" {
			t.Fatalf("got %+v", m)
		}
	}
	m := c.read() // waits (with read's deadline) for the expiry
	if time.Now().Before(id.Expires) {
		t.Fatalf("got %s %s before the token expired", m.Type, m.Payload)
	}
	var errs []wsproto.Err
	if m.Type != wsproto.Error || m.ID != "s1" || json.Unmarshal(m.Payload, &errs) != nil || len(errs) != 1 ||
		errs[0].Message != realtime.ExpiredMessage || errs[0].Extensions["code"] != "UNAUTHENTICATED" {
		t.Fatalf("got %s %s %s, want the subscription's UNAUTHENTICATED error", m.Type, m.ID, m.Payload)
	}
	c.expectClose(wsproto.CloseForbidden, wsproto.ReasonForbidden)
	ev.ID, ev.New = "e2", json.RawMessage(`{"id":"exp1","status":"APPROVED"}`)
	if st, err := s.fanout.Publish(ctx, ev); err != nil || st.Pushed != 0 {
		t.Fatalf("after exp: %+v, %v", st, err)
	}
	waitFor(t, "the expired connection forgotten", func() bool { return s.connectionCount(t) == 0 })
}

// The AWS path: connection_init creates an EventBridge Scheduler schedule
// (on the emulator) whose payload, delivered to the realtime Lambda's
// Invoke once the token has expired, ends the connection.
func TestExpiryOnAWS(t *testing.T) {
	ctx := context.Background()
	iss, v := issuer(t)
	client := scheduler.NewFromConfig(emulatortest.Config(t))
	group := fmt.Sprintf("rt-expiry-%d-%d", os.Getpid(), appSeq.Add(1))
	if _, err := client.CreateScheduleGroup(ctx, &scheduler.CreateScheduleGroupInput{Name: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	const fn = "arn:aws:lambda:us-east-1:123456789012:function:app-realtime"
	// The function's ARN comes from the Lambda context on AWS (the expiry
	// package's test covers that); the local front door has none.
	sched, err := expiry.New(client, expiry.Config{Group: group, RoleARN: "arn:aws:iam::123456789012:role/expiry", FunctionARN: fn})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := newStack(t, time.Minute, func(c *realtime.Config) {
		c.OnConnect = realtime.Authenticate(v)
		c.Expiry = sched
		c.Now = clock
	})
	tok := mint(t, iss, devissuer.Options{TTL: time.Hour})
	id, _ := v.Verify(ctx, tok)
	c, _, err := s.dial(t)
	if err != nil {
		t.Fatal(err)
	}
	c.send(initWith(tok))
	if m := c.read(); m.Type != wsproto.ConnectionAck {
		t.Fatalf("got %+v", m)
	}
	c.send(`{"id":"s1","type":"subscribe","payload":{"query":"subscription { itemChanged(id: \"aws1\") { status } }"}}`)
	c.send(`{"type":"ping"}`)
	if m := c.read(); m.Type != wsproto.Pong {
		t.Fatalf("got %+v", m)
	}
	subs, err := s.store.SubscriptionsFor(ctx, "item:aws1")
	if err != nil || len(subs) != 1 {
		t.Fatalf("stored %+v, %v", subs, err)
	}
	got, err := client.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String(expiry.ScheduleName(subs[0].ConnectionID)), GroupName: aws.String(group)})
	if err != nil {
		t.Fatalf("no schedule for the connection: %v", err)
	}
	if aws.ToString(got.ScheduleExpression) != expiry.Expression(id.Expires) || aws.ToString(got.Target.Arn) != fn {
		t.Fatalf("schedule %s -> %s", aws.ToString(got.ScheduleExpression), aws.ToString(got.Target.Arn))
	}
	payload := json.RawMessage(aws.ToString(got.Target.Input))

	// Fired early (clock before exp): nothing happens.
	if _, err := s.h.Invoke(ctx, payload); err != nil {
		t.Fatal(err)
	}
	c.send(`{"type":"ping"}`)
	if m := c.read(); m.Type != wsproto.Pong {
		t.Fatalf("after an early expiry event: %+v", m)
	}
	mu.Lock()
	now = id.Expires
	mu.Unlock()
	if _, err := s.h.Invoke(ctx, payload); err != nil {
		t.Fatal(err)
	}
	m := c.read()
	var errs []wsproto.Err
	if m.Type != wsproto.Error || m.ID != "s1" || json.Unmarshal(m.Payload, &errs) != nil || len(errs) != 1 || errs[0].Extensions["code"] != "UNAUTHENTICATED" {
		t.Fatalf("got %s %s %s", m.Type, m.ID, m.Payload)
	}
	c.expectClose(wsproto.CloseForbidden, wsproto.ReasonForbidden)
	// Delivered again (Scheduler retries): the connection is gone, no error.
	if _, err := s.h.Invoke(ctx, payload); err != nil {
		t.Fatal(err)
	}
}

// Invoke takes the WebSocket API's events too, and refuses anything else.
func TestInvoke(t *testing.T) {
	s := newStack(t, time.Minute)
	req, _ := json.Marshal(events.APIGatewayWebsocketProxyRequest{RequestContext: events.APIGatewayWebsocketProxyRequestContext{RouteKey: realtime.RouteConnect, ConnectionID: "c-invoke"}})
	out, err := s.h.Invoke(context.Background(), req)
	if resp, ok := out.(events.APIGatewayProxyResponse); err != nil || !ok || resp.StatusCode != 400 {
		t.Fatalf("a $connect without the subprotocol: %+v, %v; want 400", out, err)
	}
	for _, bad := range []string{`[]`, `{"action":"threefactor.realtime.expire"}`} {
		if _, err := s.h.Invoke(context.Background(), json.RawMessage(bad)); err == nil {
			t.Errorf("Invoke(%s) succeeded", bad)
		}
	}
	if _, err := s.h.Invoke(context.Background(), json.RawMessage(`{"action":"threefactor.realtime.expire","connectionId":"nobody"}`)); err != nil {
		t.Errorf("expiry of an unknown connection: %v", err)
	}
}
