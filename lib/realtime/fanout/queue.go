package fanout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/realtime/store"
)

// pushMessage is one push-queue message: a change and the subscriptions
// of one partition of connections (or of part of one) it goes to. The
// subscriptions' operations are listed once and referred to by index:
// subscriptions to one topic mostly share theirs.
type pushMessage struct {
	Partition int          `json:"partition"`
	Topics    []string     `json:"topics"`
	Change    change.Event `json:"change"`
	// Positions are the change's positions in its topics' logs: the
	// cursors of its pushes.
	Positions map[string]eventlog.Position `json:"pos,omitempty"`
	Ops       []queuedOp                   `json:"ops"`
	Subs      []queuedSub                  `json:"subs"`
}

type queuedOp struct {
	Query     string         `json:"q"`
	Name      string         `json:"n,omitempty"`
	Variables map[string]any `json:"v,omitempty"`
}

type queuedSub struct {
	Topic      string          `json:"t"`
	Connection string          `json:"c"`
	ID         string          `json:"i"`
	Op         int             `json:"o"`
	Session    json.RawMessage `json:"s,omitempty"`
	// Kept says the subscription held kept pushes when the change was
	// queued: the worker delivers them first.
	Kept bool `json:"k,omitempty"`
}

// Partition is the push-queue partition (message group) of a connection
// among n: every push to one connection goes through the same one.
func Partition(connectionID string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(connectionID))
	return int(h.Sum32() % uint32(n))
}

// messageGroup names partition p's message group.
func messageGroup(p int) string { return "p" + strconv.Itoa(p) }

// messageID is a message's identity: its deduplication id in the FIFO
// queue and its entry in its topics' queue marks. It is the hash of the
// body, so that a change sent again (its record retried) deduplicates
// whatever is sent again unchanged, and never drops what differs.
func messageID(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:])
}

var errChangeTooLarge = errors.New("change too large for a push-queue message")

// sendConcurrency bounds the SendMessageBatch calls of one change in
// flight: the messages of one change may go in any order.
const sendConcurrency = 8

// enqueue sends e's pushes to subs through the push queue: subs split by
// connection into Partitions message groups, each group's share packed
// into messages of at most QueueMessageBytes. The messages are marked
// queued on e's topics before they are sent. It returns how many
// messages it sent.
func (f *Fanout) enqueue(ctx context.Context, e change.Event, topics []string, positions map[string]eventlog.Position, subs []store.Subscription) (int, error) {
	parts := make([][]store.Subscription, f.cfg.Partitions)
	for _, s := range subs {
		p := Partition(s.ConnectionID, f.cfg.Partitions)
		parts[p] = append(parts[p], s)
	}
	type message struct{ body, group string }
	var msgs []message
	for p, part := range parts {
		bodies, err := f.pack(p, topics, positions, e, part)
		if err != nil {
			return 0, err
		}
		for _, b := range bodies {
			msgs = append(msgs, message{b, messageGroup(p)})
		}
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = messageID(m.body)
	}
	if err := f.cfg.Store.MarkQueued(ctx, topics, ids); err != nil {
		return 0, fmt.Errorf("change %s: %w", e.ID, err)
	}

	// Calls of at most ten entries and QueueMessageBytes in all.
	var calls [][]sqstypes.SendMessageBatchRequestEntry
	var cur []sqstypes.SendMessageBatchRequestEntry
	size := 0
	for i, m := range msgs {
		if len(cur) == 10 || (len(cur) > 0 && size+len(m.body) > f.cfg.QueueMessageBytes) {
			calls, cur, size = append(calls, cur), nil, 0
		}
		cur = append(cur, sqstypes.SendMessageBatchRequestEntry{
			Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(m.body),
			MessageGroupId: aws.String(m.group), MessageDeduplicationId: aws.String(ids[i]),
		})
		size += len(m.body)
	}
	if len(cur) > 0 {
		calls = append(calls, cur)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, sendConcurrency)
	)
	for _, entries := range calls {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f.send(ctx, entries); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, fmt.Errorf("change %s: push queue: %w", e.ID, err)
	}
	return len(msgs), nil
}

