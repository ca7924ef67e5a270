package wsproto

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzDecode holds Decode to the protocol on arbitrary frames: it never
// panics; what it refuses wraps ErrInvalid with a reason; what it accepts
// is a client message of a known type, with an id where the protocol
// requires one, an object payload where one is required (a subscribe's
// with a query), and survives Encode and Decode again unchanged.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"type":"connection_init","payload":{"token":"t"}}`,
		`{"type":"connection_init","payload":null}`,
		`{"type":"ping"}`,
		`{"type":"pong","payload":{"a":[1,{}]}}`,
		`{"id":"1","type":"subscribe","payload":{"query":"subscription { orderUpdated(id: \"o\") { status } }","variables":{"id":"o"},"operationName":null,"extensions":{"x":1}}}`,
		`{"id":"1","type":"subscribe","payload":{"query":"{ a }","variables":[1]}}`,
		`{"id":"1","type":"subscribe","payload":{"query":""}}`,
		`{"id":"","type":"complete"}`,
		`{"id":1,"type":"complete"}`,
		`{"id":"9","type":"complete"}`,
		`{"type":"next","id":"1","payload":{}}`,
		`{"id":"h","type":"subscribe","payload":{"query":"{ a(s: \"&<>\") }"}}`,
		`{"type":"connection_init","type":"ping"}`,
		`{"type":null}`,
		`[]`, `null`, `"x"`, ``, `{`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) || len(err.Error()) <= len(ErrInvalid.Error()) {
				t.Fatalf("Decode(%q) = %v: want ErrInvalid with a reason", data, err)
			}
			return
		}
		switch m.Type {
		case ConnectionInit, Ping, Pong:
			if m.Payload != nil && !isObject(m.Payload) {
				t.Fatalf("Decode(%q): %s payload %s", data, m.Type, m.Payload)
			}
		case Subscribe:
			p, err := m.SubscribePayload()
			if m.ID == "" || err != nil || p.Query == "" {
				t.Fatalf("Decode(%q): subscribe %q, %+v, %v", data, m.ID, p, err)
			}
		case Complete:
			if m.ID == "" {
				t.Fatalf("Decode(%q): complete without an id", data)
			}
		default:
			t.Fatalf("Decode(%q) accepted type %q", data, m.Type)
		}
		again, err := Decode(Encode(m))
		if err != nil || again.ID != m.ID || again.Type != m.Type || !sameJSON(again.Payload, m.Payload) {
			t.Fatalf("Decode(Encode(%+v)) = %+v, %v", m, again, err)
		}
	})
}

// sameJSON compares values: Encode escapes <, > and & as \u003c...
func sameJSON(a, b json.RawMessage) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}
