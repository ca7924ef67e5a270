package wsproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Subprotocol is the WebSocket subprotocol a client must offer.
const Subprotocol = "graphql-transport-ws"

// Message types.
const (
	ConnectionInit = "connection_init"
	ConnectionAck  = "connection_ack"
	Ping           = "ping"
	Pong           = "pong"
	Subscribe      = "subscribe"
	Next           = "next"
	Error          = "error"
	Complete       = "complete"
)

// Close codes the protocol defines.
const (
	CloseNormal                 = 1000
	CloseInternalError          = 4500
	CloseBadRequest             = 4400
	CloseUnauthorized           = 4401
	CloseForbidden              = 4403
	CloseSubprotocolNotAccepted = 4406
	CloseInitTimeout            = 4408
	CloseSubscriberExists       = 4409
	CloseTooManyInitRequests    = 4429
)

// Close reasons the protocol prescribes for its fixed codes.
const (
	ReasonUnauthorized        = "Unauthorized"
	ReasonForbidden           = "Forbidden"
	ReasonInitTimeout         = "Connection initialisation timeout"
	ReasonTooManyInitRequests = "Too many initialisation requests"
)

// ReasonSubscriberExists is the 4409 close reason for a subscription id.
func ReasonSubscriberExists(id string) string {
	return "Subscriber for " + id + " already exists"
}

// Message is one protocol message in either direction.
type Message struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// SubscribePayload is the payload of a subscribe message.
type SubscribePayload struct {
	OperationName string         `json:"operationName,omitempty"`
	Query         string         `json:"query"`
	Variables     map[string]any `json:"variables,omitempty"`
	Extensions    map[string]any `json:"extensions,omitempty"`
}

// Err is a GraphQL error as an error message carries it: what a client
// reads. The server builds error payloads with lib/graphqlhttp's Gate, so
// that every error carries extensions.code and no internal detail.
type Err struct {
	Message    string         `json:"message"`
	Locations  []Location     `json:"locations,omitempty"`
	Path       []any          `json:"path,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

// Location is a place in the operation's document.
type Location struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// ErrInvalid says a message breaks the protocol; the socket is closed with
// 4400 and the error's text as the reason.
var ErrInvalid = errors.New("invalid message")

// Decode parses a client message and checks it against the protocol: a
// known client-to-server type, an id where one is required, object
// payloads where they are required. Errors wrap ErrInvalid.
func Decode(data []byte) (Message, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil || raw == nil {
		return Message{}, fmt.Errorf("%w: not a JSON object", ErrInvalid)
	}
	var m Message
	if err := json.Unmarshal(raw["type"], &m.Type); err != nil || m.Type == "" {
		return Message{}, fmt.Errorf("%w: missing the 'type' property", ErrInvalid)
	}
	m.Payload = raw["payload"]
	if isNull(m.Payload) {
		m.Payload = nil
	}
	switch m.Type {
	case ConnectionInit, Ping, Pong:
		if m.Payload != nil && !isObject(m.Payload) {
			return Message{}, fmt.Errorf("%w: %q message expects the 'payload' property to be an object or nullish or missing", ErrInvalid, m.Type)
		}
	case Subscribe, Complete:
		idRaw, ok := raw["id"]
		if !ok || json.Unmarshal(idRaw, &m.ID) != nil || m.ID == "" {
			return Message{}, fmt.Errorf("%w: %q message requires a non-empty 'id' property", ErrInvalid, m.Type)
		}
		if m.Type == Subscribe {
			if _, err := m.SubscribePayload(); err != nil {
				return Message{}, err
			}
		}
	default:
		return Message{}, fmt.Errorf("%w: unexpected message type %q", ErrInvalid, m.Type)
	}
	return m, nil
}

// SubscribePayload decodes the payload of a subscribe message.
func (m Message) SubscribePayload() (SubscribePayload, error) {
	var p SubscribePayload
	if !isObject(m.Payload) {
		return p, fmt.Errorf("%w: subscribe message expects the 'payload' property to be an object", ErrInvalid)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(m.Payload, &fields); err != nil {
		return p, fmt.Errorf("%w: subscribe payload: %v", ErrInvalid, err)
	}
	if err := json.Unmarshal(fields["query"], &p.Query); err != nil || p.Query == "" {
		return p, fmt.Errorf("%w: subscribe message payload expects the 'query' property to be a string", ErrInvalid)
	}
	if v, ok := fields["operationName"]; ok && !isNull(v) {
		if err := json.Unmarshal(v, &p.OperationName); err != nil {
			return p, fmt.Errorf("%w: subscribe message payload expects the 'operationName' property to be a string or nullish or missing", ErrInvalid)
		}
	}
	if v, ok := fields["variables"]; ok && !isNull(v) {
		if !isObject(v) {
			return p, fmt.Errorf("%w: subscribe message payload expects the 'variables' property to be an object or nullish or missing", ErrInvalid)
		}
		if err := json.Unmarshal(v, &p.Variables); err != nil {
			return p, fmt.Errorf("%w: variables: %v", ErrInvalid, err)
		}
	}
	if v, ok := fields["extensions"]; ok && !isNull(v) {
		if !isObject(v) {
			return p, fmt.Errorf("%w: subscribe message payload expects the 'extensions' property to be an object or nullish or missing", ErrInvalid)
		}
		_ = json.Unmarshal(v, &p.Extensions)
	}
	return p, nil
}

// Encode marshals a server message.
func Encode(m Message) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		// Message holds a string, a string and raw JSON: it always marshals.
		panic(fmt.Sprintf("wsproto: encode %s: %v", m.Type, err))
	}
	return b
}

// NextMessage is a next message carrying an execution result.
func NextMessage(id string, result json.RawMessage) []byte {
	return Encode(Message{ID: id, Type: Next, Payload: result})
}

// ErrorMessage is an error message; errors is its payload, a JSON array
// of GraphQL errors.
func ErrorMessage(id string, errors json.RawMessage) []byte {
	return Encode(Message{ID: id, Type: Error, Payload: errors})
}

// CompleteMessage is a complete message.
func CompleteMessage(id string) []byte {
	return Encode(Message{ID: id, Type: Complete})
}

func isNull(b json.RawMessage) bool {
	return len(bytes.TrimSpace(b)) == 0 || bytes.Equal(bytes.TrimSpace(b), []byte("null"))
}

func isObject(b json.RawMessage) bool {
	t := bytes.TrimSpace(b)
	return len(t) > 0 && t[0] == '{'
}
