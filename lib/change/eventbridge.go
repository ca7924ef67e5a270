package change

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/threefactor/framework/lib/topology"
)

// ErrMalformed says a message is not a change event this framework can
// read. Retrying cannot fix it.
var ErrMalformed = errors.New("malformed change event")

// FromEventBridge reads a change event from an EventBridge event as it
// arrives in an SQS message body: the envelope's detail-type must be
// Change and its detail a change event. Errors wrap ErrMalformed and say
// what is wrong and where.
//
// The body is read in one pass, without reflection. Of the envelope only
// id, detail-type, source and detail are read ("account", "region" and
// the rest may be absent: moto leaves out "account"); every other member
// is checked to be JSON and skipped. Member names match exactly. The
// strings of the event share the body's memory; Keys, Old and New are a
// copy, so a handler may keep or change them.
func FromEventBridge(body string) (Event, error) {
	sc := scanner{s: body}
	switch sc.peek() {
	case 0:
		if sc.i == len(body) {
			return Event{}, fmt.Errorf("%w: empty body", ErrMalformed)
		}
		return Event{}, fmt.Errorf("%w: %v", ErrMalformed, sc.unexpected("looking for beginning of value"))
	case '{':
	default:
		return Event{}, fmt.Errorf("%w: body is not a JSON object", ErrMalformed)
	}
	var (
		id, detailType, source string
		e                      Event
		hasDetail              bool
		keys, old, new         string
	)
	err := sc.object(func(name string) error {
		var err error
		switch name {
		case "id":
			id, err = sc.strOrNull("id")
		case "detail-type":
			detailType, err = sc.strOrNull("detail-type")
		case "source":
			source, err = sc.strOrNull("source")
		case "detail":
			if sc.null() {
				hasDetail = false
				return nil
			}
			if sc.peek() != '{' {
				return sc.wrongType("detail", "an object")
			}
			hasDetail = true
			e, keys, old, new = Event{}, "", "", ""
			err = sc.object(func(name string) error { return e.member(&sc, name, &keys, &old, &new) })
		default:
			err = sc.skip(1)
		}
		return err
	})
	if err == nil && sc.peek() != 0 {
		err = sc.unexpected("after top-level value")
	}
	if err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if detailType != topology.DetailType {
		return Event{}, fmt.Errorf("%w: detail-type %q (source %q, event %q), want %q",
			ErrMalformed, detailType, source, id, topology.DetailType)
	}
	if !hasDetail {
		return Event{}, fmt.Errorf("%w: event %q has no detail", ErrMalformed, id)
	}
	// One copy for the three images, which the event's raw messages share.
	buf := make([]byte, 0, len(keys)+len(old)+len(new))
	buf = append(buf, keys...)
	buf = append(buf, old...)
	buf = append(buf, new...)
	k, o := len(keys), len(keys)+len(old)
	if keys != "" {
		e.Keys = buf[:k:k]
	}
	if old != "" {
		e.Old = buf[k:o:o]
	}
	if new != "" {
		e.New = buf[o:len(buf):len(buf)]
	}
	if err := e.validate(); err != nil {
		return Event{}, fmt.Errorf("%w: event %q: %v", ErrMalformed, id, err)
	}
	return e, nil
}

// member reads one member of a change event's detail; keys, old and new
// get the images' text. Null images are absent ones.
func (e *Event) member(sc *scanner, name string, keys, old, new *string) error {
	var err error
	switch name {
	case "id":
		e.ID, err = sc.strOrNull("detail.id")
	case "table":
		e.Table, err = sc.strOrNull("detail.table")
	case "operation":
		var op string
		op, err = sc.strOrNull("detail.operation")
		e.Operation = topology.Operation(op)
	case "keys":
		*keys, err = image(sc, "detail.keys")
	case "old":
		*old, err = image(sc, "detail.old")
	case "new":
		*new, err = image(sc, "detail.new")
	case "changed":
		e.Changed, err = stringList(sc, "detail.changed")
	case "sequenceNumber":
		e.SequenceNumber, err = sc.strOrNull("detail.sequenceNumber")
	case "approximateCreationTime":
		if sc.null() {
			break
		}
		var ts string
		if ts, err = sc.strOrNull("detail.approximateCreationTime"); err == nil {
			if e.ApproximateAt, err = time.Parse(time.RFC3339, ts); err != nil {
				err = fmt.Errorf("detail.approximateCreationTime: %w", err)
			}
		}
	case "correlationId":
		e.CorrelationID, err = sc.strOrNull("detail.correlationId")
	case "causedBy":
		e.CausedBy, err = sc.strOrNull("detail.causedBy")
	case "reduced":
		switch {
		case sc.null():
		case sc.peek() == 't' || sc.peek() == 'f':
			e.Reduced = sc.s[sc.i] == 't'
			err = sc.skip(1)
		default:
			err = sc.wrongType("detail.reduced", "a boolean")
		}
	default:
		err = sc.skip(1)
	}
	return err
}

// image reads an image (or the keys): an object, or null for none.
func image(sc *scanner, field string) (string, error) {
	if sc.null() {
		return "", nil
	}
	if sc.peek() != '{' {
		return "", sc.wrongType(field, "an object")
	}
	return sc.raw()
}

// stringList reads an array of strings, or null for none.
func stringList(sc *scanner, field string) ([]string, error) {
	if sc.null() {
		return nil, nil
	}
	if sc.peek() != '[' {
		return nil, sc.wrongType(field, "an array of strings")
	}
	// Count first, so the list is one allocation of the right size.
	probe := *sc
	if err := probe.skip(1); err != nil {
		return nil, err
	}
	n := 0
	for _, c := range sc.s[sc.i:probe.i] {
		if c == '"' {
			n++ // an upper bound: escaped quotes count too
		}
	}
	out := make([]string, 0, n/2)
	sc.i++
	if sc.peek() == ']' {
		sc.i++
		return out, nil
	}
	for {
		if sc.peek() != '"' {
			return nil, sc.wrongType(field, "an array of strings")
		}
		s, err := sc.str()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		switch sc.peek() {
		case ',':
			sc.i++
		case ']':
			sc.i++
			return out, nil
		default:
			return nil, sc.unexpected("after array element")
		}
	}
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
	if !validJSON(unsafe.String(unsafe.SliceData(raw), len(raw))) {
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
