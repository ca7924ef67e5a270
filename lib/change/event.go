package change

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/threefactor/framework/lib/topology"
)

// Event is one committed change of one item, as the router publishes it
// (the EventBridge "detail") and as handlers and the realtime fan-out see
// it. Its JSON field names are what route patterns match on.
type Event struct {
	// ID is the stream record's eventID: stable across redeliveries, and the
	// idempotency key.
	ID        string             `json:"id"`
	Table     string             `json:"table"`
	Operation topology.Operation `json:"operation"`
	// Keys, Old and New are plain JSON objects; numbers keep every digit.
	Keys json.RawMessage `json:"keys"`
	Old  json.RawMessage `json:"old,omitempty"`
	New  json.RawMessage `json:"new,omitempty"`
	// Changed names the top-level attributes that differ between Old and New.
	Changed        []string  `json:"changed,omitempty"`
	SequenceNumber string    `json:"sequenceNumber"`
	ApproximateAt  time.Time `json:"approximateCreationTime"`
	// CorrelationID is the id of the request that caused the change, when
	// the item carries one.
	CorrelationID string `json:"correlationId,omitempty"`
	// CausedBy is the subject (the authenticated caller) who started the
	// causal chain of the change, when the item records one
	// (correlation.SubjectAttribute).
	CausedBy string `json:"causedBy,omitempty"`
	// Reduced says the images were left out because the event was too large
	// for EventBridge; Keys, Operation and Changed are still there.
	Reduced bool `json:"reduced,omitempty"`
}

// Change is an Event with its images decoded into T.
type Change[T any] struct {
	Event
	// OldItem and NewItem are nil when the image is absent (INSERT has no
	// old image, REMOVE no new one, a reduced event neither).
	OldItem *T
	NewItem *T
}

// Decode decodes the event's images into T.
func Decode[T any](e Event) (Change[T], error) {
	c := Change[T]{Event: e}
	var err error
	if c.OldItem, err = decodeImage[T](e.Old); err != nil {
		return c, fmt.Errorf("event %s: old image: %w", e.ID, err)
	}
	if c.NewItem, err = decodeImage[T](e.New); err != nil {
		return c, fmt.Errorf("event %s: new image: %w", e.ID, err)
	}
	return c, nil
}

func decodeImage[T any](raw json.RawMessage) (*T, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	v := new(T)
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, err
	}
	return v, nil
}

// Has reports whether attr is among the changed attributes.
func (e Event) Has(attr string) bool {
	for _, c := range e.Changed {
		if c == attr {
			return true
		}
	}
	return false
}
