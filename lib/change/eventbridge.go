package change

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

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

// Detail is the event as the EventBridge detail the router publishes: the
// JSON encoding of Event. It is written by hand rather than through
// encoding/json because the router runs it for every change: the images
// are checked for validity and copied, not re-compacted.
func (e Event) Detail() ([]byte, error) {
	n := 256 + len(e.ID) + len(e.Table) + len(e.Keys) + len(e.Old) + len(e.New) + len(e.SequenceNumber) + len(e.CorrelationID) + len(e.CausedBy)
	for _, c := range e.Changed {
		n += len(c) + 3
	}
	b := make([]byte, 0, n)
	b = append(b, `{"id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"table":`...)
	b = appendString(b, e.Table)
	b = append(b, `,"operation":`...)
	b = appendString(b, string(e.Operation))
	b = append(b, `,"keys":`...)
	var err error
	if b, err = appendRaw(b, e.Keys, "keys", e.ID); err != nil {
		return nil, err
	}
	if len(e.Old) > 0 {
		b = append(b, `,"old":`...)
		if b, err = appendRaw(b, e.Old, "old", e.ID); err != nil {
			return nil, err
		}
	}
	if len(e.New) > 0 {
		b = append(b, `,"new":`...)
		if b, err = appendRaw(b, e.New, "new", e.ID); err != nil {
			return nil, err
		}
	}
	if len(e.Changed) > 0 {
		b = append(b, `,"changed":[`...)
		for i, c := range e.Changed {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, c)
		}
		b = append(b, ']')
	}
	b = append(b, `,"sequenceNumber":`...)
	b = appendString(b, e.SequenceNumber)
	b = append(b, `,"approximateCreationTime":`...)
	if y := e.ApproximateAt.Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("change %s: encode detail: time year %d outside [0,9999]", e.ID, y)
	}
	b = append(b, '"')
	b = e.ApproximateAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if e.CorrelationID != "" {
		b = append(b, `,"correlationId":`...)
		b = appendString(b, e.CorrelationID)
	}
	if e.CausedBy != "" {
		b = append(b, `,"causedBy":`...)
		b = appendString(b, e.CausedBy)
	}
	if e.Reduced {
		b = append(b, `,"reduced":true`...)
	}
	return append(b, '}'), nil
}

func appendRaw(b []byte, raw json.RawMessage, field, id string) ([]byte, error) {
	if len(raw) == 0 {
		return append(b, "null"...), nil
	}
	if !json.Valid(raw) {
		return nil, fmt.Errorf("change %s: encode detail: %s is not valid JSON", id, field)
	}
	return append(b, raw...), nil
}

// Reduce returns the event without its images, for a change too large to
// publish whole: id, table, operation, keys, changed attribute names,
// sequence number, time, correlation id and subject remain, and Reduced is set. A
// handler that needs the item reads it by its keys.
func (e Event) Reduce() Event {
	e.Old, e.New = nil, nil
	e.Reduced = true
	return e
}
