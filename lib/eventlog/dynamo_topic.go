package eventlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/threefactor/framework/lib/change"
)

// A topic's log lives in its own partition "T#<topic>":
//
//	head          start, pos (the last position given), touched
//	P#<position>  one entry: the event and when it was appended
//	E#<event id>  the position the event got (the idempotency marker)
//
// Append writes a transaction: the head advances from the value read (a
// condition), each event's entry and marker are put where none exist. A
// lost race re-reads the head; a marker already there means the event
// has its position already. Appends to one topic made at once are
// written together (group commit, below).
const (
	skHead        = "head"
	attrStart     = "start"
	attrPos       = "pos"
	attrTouched   = "touched" // unix microseconds
	attrEventID   = "eventId"
	attrEvent     = "event"
	attrAppended  = "appended" // unix microseconds
	topicAttempts = 100
)

func topicPK(topic string) string    { return "T#" + topic }
func entrySK(p Position) string      { return "P#" + positionKey(p) }
func markerSK(eventID string) string { return boundKey("E#" + eventID) }

type topicHead struct {
	start, pos Position
	touched    time.Time
}

func (s *DynamoStore) getHead(ctx context.Context, topic string) (topicHead, bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.cfg.Table),
		Key:            map[string]types.AttributeValue{attrPK: str(topicPK(topic)), attrSK: str(skHead)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return topicHead{}, false, fmt.Errorf("eventlog: topic %s: read head: %w", topic, err)
	}
	if len(out.Item) == 0 {
		return topicHead{}, false, nil
	}
	return topicHead{
		start:   Position(getUint(out.Item, attrStart)),
		pos:     Position(getUint(out.Item, attrPos)),
		touched: time.UnixMicro(getInt(out.Item, attrTouched)),
	}, true, nil
}

// headPut is the Put of a new head value, on condition that the head is
// still what was read.
func (s *DynamoStore) headPut(topic string, h topicHead, read topicHead, existed bool) *types.Put {
	p := &types.Put{
		TableName: aws.String(s.cfg.Table),
		Item: map[string]types.AttributeValue{
			attrPK: str(topicPK(topic)), attrSK: str(skHead),
			attrStart: num(int64(h.start)), attrPos: num(int64(h.pos)),
			attrTouched:   num(h.touched.UnixMicro()),
			attrExpiresAt: ttlSeconds(s.ret.expiresAt(h.touched)),
		},
		ExpressionAttributeNames: map[string]string{"#pk": attrPK},
	}
	if existed {
		p.ConditionExpression = aws.String("#pos = :old")
		p.ExpressionAttributeNames = map[string]string{"#pos": attrPos}
		p.ExpressionAttributeValues = map[string]types.AttributeValue{":old": num(int64(read.pos))}
	} else {
		p.ConditionExpression = aws.String("attribute_not_exists(#pk)")
	}
	return p
}

// Group commit: the appends to one topic that arrive while a
// transaction for it is in flight are written together by the next one
// (up to maxGroupEvents events and maxGroupBytes a transaction), in the
// order they arrived. A hot topic (a busy restaurant's orders, appended
// by every item goroutine of the fan-out at once) then costs a
// transaction per round trip rather than one per change, and its appends
// do not queue one round trip each behind the topic's head.
const (
	// maxGroupEvents: a transaction holds at most 100 items, two an
	// event (entry and marker) and the head.
	maxGroupEvents = 49
	// maxGroupBytes keeps a transaction under DynamoDB's 4 MB.
	maxGroupBytes = 3 << 20
	// groupTimeout bounds one group's writing; an appender that stops
	// waiting sooner (its context ended) leaves its event to the group.
	groupTimeout = 30 * time.Second
)

// appendGroup is the appends to one topic waiting for the next
// transaction.
type appendGroup struct {
	events  []change.Event
	encoded [][]byte
	done    chan struct{}
	pos     []Position // set, with err, before done is closed
	err     error
}

// topicAppender writes one topic's groups, one at a time, from a
// goroutine that runs while there are groups to write.
type topicAppender struct {
	mu      sync.Mutex
	pending *appendGroup
	running bool
}

