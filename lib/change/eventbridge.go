package change

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/threefactor/framework/lib/topology"
)

// ErrMalformed says a message is not a change event this framework can
// read. Retrying cannot fix it.
var ErrMalformed = errors.New("malformed change event")

// envelope is the EventBridge event as a rule's SQS target receives it.
// Only the fields the framework reads are declared; "account", "region"
// and "resources" may be absent (moto leaves out "account").
type envelope struct {
	ID         string `json:"id"`
	DetailType string `json:"detail-type"`
	Source     string `json:"source"`
	Detail     *Event `json:"detail"`
}

// FromEventBridge reads a change event from an EventBridge event as it
// arrives in an SQS message body. Errors wrap ErrMalformed.
func FromEventBridge(body []byte) (Event, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return Event{}, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	if body[0] != '{' {
		return Event{}, fmt.Errorf("%w: body is not a JSON object", ErrMalformed)
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if env.DetailType != topology.DetailType {
		return Event{}, fmt.Errorf("%w: detail-type %q (source %q, event %q), want %q",
			ErrMalformed, env.DetailType, env.Source, env.ID, topology.DetailType)
	}
	if env.Detail == nil {
		return Event{}, fmt.Errorf("%w: event %q has no detail", ErrMalformed, env.ID)
	}
	if err := env.Detail.validate(); err != nil {
		return Event{}, fmt.Errorf("%w: event %q: %v", ErrMalformed, env.ID, err)
	}
	return *env.Detail, nil
}

func (e *Event) validate() error {
	switch {
	case e.ID == "":
		return errors.New("detail has no id")
	case e.Table == "":
		return fmt.Errorf("change %s has no table", e.ID)
	case len(e.Keys) == 0 || e.Keys[0] != '{':
		return fmt.Errorf("change %s has no keys object", e.ID)
	}
	switch e.Operation {
	case topology.Insert, topology.Modify, topology.Remove:
	default:
		return fmt.Errorf("change %s: operation %q", e.ID, e.Operation)
	}
	return nil
}

// Detail is the event as the EventBridge detail the router publishes.
func (e Event) Detail() ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("change %s: encode detail: %w", e.ID, err)
	}
	return b, nil
}

// Reduce returns the event without its images, for a change too large to
// publish whole: id, table, operation, keys, changed attribute names,
// sequence number, time and correlation id remain, and Reduced is set. A
// handler that needs the item reads it by its keys.
func (e Event) Reduce() Event {
	e.Old, e.New = nil, nil
	e.Reduced = true
	return e
}
