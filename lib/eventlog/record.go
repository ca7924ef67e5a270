package eventlog

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/errs"
)

// Change is a logged change event: the event exactly as published, the
// canonical key of its item, and when it was logged.
type Change struct {
	change.Event
	// Item is the item's canonical key ("orders/ord_1"), from the event's
	// keys and its table's key schema.
	Item ItemKey `json:"item"`
	// LoggedAt is when the log received the event. A repeated write of
	// the same event keeps one record: the file store keeps the first
	// time, the DynamoDB store (which replaces the record with itself)
	// the latest.
	LoggedAt time.Time `json:"loggedAt"`
}

// At is the change's time: when it was committed (the stream record's
// approximate creation time), or when it was logged if that is unknown.
func (c Change) At() time.Time {
	if !c.ApproximateAt.IsZero() {
		return c.ApproximateAt
	}
	return c.LoggedAt
}

// Outcome is what one delivery of an event to a function came to.
type Outcome string

// Delivery outcomes: the consumer's, one per attempt.
const (
	// OK: the handler succeeded; the message is deleted.
	OK Outcome = "ok"
	// Retry: the handler failed (Error says how); SQS delivers again.
	Retry Outcome = "retry"
	// Permanent: the handler failed in a way no retry can fix (Error is
	// the reason) and the message could not be dead-lettered at once.
	Permanent Outcome = "permanent"
	// DeadLettered: the message went to the route's dead-letter queue
	// (Error is the reason).
	DeadLettered Outcome = "dead-lettered"
	// Panic: the handler panicked (Error holds the value); retried.
	Panic Outcome = "panic"
)

func (o Outcome) valid() bool {
	switch o {
	case OK, Retry, Permanent, DeadLettered, Panic:
		return true
	}
	return false
}

// Delivery is one attempt at delivering a change event to a function.
type Delivery struct {
	EventID  string `json:"eventId"`
	Route    string `json:"route,omitempty"`
	Function string `json:"function"`
	// Attempt is SQS's receive count: 1 on first delivery.
	Attempt int     `json:"attempt"`
	Outcome Outcome `json:"outcome"`
	// Error is the failure (retry, panic) or the reason (permanent,
	// dead-lettered); empty on success.
	Error string `json:"error,omitempty"`
	// Code is the error's errs code.
	Code       errs.Code `json:"code,omitempty"`
	DurationMs float64   `json:"durationMs"`
	// At is when the attempt started; the log's clock when zero.
	At            time.Time `json:"at"`
	MessageID     string    `json:"messageId"`
	CorrelationID string    `json:"correlationId,omitempty"`
	// CausedBy is the subject who started the causal chain (the change's
	// causedBy).
	CausedBy string    `json:"causedBy,omitempty"`
	LoggedAt time.Time `json:"loggedAt"`
}

// PushOutcome is what one realtime push came to.
type PushOutcome string

// Push outcomes: the realtime fan-out's, one per subscription and change.
const (
	// Pushed: the next message reached API Gateway for the connection.
	Pushed PushOutcome = "ok"
	// Gone: the connection was gone (410); it was cleaned up.
	Gone PushOutcome = "gone"
	// Oversize: the result was over the message limit; the subscription
	// got an error and was ended.
	Oversize PushOutcome = "oversize"
	// Denied: the subscriber may no longer see the change (authorization
	// at push time, or an expired token).
	Denied PushOutcome = "denied"
	// Failed: the push was dropped after its retries (Error says why).
	Failed PushOutcome = "failed"
	// Kept: the push failed after its retries (Error says why) and is
	// kept for the connection, to be delivered later in order.
	Kept PushOutcome = "kept"
)

func (o PushOutcome) valid() bool {
	switch o {
	case Pushed, Gone, Oversize, Denied, Failed, Kept:
		return true
	}
	return false
}

