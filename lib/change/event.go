package change

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
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
	if present(e.Old) && present(e.New) {
		// Both images in one json.Unmarshal call: each call has a fixed
		// cost (its decoder state and parse stacks) that the consumer
		// would otherwise pay twice per MODIFY.
		buf := pairPool.Get().(*[]byte)
		b := append(append(append(append(append((*buf)[:0], '['), e.Old...), ','), e.New...), ']')
		var pair [2]*T
		err := json.Unmarshal(b, &pair)
		if cap(b) <= maxPooledPair {
			*buf = b[:0]
			pairPool.Put(buf)
		}
		if err == nil && pair[0] != nil && pair[1] != nil {
			c.OldItem, c.NewItem = pair[0], pair[1]
			return c, nil
		}
		// One by one, for an error that names the image.
	}
	var err error
	if c.OldItem, err = decodeImage[T](e.Old); err != nil {
		return c, fmt.Errorf("event %s: old image: %w", e.ID, err)
	}
	if c.NewItem, err = decodeImage[T](e.New); err != nil {
		return c, fmt.Errorf("event %s: new image: %w", e.ID, err)
	}
	return c, nil
}

// pairPool holds the buffers Decode joins two images in; encoding/json
// copies what it keeps, so a buffer is free again once decoded.
var pairPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooledPair keeps an occasional huge pair of images out of the pool.
const maxPooledPair = 64 << 10

// present reports whether raw holds an image: not absent, not null.
func present(raw json.RawMessage) bool {
	return len(raw) != 0 && !bytes.Equal(raw, []byte("null"))
}

func decodeImage[T any](raw json.RawMessage) (*T, error) {
	if !present(raw) {
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
