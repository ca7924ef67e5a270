package dlq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/threefactor/framework/lib/consumer"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/topology"
)

// Listing limits.
const (
	// DefaultListLimit is List's limit when given 0.
	DefaultListLimit = 100
	// MaxListLimit is the most messages one List returns.
	MaxListLimit = 1000
)

// List returns up to limit messages of a route's dead-letter queue, the
// oldest first, each with its event and, with a log, its last failed
// delivery. The messages are received to be read and made visible again
// before List returns (a listing counts as a receive in their
// ReceiveCount). limit 0 is DefaultListLimit.
func (c *Client) List(ctx context.Context, route string, limit int) ([]Message, error) {
	r, err := c.route(route)
	if err != nil {
		return nil, err
	}
	switch {
	case limit < 0:
		return nil, errs.Newf(errs.BadUserInput, "dlq: limit %d: want 0 (%d) up to %d", limit, DefaultListLimit, MaxListLimit)
	case limit == 0:
		limit = DefaultListLimit
	case limit > MaxListLimit:
		limit = MaxListLimit
	}
	var out []Message
	s := c.newSweep(r)
	err = s.run(ctx, func(ctx context.Context, batch []sqstypes.Message) error {
		for _, m := range batch {
			if len(out) == limit {
				s.hold(m)
				continue
			}
			msg := read(c.cfg.Topology, r, m)
			if err := c.withLog(ctx, &msg); err != nil {
				s.hold(m)
				return fmt.Errorf("event log: %w", err)
			}
			out = append(out, msg)
			s.hold(m)
		}
		return nil
	}, func() bool { return len(out) >= limit })
	sortMessages(out)
	if err != nil {
		return out, err
	}
	return out, nil
}

// Selection says which messages Redrive and Drop work on: All, or those
// with the given ids (message ids, as List shows them, or event ids).
type Selection struct {
	IDs []string
	All bool
}

func (s Selection) validate() error {
	switch {
	case s.All && len(s.IDs) > 0:
		return errs.New(errs.BadUserInput, "dlq: select all messages or some ids, not both")
	case !s.All && len(s.IDs) == 0:
		return errs.New(errs.BadUserInput, "dlq: select all messages or name their ids")
	}
	for _, id := range s.IDs {
		if strings.TrimSpace(id) == "" {
			return errs.New(errs.BadUserInput, "dlq: an empty id")
		}
	}
	return nil
}

// Ways Redrive moved messages.
const (
	// MethodMoveTask: one SQS StartMessageMoveTask.
	MethodMoveTask = "move-task"
	// MethodResend: each message received, sent to the queue, then
	// deleted from the dead-letter queue.
	MethodResend = "receive-send-delete"
)

// Result is what Redrive or Drop did.
type Result struct {
	Route string `json:"route"`
	// Count is how many messages were redriven or dropped.
	Count int `json:"count"`
	// Method is how Redrive moved them (MethodMoveTask or MethodResend);
	// empty for Drop.
	Method string `json:"method,omitempty"`
	// Missing are the ids asked for that no message of the queue has.
	Missing []string `json:"missing,omitempty"`
}

// ErrMissing: some ids asked for name no message of the dead-letter
// queue (gone already, or never there); the others were done.
var ErrMissing = errs.New(errs.NotFound, "dlq: no such message")