// Append joins the topic's next group and waits for its transaction:
// see the group commit above. One transaction writes the head (on
// condition that it is still what was read), and for each event its
// entry and its marker (where none exist); a lost race re-reads the head,
// and an event whose marker is there already has its position (a retry).
func (s *DynamoStore) Append(ctx context.Context, topic string, e change.Event) (Position, error) {
	if err := checkTopic(topic); err != nil {
		return 0, err
	}
	if err := checkID("event id", e.ID); err != nil {
		return 0, err
	}
	event, err := encodeEntry(e)
	if err != nil {
		return 0, err
	}
	v, _ := s.appenders.LoadOrStore(topic, &topicAppender{})
	a := v.(*topicAppender)
	a.mu.Lock()
	g := a.pending
	if g == nil {
		g = &appendGroup{done: make(chan struct{})}
		a.pending = g
	}
	i := len(g.events)
	g.events, g.encoded = append(g.events, e), append(g.encoded, event)
	if !a.running {
		a.running = true
		go s.writeGroups(context.WithoutCancel(ctx), topic, a)
	}
	a.mu.Unlock()
	select {
	case <-g.done:
		if g.err != nil {
			return 0, g.err
		}
		return g.pos[i], nil
	case <-ctx.Done():
		return 0, fmt.Errorf("eventlog: topic %s: append %s: %w", topic, e.ID, ctx.Err())
	}
}

// writeGroups writes a's groups until none is waiting; then it forgets a
// (an Append that found a meanwhile starts it again).
func (s *DynamoStore) writeGroups(ctx context.Context, topic string, a *topicAppender) {
	for {
		a.mu.Lock()
		g := a.pending
		a.pending = nil
		if g == nil {
			a.running = false
			s.appenders.CompareAndDelete(topic, a)
			a.mu.Unlock()
			return
		}
		a.mu.Unlock()
		gctx, cancel := context.WithTimeout(ctx, groupTimeout)
		g.pos, g.err = s.appendGroup(gctx, topic, g.events, g.encoded)
		cancel()
		close(g.done)
	}
}

// appendGroup gives events positions, in order, in as few transactions
// as their number and size allow. An event appended already keeps its
// position (also one that comes twice in events).
func (s *DynamoStore) appendGroup(ctx context.Context, topic string, events []change.Event, encoded [][]byte) ([]Position, error) {
	pos := make([]Position, len(events))
	first := map[string]int{} // event id -> its first index
	var todo []int
	for i, e := range events {
		if _, dup := first[e.ID]; !dup {
			first[e.ID] = i
			todo = append(todo, i)
		}
	}
	for len(todo) > 0 {
		n, size := 0, 0
		for n < len(todo) && n < maxGroupEvents && (n == 0 || size+len(encoded[todo[n]]) <= maxGroupBytes) {
			size += len(encoded[todo[n]])
			n++
		}
		if err := s.appendChunk(ctx, topic, events, encoded, todo[:n], pos); err != nil {
			return nil, err
		}
		todo = todo[n:]
	}
	for i, e := range events {
		pos[i] = pos[first[e.ID]]
	}
	return pos, nil
}