// Push is one realtime push of a change to one subscription.
type Push struct {
	EventID        string      `json:"eventId"`
	Topic          string      `json:"topic"`
	ConnectionID   string      `json:"connectionId"`
	SubscriptionID string      `json:"subscriptionId"`
	Outcome        PushOutcome `json:"outcome"`
	Error          string      `json:"error,omitempty"`
	// At is when the push started; the log's clock when zero.
	At            time.Time `json:"at"`
	DurationMs    float64   `json:"durationMs"`
	CorrelationID string    `json:"correlationId,omitempty"`
	// CausedBy is the subject who started the causal chain (the change's
	// causedBy).
	CausedBy string `json:"causedBy,omitempty"`
	// CatchUp marks a push a subscription's catch-up made (the changes a
	// resuming client missed, or those right after a snapshot) rather
	// than the fan-out.
	CatchUp bool `json:"catchUp,omitempty"`
	// Redelivered marks the later delivery of a push that was kept when
	// its delivery failed (an earlier record of it says Kept): by the
	// fan-out with the subscription's next push, or by the realtime
	// handler when the client was next heard from.
	Redelivered bool      `json:"redelivered,omitempty"`
	LoggedAt    time.Time `json:"loggedAt"`
}

// EventRecord is everything logged about one change event.
type EventRecord struct {
	// Change is nil when deliveries or pushes of the event were logged but
	// the change itself was not (yet).
	Change *Change
	// Deliveries and Pushes are in time order.
	Deliveries []Delivery
	Pushes     []Push
}

// TraceEntry is one step of a request's causal chain: exactly one of
// Change, Delivery and Push is set.
type TraceEntry struct {
	At       time.Time
	Change   *Change
	Delivery *Delivery
	Push     *Push
}

// Kind is "change", "delivery" or "push".
func (e TraceEntry) Kind() string {
	switch {
	case e.Change != nil:
		return "change"
	case e.Delivery != nil:
		return "delivery"
	default:
		return "push"
	}
}

// Position is an entry's place in a topic log. Positions of one topic
// increase by one per entry; they are opaque to clients (the realtime
// layer encodes them into cursors) and the first is not 1.
type Position uint64

// Entry is one change in a topic log.
type Entry struct {
	Topic    string
	Position Position
	// Event is the change as appended; reduced (keys, no images) when it
	// was over MaxRecordBytes.
	Event      change.Event
	AppendedAt time.Time
}

// Limits on what the log accepts.
const (
	// MaxRecordBytes is the largest record kept whole: a change event
	// (or topic entry) over it is kept reduced (keys and changed names, no
	// images), as the router publishes such events. A DynamoDB item holds
	// 400 KB.
	MaxRecordBytes = 350 << 10
	// MaxTopicBytes is the longest topic name.
	MaxTopicBytes = 1024
	// maxIDBytes bounds event, message, connection and subscription ids.
	maxIDBytes = 512
	// maxSeqDigits is the longest stream sequence number (DynamoDB
	// Streams documents 21 to 40 digits).
	maxSeqDigits = 40
)

// badInput is an invalid argument: permanent, with a client-safe message.
func badInput(format string, args ...any) error {
	return errs.Newf(errs.BadUserInput, "eventlog: "+format, args...)
}

// seqKey is a stream sequence number as a fixed-width string: sequence
// numbers are decimal integers of 21 to 40 digits and must compare as
// numbers, which fixed-width strings do.
func seqKey(seq string) (string, error) {
	s := strings.TrimLeft(seq, "0")
	if seq == "" {
		return "", badInput("no sequence number")
	}
	if len(s) > maxSeqDigits {
		return "", badInput("sequence number %.50q: over %d digits", seq, maxSeqDigits)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", badInput("sequence number %.50q: not a decimal integer", seq)
		}
	}
	return strings.Repeat("0", maxSeqDigits-len(s)) + s, nil
}

