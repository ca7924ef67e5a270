package tests

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/gateway"
	"github.com/threefactor/framework/lib/identity"
	"github.com/threefactor/framework/lib/identity/devissuer"
	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/realtime/wsproto"
)

// post sends a GraphQL request over HTTP with an Authorization header
// (none when auth is "").
func (s *devStack) post(t *testing.T, method, auth string) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	u := s.url
	if method == http.MethodPost {
		body = strings.NewReader(`{"query":"{ restaurants { id } }"}`)
	} else {
		u += "?query=%7B%20restaurants%20%7B%20id%20%7D%20%7D"
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestAuthentication holds cmd/dev's front door to API Gateway's: the
// HTTP API's JWT authorizer answers every refused request with its 401,
// and the WebSocket closes a connection whose connection_init token is
// refused with 4403, over real HTTP and real sockets. Tokens are minted
// in-process with the issuer of the dev process's state directory, as
// `make token` does.
func TestAuthentication(t *testing.T) {
	s := startDev(t)
	strangers, err := devissuer.Mint(t.TempDir(), devissuer.Options{App: fooddelivery.App.Name, Subject: "mallory"})
	if err != nil {
		t.Fatal(err)
	}
	expired := s.Token(t, devissuer.Options{TTL: time.Minute, Now: func() time.Time { return time.Now().Add(-time.Hour) }})
	const challenge = `Bearer scope="" error="invalid_token" error_description="`
	refused := []struct {
		name, token, challenge string
	}{
		{"no token", "", "Bearer"},
		{"a token signed by another key", strangers, challenge + `the token is signed by an unknown key"`},
		{"a token for another audience", s.Token(t, devissuer.Options{Audience: "another-app-client"}), challenge + `the token does not have a valid audience"`},
		{"an expired token", expired, challenge + `the token has expired"`},
		{"not a token", "not-a-jwt", challenge + `the token is malformed"`},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			auth := ""
			if tt.token != "" {
				auth = "Bearer " + tt.token
			}
			for _, method := range []string{http.MethodPost, http.MethodGet} {
				resp, body := s.post(t, method, auth)
				if resp.StatusCode != http.StatusUnauthorized || body != `{"message":"Unauthorized"}` {
					t.Errorf("%s: %d %s, want API Gateway's 401", method, resp.StatusCode, body)
				}
				if resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Content-Length") != "26" ||
					resp.Header.Get("Www-Authenticate") != tt.challenge || resp.Header.Get("Apigw-Requestid") == "" {
					t.Errorf("%s: headers %v, want www-authenticate %s", method, resp.Header, tt.challenge)
				}
			}
			c, _, err := wsDial(t, s.wsURL(), wsproto.Subprotocol)
			if err != nil {
				t.Fatal(err)
			}
			if tt.token == "" {
				c.send(`{"type":"connection_init","payload":{}}`)
			} else {
				c.send(initMessage(tt.token))
			}
			c.expectClose(wsproto.CloseForbidden, wsproto.ReasonForbidden)
		})
	}

	t.Run("a valid token is accepted", func(t *testing.T) {
		for _, auth := range []string{"Bearer " + s.token, s.token} {
			if resp, body := s.post(t, http.MethodPost, auth); resp.StatusCode != 200 || !strings.Contains(body, `"r-pizza"`) {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		}
		c, _, err := wsDial(t, s.wsURL(), wsproto.Subprotocol)
		if err != nil {
			t.Fatal(err)
		}
		c.send(`{"type":"connection_init","payload":{"authToken":"` + s.token + `"}}`)
		if m := c.read(); m.Type != wsproto.ConnectionAck {
			t.Fatalf("got %+v", m)
		}
	})

	t.Run("GraphiQL is a page without data, served without a token", func(t *testing.T) {
		resp, err := http.Get("http://" + s.Addr + "/graphiql")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(b), `"endpoint":"/graphql"`) {
			t.Fatalf("%d %s", resp.StatusCode, resp.Header)
		}
		req, _ := http.NewRequest(http.MethodGet, s.url, nil)
		req.Header.Set("Accept", "text/html")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a browser at /graphql without a token: %d, want 401", resp.StatusCode)
		}
	})

	t.Run("the issuer's discovery document and keys", func(t *testing.T) {
		iss := s.Issuer(t)
		if !strings.HasPrefix(iss.Issuer(), devissuer.IssuerPrefix) || strings.Contains(iss.Issuer(), s.Addr) {
			t.Fatalf("issuer %s: want one that does not depend on the port", iss.Issuer())
		}
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		getJSON(t, "http://"+s.Addr+devissuer.DiscoveryPath, &doc)
		if doc.Issuer != iss.Issuer() || doc.JWKSURI != "http://"+s.Addr+devissuer.JWKSPath {
			t.Fatalf("discovery %+v", doc)
		}
		if keys := jwksKeyIDs(t, doc.JWKSURI); strings.Join(keys, ",") != strings.Join(iss.KeyIDs(), ",") {
			t.Fatalf("published keys %v, issuer's %v", keys, iss.KeyIDs())
		}
	})
}