// Redrive sends the selected messages of a route's dead-letter queue
// back to the route's queue, where its function gets them again. It never
// loses a message: each is deleted from the dead-letter queue only after
// the queue took it, so a crash in between leaves a duplicate. Messages
// that come back to the dead-letter queue while it runs (the function
// still fails them) are left there, not redriven again.
func (c *Client) Redrive(ctx context.Context, route string, sel Selection) (Result, error) {
	r, err := c.route(route)
	if err != nil {
		return Result{}, err
	}
	if err := sel.validate(); err != nil {
		return Result{}, err
	}
	if sel.All && c.cfg.MoveTasks == MoveTasksAuto && !c.moveTasksOff() {
		res, ok, err := c.moveAll(ctx, r)
		if ok || err != nil {
			c.logDone("redrive", res, err)
			return res, err
		}
	}
	res := Result{Route: r.Name, Method: MethodResend}
	// ids the queue gave the messages sent: one of them in the dead-letter
	// queue again failed again, and is left alone.
	sent := map[string]bool{}
	s := c.newSweep(r)
	want := selector(sel)
	err = s.run(ctx, func(ctx context.Context, batch []sqstypes.Message) error {
		var todo []sqstypes.Message
		for _, m := range batch {
			switch {
			case s.done[aws.ToString(m.MessageId)]:
				// Sent before, but its delete failed: delete it now.
				todo = append(todo, m)
			case sent[aws.ToString(m.MessageId)] || sent[attrString(m, consumer.AttrSourceMessageID)] || !want(c.cfg.Topology, r, m):
				s.hold(m)
			default:
				todo = append(todo, m)
			}
		}
		var toSend []sqstypes.Message
		for _, m := range todo {
			if !s.done[aws.ToString(m.MessageId)] {
				toSend = append(toSend, m)
			}
		}
		ok, err := c.send(ctx, r, toSend, sent)
		for _, m := range toSend {
			if ok[aws.ToString(m.MessageId)] {
				s.done[aws.ToString(m.MessageId)] = true
				res.Count++
				s.found(m)
			} else {
				s.hold(m)
			}
		}
		var del []sqstypes.Message
		for _, m := range todo {
			if s.done[aws.ToString(m.MessageId)] {
				del = append(del, m)
			}
		}
		derr := s.delete(ctx, del)
		return errors.Join(err, derr)
	}, s.allFound(sel))
	res.Missing = s.missing(sel)
	if err == nil && len(res.Missing) > 0 {
		err = fmt.Errorf("%w: %s", ErrMissing, strings.Join(res.Missing, ", "))
	}
	c.logDone("redrive", res, err)
	return res, err
}

// Drop deletes the selected messages of a route's dead-letter queue.
func (c *Client) Drop(ctx context.Context, route string, sel Selection) (Result, error) {
	r, err := c.route(route)
	if err != nil {
		return Result{}, err
	}
	if err := sel.validate(); err != nil {
		return Result{}, err
	}
	res := Result{Route: r.Name}
	s := c.newSweep(r)
	want := selector(sel)
	err = s.run(ctx, func(ctx context.Context, batch []sqstypes.Message) error {
		var del []sqstypes.Message
		for _, m := range batch {
			if want(c.cfg.Topology, r, m) {
				del = append(del, m)
			} else {
				s.hold(m)
			}
		}
		ok, err := s.deleted(ctx, del)
		for _, m := range del {
			if ok[aws.ToString(m.MessageId)] {
				res.Count++
				s.found(m)
			}
		}
		return err
	}, s.allFound(sel))
	res.Missing = s.missing(sel)
	if err == nil && len(res.Missing) > 0 {
		err = fmt.Errorf("%w: %s", ErrMissing, strings.Join(res.Missing, ", "))
	}
	c.logDone("drop", res, err)
	return res, err
}

func (c *Client) logDone(what string, res Result, err error) {
	args := []any{"route", res.Route, "count", res.Count}
	if res.Method != "" {
		args = append(args, "method", res.Method)
	}
	if err != nil {
		c.log.Warn(what+" stopped", append(args, "error", err.Error())...)
		return
	}
	c.log.Info(what, args...)
}

// selector is whether a message is selected.
func selector(sel Selection) func(topo topology.Topology, r *Route, m sqstypes.Message) bool {
	if sel.All {
		return func(topology.Topology, *Route, sqstypes.Message) bool { return true }
	}
	return func(topo topology.Topology, r *Route, m sqstypes.Message) bool {
		msg := read(topo, r, m)
		for _, id := range sel.IDs {
			if msg.Selects(id) {
				return true
			}
		}
		return false
	}
}