// timeLayout orders lexically as it does in time (UTC, fixed width).
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func timeKey(t time.Time) string { return t.UTC().Format(timeLayout) }

// changeOrderKey orders changes in time, then by sequence number, then id.
func changeOrderKey(at time.Time, seq, id string) string {
	return timeKey(at) + "#" + seq + "#" + id
}

func checkID(what, id string) error {
	switch {
	case id == "":
		return badInput("no %s", what)
	case len(id) > maxIDBytes:
		return badInput("%s over %d bytes", what, maxIDBytes)
	case !utf8.ValidString(id):
		return badInput("%s is not UTF-8", what)
	}
	return nil
}

// checkCorrelationID accepts any correlation id a change can carry: items
// hold what their writers put there, so only emptiness is refused.
func checkCorrelationID(id string) error {
	switch {
	case id == "":
		return badInput("no correlation id")
	case !utf8.ValidString(id):
		return badInput("correlation id is not UTF-8")
	}
	return nil
}

func checkTopic(topic string) error {
	switch {
	case topic == "":
		return badInput("no topic")
	case len(topic) > MaxTopicBytes:
		return badInput("topic over %d bytes", MaxTopicBytes)
	case !utf8.ValidString(topic):
		return badInput("topic is not UTF-8")
	}
	return nil
}

// preparedChange is a change ready to store: its record, its encoding and
// the keys it is found by.
type preparedChange struct {
	rec  Change
	data []byte // JSON of rec
	seq  string // seqKey
	at   time.Time
}

// prepareChange checks an event and makes its record, logged at now.
func prepareChange(sc schemas, e change.Event, now time.Time) (preparedChange, error) {
	if err := checkID("event id", e.ID); err != nil {
		return preparedChange{}, err
	}
	seq, err := seqKey(e.SequenceNumber)
	if err != nil {
		return preparedChange{}, fmt.Errorf("event %s: %w", e.ID, err)
	}
	switch e.Operation {
	case "INSERT", "MODIFY", "REMOVE":
	default:
		return preparedChange{}, fmt.Errorf("event %s: %w", e.ID, badInput("operation %q: want INSERT, MODIFY or REMOVE", e.Operation))
	}
	item, err := sc.itemKeyOf(e)
	if err != nil {
		return preparedChange{}, fmt.Errorf("event %s: %w", e.ID, err)
	}
	rec := Change{Event: e, Item: item, LoggedAt: now.UTC()}
	data, err := encodeChange(rec)
	if err != nil {
		return preparedChange{}, err
	}
	if len(data) > MaxRecordBytes {
		rec.Event = e.Reduce()
		if data, err = encodeChange(rec); err != nil {
			return preparedChange{}, err
		}
	}
	return preparedChange{rec: rec, data: data, seq: seq, at: rec.At()}, nil
}

// encodeEntry is a topic entry's event: as published, or reduced to its
// keys when it is too large to keep whole.
func encodeEntry(e change.Event) ([]byte, error) {
	data, err := e.Detail()
	if err == nil && len(data) > MaxRecordBytes {
		data, err = e.Reduce().Detail()
	}
	if err != nil {
		return nil, badInput("event %s: not encodable: %v", e.ID, err)
	}
	return data, nil
}

// encodeChange is a record's JSON: the event as the router publishes it
// (change.Event.Detail, which copies the images rather than re-encode
// them) with the record's own fields added.
func encodeChange(rec Change) ([]byte, error) {
	detail, err := rec.Detail()
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", rec.ID, badInput("not encodable: %v", err))
	}
	item, _ := json.Marshal(rec.Item.String())
	b := append(detail[:len(detail)-1], `,"item":`...)
	b = append(b, item...)
	b = append(b, `,"loggedAt":"`...)
	b = rec.LoggedAt.AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...), nil
}