func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func jwksKeyIDs(t *testing.T, url string) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	getJSON(t, url, &set)
	var ids []string
	for _, k := range set.Keys {
		ids = append(ids, k.KID)
	}
	return ids
}

// TestTokenExpiresWhileSubscribed: a connection whose token expires while
// it is subscribed gets no push after exp; at exp each subscription gets
// an UNAUTHENTICATED error and the socket is closed with 4403, and what it
// stored is gone.
func TestTokenExpiresWhileSubscribed(t *testing.T) {
	ctx := context.Background()
	s := startDev(t)
	st := realtimeStore(t)
	short := s.Token(t, devissuer.Options{TTL: 4 * time.Second})
	iss := s.Issuer(t)
	v := verifierFor(t, iss)
	id, err := v.Verify(ctx, short)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := wsDial(t, s.wsURL(), wsproto.Subprotocol)
	if err != nil {
		t.Fatal(err)
	}
	c.send(initMessage(short))
	if m := c.read(); m.Type != wsproto.ConnectionAck {
		t.Fatalf("got %+v", m)
	}
	o, err := s.placeOrder(ctx, "r-pizza", map[string]any{"menuItemId": "margherita", "quantity": 1})
	if err != nil {
		t.Fatal(err)
	}
	c.send(`{"id":"w","type":"subscribe","payload":{"query":"subscription($id: ID!) { orderUpdated(id: $id) { id status } }","variables":{"id":"` + o.ID + `"}}}`)
	var conn string
	rtWaitFor(t, time.Minute, "the subscription stored", func() bool {
		subs, err := st.SubscriptionsFor(ctx, gateway.OrderTopic(o.ID))
		if err == nil && len(subs) == 1 {
			conn = subs[0].ConnectionID
		}
		return conn != ""
	})

	// Read until the server closes the socket; the deadline only ends a
	// broken run: the close is due at exp, a few seconds away.
	type frame struct {
		at time.Time
		m  wsproto.Message
	}
	var frames []frame
	rctx, cancel := context.WithTimeout(ctx, time.Until(id.Expires)+10*time.Second)
	defer cancel()
	var closeErr websocket.CloseError
	for {
		_, b, err := c.ws.Read(rctx)
		if err != nil {
			if !errors.As(err, &closeErr) {
				t.Fatalf("read: %v, want the server to close the socket at exp (%s)", err, id.Expires.Format(time.RFC3339))
			}
			break
		}
		var m wsproto.Message
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("frame %s: %v", b, err)
		}
		frames = append(frames, frame{time.Now(), m})
	}
	closedAt := time.Now()
	if int(closeErr.Code) != wsproto.CloseForbidden || closeErr.Reason != wsproto.ReasonForbidden {
		t.Fatalf("closed with %d %q, want 4403 Forbidden", closeErr.Code, closeErr.Reason)
	}
	if closedAt.Before(id.Expires) {
		t.Fatalf("closed at %s, before exp %s", closedAt.Format(time.RFC3339Nano), id.Expires.Format(time.RFC3339Nano))
	}
	var gotError bool
	for _, f := range frames {
		switch f.m.Type {
		case wsproto.Next:
			if !f.at.Before(id.Expires) {
				t.Errorf("a push at %s, after exp %s: %s", f.at.Format(time.RFC3339Nano), id.Expires.Format(time.RFC3339Nano), f.m.Payload)
			}
		case wsproto.Error:
			var errs []wsproto.Err
			if f.m.ID != "w" || json.Unmarshal(f.m.Payload, &errs) != nil || len(errs) != 1 ||
				errs[0].Message != realtime.ExpiredMessage || errs[0].Extensions["code"] != "UNAUTHENTICATED" {
				t.Errorf("error frame %s %s", f.m.ID, f.m.Payload)
			}
			gotError = true
		}
	}
	if !gotError {
		t.Errorf("no UNAUTHENTICATED error for the subscription before the close; frames %+v", frames)
	}
	rtWaitFor(t, time.Minute, "the expired connection's rows deleted", func() bool {
		subs, err := st.SubscriptionsOf(ctx, conn)
		return err == nil && len(subs) == 0
	})
}