// appendChunk writes the events at indexes idx in one transaction,
// setting their positions in pos.
func (s *DynamoStore) appendChunk(ctx context.Context, topic string, events []change.Event, encoded [][]byte, idx []int, pos []Position) error {
	var (
		read    topicHead
		existed bool
		err     error
	)
	if h, ok := s.heads.Load(topic); ok {
		read, existed = h.(topicHead), true
	} else if read, existed, err = s.getHead(ctx, topic); err != nil {
		return err
	}
	idx = slices.Clone(idx)
	delay := 5 * time.Millisecond
	for attempt := 0; attempt < topicAttempts; attempt++ {
		now := s.cfg.Now()
		next := topicHead{start: read.start, pos: read.pos + 1, touched: now}
		if !existed || !s.ret.live(read.touched, now) {
			next.start = epochStart(now, read.pos)
			next.pos = next.start
		}
		at := next.pos // the first event's position
		next.pos += Position(len(idx) - 1)
		expiry := ttlSeconds(s.ret.expiresAt(now))
		head := s.headPut(topic, next, read, existed)
		head.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
		items := []types.TransactWriteItem{{Put: head}}
		for k, i := range idx {
			p := at + Position(k)
			entry := map[string]types.AttributeValue{
				attrPK: str(topicPK(topic)), attrSK: str(entrySK(p)),
				attrEventID: str(events[i].ID), attrAppended: num(now.UnixMicro()), attrExpiresAt: expiry,
			}
			putData(entry, attrEvent, encoded[i])
			items = append(items, types.TransactWriteItem{Put: &types.Put{
				TableName:                aws.String(s.cfg.Table),
				Item:                     entry,
				ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
				ExpressionAttributeNames: map[string]string{"#pk": attrPK},
			}}, types.TransactWriteItem{Put: &types.Put{
				TableName: aws.String(s.cfg.Table),
				Item: map[string]types.AttributeValue{
					attrPK: str(topicPK(topic)), attrSK: str(markerSK(events[i].ID)),
					attrPos: num(int64(p)), attrAppended: num(now.UnixMicro()), attrExpiresAt: expiry,
				},
				// An expired marker (not yet deleted) no longer counts.
				ConditionExpression:                 aws.String("attribute_not_exists(#pk) OR #app <= :expired"),
				ExpressionAttributeNames:            map[string]string{"#pk": attrPK, "#app": attrAppended},
				ExpressionAttributeValues:           map[string]types.AttributeValue{":expired": num(now.Add(-s.cfg.Retention).UnixMicro())},
				ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
			}})
		}
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			s.heads.Store(topic, next)
			for k, i := range idx {
				pos[i] = at + Position(k)
			}
			return nil
		}
		s.heads.Delete(topic)
		var canceled *types.TransactionCanceledException
		if !errors.As(err, &canceled) && !retryableTx(err) {
			return fmt.Errorf("eventlog: topic %s: append %d events: %w", topic, len(idx), err)
		}
		var reasons []types.CancellationReason
		if canceled != nil {
			reasons = canceled.CancellationReasons
		}
		failed := func(item int) bool {
			return len(reasons) == len(items) && aws.ToString(reasons[item].Code) == "ConditionalCheckFailed"
		}
		// Events that have their positions already (a retry) leave the
		// transaction; the rest are written again.
		kept := idx[:0]
		for k, i := range idx {
			if m := 2 + 2*k; failed(m) {
				if old := reasons[m].Item; len(old) > 0 {
					pos[i] = Position(getUint(old, attrPos))
					continue
				}
				p, ok, err := s.marker(ctx, topic, events[i].ID)
				if err != nil {
					return err
				}
				if ok {
					pos[i] = p
					continue
				}
			}
			kept = append(kept, i)
		}
		markers := len(kept) < len(idx)
		if idx = kept; len(idx) == 0 {
			return nil
		}
		switch {
		case failed(0) && len(reasons[0].Item) > 0:
			// Another writer moved the head: go on from where it is now,
			// at once (someone progressed; there is nothing to wait for).
			cur := reasons[0].Item
			read = topicHead{start: Position(getUint(cur, attrStart)), pos: Position(getUint(cur, attrPos)), touched: time.UnixMicro(getInt(cur, attrTouched))}
			existed = true
			continue
		case failed(0):
			if read, existed, err = s.getHead(ctx, topic); err != nil {
				return err
			}
			continue
		case markers:
			continue // the head was fine: write the rest
		}
		// Transactions on the head in flight at once conflict: wait a
		// little, then read it again.
		if err := sleep(ctx, jitter(delay)); err != nil {
			return fmt.Errorf("eventlog: topic %s: append %d events: %w", topic, len(idx), err)
		}
		delay = min(2*delay, 100*time.Millisecond)
		if read, existed, err = s.getHead(ctx, topic); err != nil {
			return err
		}
	}
	return fmt.Errorf("eventlog: topic %s: append %d events: still contended after %d attempts", topic, len(idx), topicAttempts)
}

func retryableTx(err error) bool {
	var (
		conflict *types.TransactionConflictException
		inProg   *types.TransactionInProgressException
		throttle *types.ProvisionedThroughputExceededException
	)
	return errors.As(err, &conflict) || errors.As(err, &inProg) || errors.As(err, &throttle)
}

func (s *DynamoStore) marker(ctx context.Context, topic, eventID string) (Position, bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.cfg.Table),
		Key:            map[string]types.AttributeValue{attrPK: str(topicPK(topic)), attrSK: str(markerSK(eventID))},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return 0, false, fmt.Errorf("eventlog: topic %s: read marker of %s: %w", topic, eventID, err)
	}
	if len(out.Item) == 0 || !s.ret.live(time.UnixMicro(getInt(out.Item, attrAppended)), s.cfg.Now()) {
		return 0, false, nil
	}
	return Position(getUint(out.Item, attrPos)), true, nil
}

// Head reads the topic's head; for a topic without a live one it puts a
// head that reserves the next position.
func (s *DynamoStore) Head(ctx context.Context, topic string) (Position, error) {
	if err := checkTopic(topic); err != nil {
		return 0, err
	}
	for attempt := 0; attempt < topicAttempts; attempt++ {
		now := s.cfg.Now()
		read, existed, err := s.getHead(ctx, topic)
		if err != nil {
			return 0, err
		}
		if existed && s.ret.live(read.touched, now) {
			return read.pos, nil
		}
		start := epochStart(now, read.pos)
		next := topicHead{start: start, pos: start - 1, touched: now}
		_, err = s.db.PutItem(ctx, putItemInput(s.headPut(topic, next, read, existed)))
		if err == nil {
			return next.pos, nil
		}
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			return 0, fmt.Errorf("eventlog: topic %s: head: %w", topic, err)
		}
	}
	return 0, fmt.Errorf("eventlog: topic %s: head: still contended after %d attempts", topic, topicAttempts)
}