// send sends one batch, retrying the entries SQS reports failed on its
// side a few times.
func (f *Fanout) send(ctx context.Context, entries []sqstypes.SendMessageBatchRequestEntry) error {
	for attempt := 0; ; attempt++ {
		out, err := f.cfg.Queue.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &f.cfg.QueueURL, Entries: entries})
		if err != nil {
			return err
		}
		if len(out.Failed) == 0 {
			return nil
		}
		first := out.Failed[0]
		if attempt >= f.cfg.Retries || first.SenderFault {
			return fmt.Errorf("%d of %d messages not sent: %s: %s", len(out.Failed), len(entries), aws.ToString(first.Code), aws.ToString(first.Message))
		}
		failed := map[string]bool{}
		for _, fe := range out.Failed {
			failed[aws.ToString(fe.Id)] = true
		}
		var again []sqstypes.SendMessageBatchRequestEntry
		for _, en := range entries {
			if failed[aws.ToString(en.Id)] {
				again = append(again, en)
			}
		}
		entries = again
		if !sleep(ctx, jitter(f.cfg.Backoff<<attempt)) {
			return ctx.Err()
		}
	}
}

// pack encodes partition p's subscriptions into message bodies of at
// most QueueMessageBytes.
func (f *Fanout) pack(p int, topics []string, positions map[string]eventlog.Position, e change.Event, subs []store.Subscription) ([]string, error) {
	if len(subs) == 0 {
		return nil, nil
	}
	base, err := json.Marshal(pushMessage{Partition: p, Topics: topics, Positions: positions, Change: e, Ops: []queuedOp{}, Subs: []queuedSub{}})
	if err != nil {
		return nil, fmt.Errorf("change %s: encode: %w", e.ID, err)
	}
	var (
		out  []string
		msg  = pushMessage{Partition: p, Topics: topics, Positions: positions, Change: e}
		ops  = map[string]int{}
		size = len(base)
	)
	flush := func() error {
		b, err := json.Marshal(msg)
		if err != nil {
			return fmt.Errorf("change %s: encode: %w", e.ID, err)
		}
		out = append(out, string(b))
		msg.Ops, msg.Subs, ops, size = nil, nil, map[string]int{}, len(base)
		return nil
	}
	for _, s := range subs {
		op := queuedOp{Query: s.Query, Name: s.OperationName, Variables: s.Variables}
		opJSON, err := json.Marshal(op)
		if err != nil {
			return nil, fmt.Errorf("subscription %s of %s: encode: %w", s.ID, s.ConnectionID, err)
		}
		sub := queuedSub{Topic: s.Topic, Connection: s.ConnectionID, ID: s.ID, Session: s.Session, Kept: len(s.Pending) > 0}
		subJSON, err := json.Marshal(sub)
		if err != nil {
			return nil, fmt.Errorf("subscription %s of %s: encode: %w", s.ID, s.ConnectionID, err)
		}
		// The op index and separators: a few bytes more than subJSON;
		// an operation the message does not list yet adds itself.
		need := func(known bool) int {
			n := len(subJSON) + 16
			if !known {
				n += len(opJSON) + 1
			}
			return n
		}
		idx, known := ops[string(opJSON)]
		if size+need(known) > f.cfg.QueueMessageBytes && len(msg.Subs) > 0 {
			if err := flush(); err != nil {
				return nil, err
			}
			known = false
		}
		if size+need(known) > f.cfg.QueueMessageBytes {
			return nil, fmt.Errorf("change %s: %d bytes with one subscription, over %d: %w", e.ID, size+need(known), f.cfg.QueueMessageBytes, errChangeTooLarge)
		}
		if !known {
			idx = len(msg.Ops)
			ops[string(opJSON)] = idx
			msg.Ops = append(msg.Ops, op)
		}
		sub.Op = idx
		msg.Subs = append(msg.Subs, sub)
		size += need(known)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// subscriptions turns a message's entries back into subscriptions.
func (m pushMessage) subscriptions() ([]store.Subscription, error) {
	subs := make([]store.Subscription, len(m.Subs))
	for i, s := range m.Subs {
		if s.Op < 0 || s.Op >= len(m.Ops) {
			return nil, fmt.Errorf("subscription %s of %s: operation %d of %d", s.ID, s.Connection, s.Op, len(m.Ops))
		}
		op := m.Ops[s.Op]
		subs[i] = store.Subscription{Topic: s.Topic, ConnectionID: s.Connection, ID: s.ID,
			Query: op.Query, OperationName: op.Name, Variables: op.Variables, Session: s.Session}
		if s.Kept {
			// The list itself is taken from the store when delivered.
			subs[i].Pending = []store.Pending{{}}
		}
	}
	return subs, nil
}

// HandlePushes is the push worker (topology.PushFunction): it takes a
// batch of push-queue messages, as the queue's event source mapping
// delivers them, and pushes each message's change to its subscriptions
// through the same push path as the stream (push). The messages of one
// group (partition of connections) are handled in order and the groups
// in parallel. A message is done when each of its pushes was delivered,
// found gone or oversize, dropped after its retries, or expired; then it
// is marked done on its topics. A message that cannot be read, or whose
// pushes the Management API was still throttling at the deadline, fails,
// and so do the messages after it in its group, which keeps the group's
// order when they are delivered again.
func (f *Fanout) HandlePushes(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	ctx, cancel := deadlineMargin(ctx)
	defer cancel()
	groups := map[string][]int{}
	var order []string
	for i, m := range ev.Records {
		g := m.Attributes[string(sqstypes.MessageSystemAttributeNameMessageGroupId)]
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], i)
	}
	failed := make([]bool, len(ev.Records))
	sem := make(chan struct{}, f.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, g := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k, i := range groups[g] {
				if err := f.handlePush(ctx, ev.Records[i], sem); err != nil {
					f.log.ErrorContext(ctx, "fanout: push message failed; it and the rest of its group are delivered again",
						"messageId", ev.Records[i].MessageId, "group", g, "err", err)
					for _, j := range groups[g][k:] {
						failed[j] = true
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	var resp events.SQSEventResponse
	for i, fl := range failed {
		if fl {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: ev.Records[i].MessageId})
		}
	}
	return resp, nil
}

func (f *Fanout) handlePush(ctx context.Context, rec events.SQSMessage, sem chan struct{}) error {
	var m pushMessage
	if err := json.Unmarshal([]byte(rec.Body), &m); err != nil {
		return fmt.Errorf("read push message: %w", err)
	}
	subs, err := m.subscriptions()
	if err != nil {
		return fmt.Errorf("read push message: %w", err)
	}
	log := f.log.With("eventId", m.Change.ID, "correlationId", m.Change.CorrelationID, "partition", m.Partition)
	st := f.push(ctx, log, m.Change, subs, m.Positions, sem)
	log.InfoContext(ctx, "fanout: push message handled", "subscriptions", len(subs), "pushed", st.Pushed, "gone", st.Gone,
		"failed", st.Failed, "kept", st.Kept, "oversize", st.Oversize, "expired", st.Expired, "unfinished", st.Unfinished)
	if st.Unfinished > 0 {
		return fmt.Errorf("%d of %d: %w", st.Unfinished, len(subs), ErrUnfinished)
	}
	if err := f.cfg.Store.MarkDone(ctx, m.Topics, messageID(rec.Body)); err != nil {
		// Harmless: the topic keeps going through the queue until its
		// mark lapses.
		log.ErrorContext(ctx, "fanout: mark push message done", "err", err)
	}
	return nil
}
