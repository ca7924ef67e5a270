package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/consumer"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/topology"
)

// How a message came to the dead-letter queue.
const (
	// ByConsumer: the function failed it permanently and the consumer
	// sent it with its reason.
	ByConsumer = "consumer"
	// ByRedrivePolicy: it failed every attempt the route allows and the
	// queue's redrive policy moved it, without a reason.
	ByRedrivePolicy = "redrive-policy"
)

// Message is one dead-lettered message, with the change event it
// carries.
type Message struct {
	Route    string `json:"route"`
	Function string `json:"function"`
	// ID is the message's id in the dead-letter queue: what Redrive and
	// Drop select it by (or by its event id).
	ID string `json:"id"`
	// By is ByConsumer or ByRedrivePolicy.
	By string `json:"by"`

	// The change event: its id, table, operation, keys and item key
	// (orders/ord_1), and the correlation id of the request that caused
	// it. Empty when the body is not a change event (Problem says why).
	EventID       string             `json:"eventId,omitempty"`
	Table         string             `json:"table,omitempty"`
	Operation     topology.Operation `json:"operation,omitempty"`
	Keys          json.RawMessage    `json:"keys,omitempty"`
	Item          string             `json:"item,omitempty"`
	CorrelationID string             `json:"correlationId,omitempty"`
	// Problem says why the body could not be read as a change event.
	Problem string `json:"problem,omitempty"`

	// Reason and Code are the consumer's (attributes reason and code);
	// for a message the redrive policy moved, the last failed delivery's
	// error and code from the event log, when it has them.
	Reason string `json:"reason,omitempty"`
	Code   string `json:"code,omitempty"`
	// Attempts is how many times the function was given the message: the
	// consumer's receiveCount attribute; for a message the redrive policy
	// moved, the highest attempt the log recorded for it, else the
	// route's max receive count (what the policy allows before it moves).
	Attempts int `json:"attempts"`
	// ReceiveCount is SQS's count of the message's receives before this
	// listing, in every queue it was in (listings count too).
	ReceiveCount int `json:"receiveCount"`
	// SourceMessageID is the message's id in the route's queue; for a
	// message the redrive policy moved it is ID.
	SourceMessageID string `json:"sourceMessageId,omitempty"`
	// SentAt is when the message was sent: to the dead-letter queue by
	// the consumer, or to the route's queue for one the policy moved.
	SentAt time.Time `json:"sentAt"`
	// LastFailure is the event's last failed delivery on the route, from
	// the event log; nil without a log or a record.
	LastFailure *eventlog.Delivery `json:"lastFailure,omitempty"`
}

// Selects reports whether id names the message: its id or its event id.
func (m Message) Selects(id string) bool { return id != "" && (id == m.ID || id == m.EventID) }

// read makes a Message of a received SQS message (without the log).
func read(topo topology.Topology, r *Route, m sqstypes.Message) Message {
	attr := func(name string) string {
		if v, ok := m.MessageAttributes[name]; ok {
			return aws.ToString(v.StringValue)
		}
		return ""
	}
	msg := Message{Route: r.Name, Function: r.Function, ID: aws.ToString(m.MessageId)}
	if ev, err := change.FromEventBridge(aws.ToString(m.Body)); err != nil {
		msg.Problem = err.Error()
	} else {
		msg.EventID, msg.Table, msg.Operation, msg.CorrelationID = ev.ID, ev.Table, ev.Operation, ev.CorrelationID
		msg.Keys = ev.Keys
		if k, err := eventlog.ItemKeyOf(topo, ev); err == nil {
			msg.Item = k.String()
		}
	}
	if n, err := strconv.Atoi(m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)]); err == nil && n > 0 {
		msg.ReceiveCount = n - 1 // less this receive
	}
	if ms, err := strconv.ParseInt(m.Attributes[string(sqstypes.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
		msg.SentAt = time.UnixMilli(ms).UTC()
	}
	if reason := attr(consumer.AttrReason); reason != "" {
		msg.By, msg.Reason, msg.Code = ByConsumer, reason, attr(consumer.AttrCode)
		msg.Attempts, _ = strconv.Atoi(attr(consumer.AttrReceiveCount))
		msg.SourceMessageID = attr(consumer.AttrSourceMessageID)
		if f := attr(consumer.AttrFunction); f != "" {
			msg.Function = f
		}
		if msg.EventID == "" {
			msg.EventID = attr(consumer.AttrEventID)
		}
	} else {
		msg.By, msg.Attempts, msg.SourceMessageID = ByRedrivePolicy, r.MaxReceiveCount, msg.ID
	}
	return msg
}

// withLog adds the event's last failed delivery on the route; for a
// message the redrive policy moved, its reason and attempts too.
func (c *Client) withLog(ctx context.Context, msg *Message) error {
	if c.cfg.Log == nil || msg.EventID == "" {
		return nil
	}
	rec, err := c.cfg.Log.Event(ctx, msg.EventID)
	if errors.Is(err, eventlog.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	attempts := 0
	for i := range rec.Deliveries {
		d := &rec.Deliveries[i]
		if d.Route != msg.Route {
			continue
		}
		if d.Outcome != eventlog.OK {
			msg.LastFailure = d // in time order: the last wins
		}
		if d.MessageID == msg.SourceMessageID {
			attempts = max(attempts, d.Attempt)
		}
	}
	if msg.By == ByRedrivePolicy {
		if attempts > 0 {
			msg.Attempts = attempts
		}
		if f := msg.LastFailure; f != nil {
			msg.Reason, msg.Code = f.Error, string(f.Code)
		}
	}
	return nil
}

// sortMessages puts messages oldest first.
func sortMessages(ms []Message) {
	slices.SortStableFunc(ms, func(a, b Message) int {
		if c := a.SentAt.Compare(b.SentAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}