// TestJWKSRotationWithoutRestart: the issuer rotates its signing key
// while cmd/dev runs; the key set it serves shows the new key, and tokens
// signed with it are accepted over HTTP and WebSocket without a restart,
// as are those of the previous key.
func TestJWKSRotationWithoutRestart(t *testing.T) {
	s := startDev(t)
	before := s.token
	if resp, body := s.post(t, http.MethodPost, "Bearer "+before); resp.StatusCode != 200 {
		t.Fatalf("before the rotation: %d %s", resp.StatusCode, body)
	}
	kid, err := s.Issuer(t).Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if keys := jwksKeyIDs(t, "http://"+s.Addr+devissuer.JWKSPath); len(keys) != 2 || keys[1] != kid {
		t.Fatalf("published keys %v, want the old one and %s", keys, kid)
	}
	after := s.Token(t, devissuer.Options{Subject: "bob"})
	if header := tokenHeader(t, after); header.KID != kid {
		t.Fatalf("the new token is signed by %s, want %s", header.KID, kid)
	}
	for name, tok := range map[string]string{"new key": after, "previous key": before} {
		if resp, body := s.post(t, http.MethodPost, "Bearer "+tok); resp.StatusCode != 200 || !strings.Contains(body, `"r-pizza"`) {
			t.Fatalf("%s over HTTP: %d %s", name, resp.StatusCode, body)
		}
		c, _, err := wsDial(t, s.wsURL(), wsproto.Subprotocol)
		if err != nil {
			t.Fatal(err)
		}
		c.send(initMessage(tok))
		if m := c.read(); m.Type != wsproto.ConnectionAck {
			t.Fatalf("%s over WebSocket: %+v", name, m)
		}
	}
}

type jwtHeader struct {
	KID string `json:"kid"`
	Alg string `json:"alg"`
}

func tokenHeader(t *testing.T, tok string) jwtHeader {
	t.Helper()
	seg, _, _ := strings.Cut(tok, ".")
	b, err := decodeSegment(seg)
	if err != nil {
		t.Fatal(err)
	}
	var h jwtHeader
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

func decodeSegment(seg string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(seg) }

// verifierFor checks tokens of iss in this process, as cmd/dev does.
func verifierFor(t *testing.T, iss *devissuer.Issuer) *identity.Verifier {
	t.Helper()
	v, err := identity.NewVerifier(iss.VerifierConfig())
	if err != nil {
		t.Fatal(err)
	}
	return v
}
