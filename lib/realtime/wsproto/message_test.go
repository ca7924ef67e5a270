package wsproto

import (
	"errors"
	"reflect"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Message
		wantErr bool
	}{
		{"init", `{"type":"connection_init"}`, Message{Type: ConnectionInit}, false},
		{"init payload", `{"type":"connection_init","payload":{"token":"x"}}`, Message{Type: ConnectionInit, Payload: []byte(`{"token":"x"}`)}, false},
		{"init null payload", `{"type":"connection_init","payload":null}`, Message{Type: ConnectionInit}, false},
		{"init array payload", `{"type":"connection_init","payload":[1]}`, Message{}, true},
		{"ping", `{"type":"ping"}`, Message{Type: Ping}, false},
		{"pong", `{"type":"pong","payload":{"a":1}}`, Message{Type: Pong, Payload: []byte(`{"a":1}`)}, false},
		{"subscribe", `{"id":"1","type":"subscribe","payload":{"query":"{a}"}}`, Message{ID: "1", Type: Subscribe, Payload: []byte(`{"query":"{a}"}`)}, false},
		{"subscribe no id", `{"type":"subscribe","payload":{"query":"{a}"}}`, Message{}, true},
		{"subscribe empty id", `{"id":"","type":"subscribe","payload":{"query":"{a}"}}`, Message{}, true},
		{"subscribe no query", `{"id":"1","type":"subscribe","payload":{}}`, Message{}, true},
		{"subscribe bad variables", `{"id":"1","type":"subscribe","payload":{"query":"{a}","variables":[1]}}`, Message{}, true},
		{"subscribe bad operationName", `{"id":"1","type":"subscribe","payload":{"query":"{a}","operationName":1}}`, Message{}, true},
		{"subscribe no payload", `{"id":"1","type":"subscribe"}`, Message{}, true},
		{"complete", `{"id":"1","type":"complete"}`, Message{ID: "1", Type: Complete}, false},
		{"complete no id", `{"type":"complete"}`, Message{}, true},
		{"server type from client", `{"type":"next","id":"1","payload":{}}`, Message{}, true},
		{"ack from client", `{"type":"connection_ack"}`, Message{}, true},
		{"unknown type", `{"type":"start"}`, Message{}, true},
		{"no type", `{"id":"1"}`, Message{}, true},
		{"not json", `hello`, Message{}, true},
		{"array", `[]`, Message{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.in))
			if tt.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("Decode(%s) = %+v, %v; want ErrInvalid", tt.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode(%s): %v", tt.in, err)
			}
			if got.ID != tt.want.ID || got.Type != tt.want.Type || string(got.Payload) != string(tt.want.Payload) {
				t.Fatalf("Decode(%s) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestSubscribePayload(t *testing.T) {
	m, err := Decode([]byte(`{"id":"a","type":"subscribe","payload":{"query":"subscription S($id: ID!){ x(id:$id) }","operationName":"S","variables":{"id":"o1","n":2},"extensions":{"k":true}}}`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.SubscribePayload()
	if err != nil {
		t.Fatal(err)
	}
	want := SubscribePayload{
		OperationName: "S", Query: "subscription S($id: ID!){ x(id:$id) }",
		Variables: map[string]any{"id": "o1", "n": 2.0}, Extensions: map[string]any{"k": true},
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("payload = %+v, want %+v", p, want)
	}
}

func TestEncode(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{string(NextMessage("1", []byte(`{"data":{"a":1}}`))), `{"id":"1","type":"next","payload":{"data":{"a":1}}}`},
		{string(CompleteMessage("1")), `{"id":"1","type":"complete"}`},
		{string(ErrorMessage("1", []byte(`[{"message":"bad"}]`))), `{"id":"1","type":"error","payload":[{"message":"bad"}]}`},
		{string(Encode(Message{Type: ConnectionAck})), `{"type":"connection_ack"}`},
		{ReasonSubscriberExists("7"), "Subscriber for 7 already exists"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
}