func putItemInput(p *types.Put) *dynamodb.PutItemInput {
	return &dynamodb.PutItemInput{
		TableName: p.TableName, Item: p.Item, ConditionExpression: p.ConditionExpression,
		ExpressionAttributeNames: p.ExpressionAttributeNames, ExpressionAttributeValues: p.ExpressionAttributeValues,
	}
}

// Read queries the topic's entries after a position, checking that they
// follow it with no gap.
func (s *DynamoStore) Read(ctx context.Context, topic string, after Position, limit int) ([]Entry, error) {
	if err := checkTopic(topic); err != nil {
		return nil, err
	}
	limit = clampLimit(limit, DefaultReadLimit, MaxReadLimit)
	now := s.cfg.Now()
	head, existed, err := s.getHead(ctx, topic)
	if err != nil {
		return nil, err
	}
	from, err := readFrom(topic, head, existed && s.ret.live(head.touched, now), after)
	if err != nil || from > head.pos {
		return nil, err
	}
	var out []Entry
	err = s.query(ctx, &dynamodb.QueryInput{
		TableName:                aws.String(s.cfg.Table),
		KeyConditionExpression:   aws.String("#pk = :pk AND #sk BETWEEN :from AND :to"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK, "#sk": attrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(topicPK(topic)), ":from": str(entrySK(from)), ":to": str(entrySK(head.pos)),
		},
		ConsistentRead: aws.Bool(true),
		Limit:          aws.Int32(int32(limit)),
	}, func(item map[string]types.AttributeValue) (bool, error) {
		appended := time.UnixMicro(getInt(item, attrAppended))
		pos := Position(parseUint(getString(item, attrSK)[len("P#"):]))
		next, keep, err := nextEntry(topic, after, out, pos, s.ret.live(appended, now))
		if err != nil || !keep {
			return next, err
		}
		data, err := getData(item, attrEvent)
		if err != nil {
			return false, err
		}
		en := Entry{Topic: topic, Position: pos, AppendedAt: appended}
		if err := json.Unmarshal(data, &en.Event); err != nil {
			return false, fmt.Errorf("eventlog: topic %s: entry %d: %w", topic, pos, err)
		}
		out = append(out, en)
		return len(out) < limit, nil
	})
	if err == nil && len(out) == 0 && after != 0 {
		// Entries after the position were there (the head is past it)
		// and are gone: deleted by TTL.
		return nil, fmt.Errorf("topic %s after %d: entry %d is no longer retained: %w", topic, after, from, ErrExpired)
	}
	return out, err
}

// readFrom is the first position a Read after a position asks for, or
// ErrExpired when the entries after it may have been dropped.
func readFrom(topic string, head topicHead, live bool, after Position) (Position, error) {
	switch {
	case !live && after == 0:
		return head.pos + 1, nil // nothing retained: an empty read
	case !live:
		return 0, fmt.Errorf("topic %s after %d: the topic's log expired: %w", topic, after, ErrExpired)
	case after == 0:
		return head.start, nil
	case after > head.pos:
		return 0, fmt.Errorf("topic %s after %d: not a position of the topic's log (head %d): %w", topic, after, head.pos, ErrExpired)
	case after+1 < head.start:
		return 0, fmt.Errorf("topic %s after %d: from before the topic's log (which starts at %d): %w", topic, after, head.start, ErrExpired)
	}
	return after + 1, nil
}

// nextEntry checks an entry read at pos against what was read so far:
// entries must follow after with no gap. Reading from 0 skips expired
// entries at the start. It reports whether to go on and to keep the entry.
func nextEntry(topic string, after Position, got []Entry, pos Position, live bool) (more, keep bool, err error) {
	want := after + 1
	if len(got) > 0 {
		want = got[len(got)-1].Position + 1
	}
	switch {
	case after == 0 && len(got) == 0 && !live:
		return true, false, nil
	case after == 0 && len(got) == 0:
		return true, true, nil
	case !live || pos != want:
		if len(got) > 0 {
			// What follows expired meanwhile: return what does follow;
			// the next read reports it.
			return false, false, nil
		}
		return false, false, fmt.Errorf("topic %s after %d: entry %d is no longer retained: %w", topic, after, want, ErrExpired)
	}
	return true, true, nil
}

func parseUint(s string) uint64 {
	var n uint64
	for i := 0; i < len(s); i++ {
		n = n*10 + uint64(s[i]-'0')
	}
	return n
}