// send sends msgs to the route's queue, ten a request, and reports which
// the queue took; the ids it gave them go into sent.
func (c *Client) send(ctx context.Context, r *Route, msgs []sqstypes.Message, sent map[string]bool) (map[string]bool, error) {
	ok := map[string]bool{}
	var errList []error
	for start := 0; start < len(msgs); start += 10 {
		part := msgs[start:min(start+10, len(msgs))]
		entries := make([]sqstypes.SendMessageBatchRequestEntry, len(part))
		for i, m := range part {
			// The body only: the dead-letter attributes describe the
			// failure, not the event, and the function reads the body.
			entries[i] = sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: m.Body}
		}
		out, err := c.cfg.SQS.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(r.Queues.Queue), Entries: entries})
		if err != nil {
			errList = append(errList, fmt.Errorf("send to %s: %w", r.Queues.Queue, err))
			continue
		}
		for _, s := range out.Successful {
			i, _ := strconv.Atoi(aws.ToString(s.Id))
			if i >= 0 && i < len(part) {
				ok[aws.ToString(part[i].MessageId)] = true
				sent[aws.ToString(s.MessageId)] = true
			}
		}
		for _, f := range out.Failed {
			errList = append(errList, fmt.Errorf("send to %s: %s: %s", r.Queues.Queue, aws.ToString(f.Code), aws.ToString(f.Message)))
		}
	}
	return ok, errors.Join(errList...)
}

func attrString(m sqstypes.Message, name string) string {
	if v, ok := m.MessageAttributes[name]; ok {
		return aws.ToString(v.StringValue)
	}
	return ""
}

// sweep receives a dead-letter queue's messages and keeps those it does
// not finish with invisible until it ends, then makes them visible again,
// so that it sees each message once.
type sweep struct {
	c *Client
	r *Route
	// held: received and kept, by message id: the latest receipt handle.
	held map[string]string
	// done: sent (redrive) and to be deleted.
	done map[string]bool
	// seen: every message id received.
	seen map[string]bool
	// foundIDs: selection ids matched.
	foundIDs map[string]bool
}

func (c *Client) newSweep(r *Route) *sweep {
	return &sweep{c: c, r: r, held: map[string]string{}, done: map[string]bool{}, seen: map[string]bool{}, foundIDs: map[string]bool{}}
}

func (s *sweep) hold(m sqstypes.Message) {
	s.held[aws.ToString(m.MessageId)] = aws.ToString(m.ReceiptHandle)
}

func (s *sweep) found(m sqstypes.Message) {
	msg := read(s.c.cfg.Topology, s.r, m)
	s.foundIDs[msg.ID] = true
	if msg.EventID != "" {
		s.foundIDs[msg.EventID] = true
	}
}

// allFound stops a sweep for ids once each was found.
func (s *sweep) allFound(sel Selection) func() bool {
	if sel.All {
		return func() bool { return false }
	}
	return func() bool { return len(s.missing(sel)) == 0 }
}

func (s *sweep) missing(sel Selection) []string {
	var out []string
	for _, id := range sel.IDs {
		if !s.foundIDs[id] {
			out = append(out, id)
		}
	}
	return out
}

// run receives batches and hands each to act until the queue has nothing
// more to give or enough says so; then it releases what it held.
func (s *sweep) run(ctx context.Context, act func(context.Context, []sqstypes.Message) error, enough func() bool) error {
	err := s.loop(ctx, act, enough)
	// Release with a context of its own: a cancelled command still lets
	// go of what it held rather than hide it for the whole hold.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return errors.Join(err, s.release(rctx))
}