// prepareDelivery checks a delivery and stamps it.
func prepareDelivery(d Delivery, now time.Time) (Delivery, []byte, error) {
	if err := checkID("delivery event id", d.EventID); err != nil {
		return d, nil, err
	}
	if err := checkID("delivery function", d.Function); err != nil {
		return d, nil, fmt.Errorf("event %s: %w", d.EventID, err)
	}
	if err := checkID("delivery message id", d.MessageID); err != nil {
		return d, nil, fmt.Errorf("event %s: %w", d.EventID, err)
	}
	if len(d.Route) > maxIDBytes {
		return d, nil, fmt.Errorf("event %s: %w", d.EventID, badInput("route over %d bytes", maxIDBytes))
	}
	if d.Attempt < 1 {
		return d, nil, fmt.Errorf("event %s: %w", d.EventID, badInput("delivery attempt %d: want 1 or more", d.Attempt))
	}
	if !d.Outcome.valid() {
		return d, nil, fmt.Errorf("event %s: %w", d.EventID, badInput("delivery outcome %q: want ok, retry, permanent, dead-lettered or panic", d.Outcome))
	}
	d.LoggedAt = now.UTC()
	if d.At.IsZero() {
		d.At = d.LoggedAt
	}
	d.Error = truncate(d.Error, maxErrorBytes)
	data, err := json.Marshal(d)
	if err != nil {
		return d, nil, fmt.Errorf("event %s: %w", d.EventID, badInput("delivery not encodable: %v", err))
	}
	return d, data, nil
}

// preparePush checks a push and stamps it.
func preparePush(p Push, now time.Time) (Push, []byte, error) {
	if err := checkID("push event id", p.EventID); err != nil {
		return p, nil, err
	}
	if err := checkTopic(p.Topic); err != nil {
		return p, nil, fmt.Errorf("event %s: %w", p.EventID, err)
	}
	if err := checkID("push connection id", p.ConnectionID); err != nil {
		return p, nil, fmt.Errorf("event %s: %w", p.EventID, err)
	}
	if err := checkID("push subscription id", p.SubscriptionID); err != nil {
		return p, nil, fmt.Errorf("event %s: %w", p.EventID, err)
	}
	if !p.Outcome.valid() {
		return p, nil, fmt.Errorf("event %s: %w", p.EventID, badInput("push outcome %q: want ok, gone, oversize, denied or failed", p.Outcome))
	}
	p.LoggedAt = now.UTC()
	if p.At.IsZero() {
		p.At = p.LoggedAt
	}
	p.Error = truncate(p.Error, maxErrorBytes)
	data, err := json.Marshal(p)
	if err != nil {
		return p, nil, fmt.Errorf("event %s: %w", p.EventID, badInput("push not encodable: %v", err))
	}
	return p, data, nil
}

// maxErrorBytes bounds a logged error message (a panic's can be long).
const maxErrorBytes = 8 << 10

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// deliveryKey identifies a delivery: one outcome per attempt of one
// message of one route.
func deliveryKey(d Delivery) string {
	return "D#" + esc(d.Route) + "#" + esc(d.MessageID) + "#" + fmt.Sprintf("%06d", d.Attempt)
}

// pushKey identifies a push: one outcome per change and subscription,
// and one more for the later delivery of a push that was kept.
func pushKey(p Push) string {
	k := "P#" + esc(p.ConnectionID) + "#" + esc(p.SubscriptionID)
	if p.Redelivered {
		k += "#R" // the later delivery of a kept push: a record of its own
	}
	return k
}

// esc keeps '#' and '%' out of a key component, so that joined keys are
// unambiguous.
func esc(s string) string {
	if !strings.ContainsAny(s, "#%") {
		return s
	}
	return strings.NewReplacer("%", "%25", "#", "%23").Replace(s)
}

// positionKey is a position as a fixed-width string.
func positionKey(p Position) string {
	s := strconv.FormatUint(uint64(p), 10)
	return strings.Repeat("0", 20-len(s)) + s
}