func (s *sweep) loop(ctx context.Context, act func(context.Context, []sqstypes.Message) error, enough func() bool) error {
	d, err := s.c.depth(ctx, s.r)
	if err != nil {
		return err
	}
	hold := int32(s.c.cfg.Hold / time.Second)
	for !enough() {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Long-poll (which asks every SQS server) until as many messages
		// were seen as the queue counted; then one short receive to be sure.
		wait := int32(1)
		if len(s.seen) >= d.Visible {
			wait = 0
		}
		out, err := s.c.cfg.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(s.r.Queues.DLQ),
			MaxNumberOfMessages:         10,
			VisibilityTimeout:           max(hold, 1),
			WaitTimeSeconds:             wait,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		if err != nil {
			return fmt.Errorf("receive from %s: %w", s.r.Queues.DLQ, err)
		}
		var fresh []sqstypes.Message
		for _, m := range out.Messages {
			id := aws.ToString(m.MessageId)
			if _, held := s.held[id]; held && !s.done[id] {
				// Its hold ran out while the sweep went on: hold it again.
				s.hold(m)
				continue
			}
			s.seen[id] = true
			fresh = append(fresh, m)
		}
		if len(fresh) == 0 {
			if len(out.Messages) == 0 && wait == 0 {
				return nil
			}
			if len(out.Messages) == 0 {
				// A long poll found nothing: the count was stale.
				d.Visible = len(s.seen)
			}
			continue
		}
		if err := act(ctx, fresh); err != nil {
			return err
		}
	}
	return nil
}

// release makes the held messages visible again.
func (s *sweep) release(ctx context.Context) error {
	var entries []sqstypes.ChangeMessageVisibilityBatchRequestEntry
	for id, h := range s.held {
		if s.done[id] {
			continue
		}
		entries = append(entries, sqstypes.ChangeMessageVisibilityBatchRequestEntry{
			Id: aws.String(strconv.Itoa(len(entries))), ReceiptHandle: aws.String(h), VisibilityTimeout: 0,
		})
	}
	var errList []error
	for start := 0; start < len(entries); start += 10 {
		part := entries[start:min(start+10, len(entries))]
		for i := range part {
			part[i].Id = aws.String(strconv.Itoa(i))
		}
		out, err := s.c.cfg.SQS.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(s.r.Queues.DLQ), Entries: part})
		if err != nil {
			errList = append(errList, fmt.Errorf("make messages visible again (they will be after %s): %w", s.c.cfg.Hold, err))
			continue
		}
		for _, f := range out.Failed {
			if aws.ToString(f.Code) == "ReceiptHandleIsInvalid" {
				continue // deleted meanwhile: nothing to release
			}
			errList = append(errList, fmt.Errorf("make a message visible again (it will be after %s): %s", s.c.cfg.Hold, aws.ToString(f.Message)))
		}
	}
	s.held = map[string]string{}
	return errors.Join(errList...)
}

// delete deletes messages from the dead-letter queue.
func (s *sweep) delete(ctx context.Context, msgs []sqstypes.Message) error {
	ok, err := s.deleted(ctx, msgs)
	for _, m := range msgs {
		if ok[aws.ToString(m.MessageId)] {
			delete(s.done, aws.ToString(m.MessageId))
			delete(s.held, aws.ToString(m.MessageId))
		}
	}
	return err
}

// deleted deletes messages and reports which are gone.
func (s *sweep) deleted(ctx context.Context, msgs []sqstypes.Message) (map[string]bool, error) {
	ok := map[string]bool{}
	var errList []error
	for start := 0; start < len(msgs); start += 10 {
		part := msgs[start:min(start+10, len(msgs))]
		entries := make([]sqstypes.DeleteMessageBatchRequestEntry, len(part))
		for i, m := range part {
			entries[i] = sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
		}
		out, err := s.c.cfg.SQS.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(s.r.Queues.DLQ), Entries: entries})
		if err != nil {
			errList = append(errList, fmt.Errorf("delete from %s: %w", s.r.Queues.DLQ, err))
			continue
		}
		for _, e := range out.Successful {
			if i, _ := strconv.Atoi(aws.ToString(e.Id)); i >= 0 && i < len(part) {
				ok[aws.ToString(part[i].MessageId)] = true
			}
		}
		for _, f := range out.Failed {
			errList = append(errList, fmt.Errorf("delete from %s: %s: %s", s.r.Queues.DLQ, aws.ToString(f.Code), aws.ToString(f.Message)))
		}
	}
	return ok, errors.Join(errList...)
}
