package eventlog

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"iter"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/topology"
)

// DefaultRetention is how long the cloud log keeps records.
const DefaultRetention = 30 * 24 * time.Hour

// EnvRetention optionally sets the cloud log's retention ("30d", "720h").
const EnvRetention = "EVENTLOG_RETENTION"

// DynamoConfig configures a DynamoStore. The zero value of each optional
// setting is its default.
type DynamoConfig struct {
	// Table is the physical name of the framework's eventlog table
	// (topology.EventLogTable).
	Table string
	// Topology gives the key schema of each table, for item keys.
	Topology topology.Topology
	// Retention is how long records are kept after their time; default
	// DefaultRetention.
	Retention time.Duration
	// TimeShards spreads each day's changes over this many partitions of
	// the time index, so that a busy app does not make one hot partition
	// (each takes about 1000 writes a second). Default 4. Keep it fixed
	// for the life of the table: readers query every shard.
	TimeShards int
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger is for retries worth knowing about; default slog.Default().
	Logger *slog.Logger
}

// Validate reports every problem at once.
func (c DynamoConfig) Validate() error {
	var errList []error
	if c.Table == "" {
		errList = append(errList, errors.New("eventlog: no table"))
	}
	if c.Retention < 0 {
		errList = append(errList, errors.New("eventlog: negative retention"))
	}
	if c.TimeShards < 0 || c.TimeShards > 64 {
		errList = append(errList, fmt.Errorf("eventlog: %d time shards: want 1..64", c.TimeShards))
	}
	return errors.Join(errList...)
}

// DynamoConfigFromEnv reads the table's name (topology.TableEnv of
// topology.EventLogTable) and the optional retention (EnvRetention).
func DynamoConfigFromEnv(getenv func(string) string, topo topology.Topology) (DynamoConfig, error) {
	c := DynamoConfig{Table: getenv(topology.TableEnv(topology.EventLogTable)), Topology: topo}
	var errList []error
	if c.Table == "" {
		errList = append(errList, fmt.Errorf("%s is not set", topology.TableEnv(topology.EventLogTable)))
	}
	if v := getenv(EnvRetention); v != "" {
		d, err := ParseRetention(v)
		if err != nil {
			errList = append(errList, fmt.Errorf("%s: %w", EnvRetention, err))
		}
		c.Retention = d
	}
	return c, errors.Join(errList...)
}

// ParseRetention reads a retention: a Go duration ("720h") or a number of
// days ("30d").
func ParseRetention(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 || n > 3650 {
			return 0, badInput("retention %q: want a number of days (0..3650) or a duration", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, badInput("retention %q: want a duration (\"720h\") or days (\"30d\")", s)
	}
	return d, nil
}

type dynamoAPI interface {
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// DynamoStore is the event log in the framework's DynamoDB table. Each
// record is one item: a change under "E#<event id>"/"change" with the
// keys of the byItem, byCorrelation and byTime indexes; its deliveries
// and pushes beside it under "D#..." and "P#..."; a topic's head, entries
// and per-event markers under "T#<topic>". Items carry their expiry in
// the table's TTL attribute, and reads skip expired items that TTL has
// not deleted yet.
type DynamoStore struct {
	db      dynamoAPI
	cfg     DynamoConfig
	schemas schemas
	ret     retention
	log     *slog.Logger
	// appenders hold each topic's appends waiting for a transaction
	// (topic -> *topicAppender): one writer a topic in this instance, so
	// that only other instances contend on a topic's head.
	appenders sync.Map
	// heads remembers the head each topic's last append left (topic ->
	// topicHead), read by the topic's one writer: the next append starts
	// from it instead of reading the head again, and the transaction's
	// condition catches one that moved meanwhile (another writer).
	heads sync.Map
}

// NewDynamoStore is a store over db (a *dynamodb.Client).
func NewDynamoStore(db dynamoAPI, cfg DynamoConfig) (*DynamoStore, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.TimeShards == 0 {
		cfg.TimeShards = 4
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &DynamoStore{db: db, cfg: cfg, schemas: schemasOf(cfg.Topology), ret: retention(cfg.Retention), log: cfg.Logger}, nil
}

// Item attribute names.
const (
	attrPK        = "pk"
	attrSK        = "sk"
	attrItem      = "item"
	attrItemSeq   = "itemSeq"
	attrCorr      = "correlationId"
	attrBucket    = "bucket"
	attrAt        = "at"
	attrData      = "data"  // the record's JSON
	attrDataZ     = "dataz" // the record's JSON, DEFLATE-compressed
	attrExpiresAt = "expiresAt"
)

const skChange = "change"

// Limits of DynamoDB keys: an index partition key holds 2048 bytes, a
// sort key 1024.
const maxKeyBytes = 1024

// boundKey keeps a key attribute within DynamoDB's limits: a longer value
// is replaced by its hash, and readers compare the record itself.
func boundKey(s string) string {
	if len(s) <= maxKeyBytes {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	prefix := 64 // kept readable, cut at a character boundary
	for prefix > 0 && !utf8.RuneStart(s[prefix]) {
		prefix--
	}
	return s[:prefix] + "#sha256:" + hex.EncodeToString(sum[:])
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// ttlSeconds is the TTL attribute's value for an expiry: a second later
// than it, so that DynamoDB never deletes before readers stop seeing.
func ttlSeconds(expiry time.Time) types.AttributeValue { return num(expiry.Unix() + 1) }

// compressAbove is the record size from which data is stored compressed
// (when that is smaller): a write unit covers 1 KB of item, index keys
// included, and a change's JSON images shrink to half or less, so that a
// typical change costs one write unit in the table and in each index
// instead of two.
const compressAbove = 400

var flaters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed)
	return w
}}

// putData sets the record's data attribute, compressed when large.
func putData(item map[string]types.AttributeValue, attr string, data []byte) {
	if len(data) <= compressAbove {
		item[attr] = str(string(data))
		return
	}
	var buf bytes.Buffer
	w := flaters.Get().(*flate.Writer)
	w.Reset(&buf)
	_, _ = w.Write(data)
	_ = w.Close()
	flaters.Put(w)
	if buf.Len() >= len(data) {
		item[attr] = str(string(data))
		return
	}
	item[attr+"z"] = &types.AttributeValueMemberB{Value: buf.Bytes()}
}

// getData is the record's JSON.
func getData(item map[string]types.AttributeValue, attr string) ([]byte, error) {
	if v, ok := item[attr].(*types.AttributeValueMemberS); ok {
		return []byte(v.Value), nil
	}
	if v, ok := item[attr+"z"].(*types.AttributeValueMemberB); ok {
		b, err := io.ReadAll(flate.NewReader(bytes.NewReader(v.Value)))
		if err != nil {
			return nil, fmt.Errorf("eventlog: inflate %s: %w", attr, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("eventlog: item %v has no %s", item[attrPK], attr)
}

func getString(item map[string]types.AttributeValue, attr string) string {
	v, _ := item[attr].(*types.AttributeValueMemberS)
	if v == nil {
		return ""
	}
	return v.Value
}

func getInt(item map[string]types.AttributeValue, attr string) int64 {
	v, _ := item[attr].(*types.AttributeValueMemberN)
	if v == nil {
		return 0
	}
	n, _ := strconv.ParseInt(v.Value, 10, 64)
	return n
}

func getUint(item map[string]types.AttributeValue, attr string) uint64 {
	v, _ := item[attr].(*types.AttributeValueMemberN)
	if v == nil {
		return 0
	}
	n, _ := strconv.ParseUint(v.Value, 10, 64)
	return n
}

func eventPK(id string) string { return "E#" + id }

// bucket is the time index partition of a change: its day and a shard.
func (s *DynamoStore) bucket(day time.Time, shard int) string {
	return day.UTC().Format("2006-01-02") + "#" + strconv.Itoa(shard)
}

func (s *DynamoStore) shardOf(id string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return int(h.Sum32() % uint32(s.cfg.TimeShards))
}

func (s *DynamoStore) changeItem(p preparedChange) map[string]types.AttributeValue {
	c := &p.rec
	order := changeOrderKey(p.at, p.seq, c.ID)
	item := map[string]types.AttributeValue{
		attrPK:        str(eventPK(c.ID)),
		attrSK:        str(skChange),
		attrItem:      str(boundKey(c.Item.String())),
		attrItemSeq:   str(p.seq + "#" + c.ID),
		attrBucket:    str(s.bucket(p.at, s.shardOf(c.ID))),
		attrAt:        str(order),
		attrExpiresAt: ttlSeconds(s.ret.expiresAt(p.at)),
	}
	if c.CorrelationID != "" {
		item[attrCorr] = str(boundKey(c.CorrelationID))
	}
	putData(item, attrData, p.data)
	return item
}

// WriteChanges logs change events with batched writes. Each change's item
// key is derived from its event id, so a second write of the same event
// (a redelivery, a concurrent writer) replaces the record with the same
// one: one record per event.
func (s *DynamoStore) WriteChanges(ctx context.Context, events ...change.Event) error {
	now := s.cfg.Now()
	reqs := make([]types.WriteRequest, 0, len(events))
	seen := make(map[string]bool, len(events))
	for _, e := range events {
		p, err := prepareChange(s.schemas, e, now)
		if err != nil {
			return err
		}
		if seen[e.ID] || !s.ret.live(p.at, now) {
			continue
		}
		seen[e.ID] = true
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: s.changeItem(p)}})
	}
	return s.batchWrite(ctx, reqs)
}

// WriteDeliveries logs delivery attempts beside their events.
func (s *DynamoStore) WriteDeliveries(ctx context.Context, ds ...Delivery) error {
	now := s.cfg.Now()
	reqs := make([]types.WriteRequest, 0, len(ds))
	seen := map[string]bool{}
	for _, d := range ds {
		d, data, err := prepareDelivery(d, now)
		if err != nil {
			return err
		}
		sk := boundKey(deliveryKey(d))
		if k := d.EventID + "\x00" + sk; seen[k] || !s.ret.live(d.At, now) {
			continue
		} else {
			seen[k] = true
		}
		item := map[string]types.AttributeValue{
			attrPK: str(eventPK(d.EventID)), attrSK: str(sk),
			attrExpiresAt: ttlSeconds(s.ret.expiresAt(d.At)),
		}
		putData(item, attrData, data)
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
	}
	return s.batchWrite(ctx, reqs)
}

// WritePushes logs realtime pushes beside their events.
func (s *DynamoStore) WritePushes(ctx context.Context, ps ...Push) error {
	now := s.cfg.Now()
	reqs := make([]types.WriteRequest, 0, len(ps))
	seen := map[string]bool{}
	for _, p := range ps {
		p, data, err := preparePush(p, now)
		if err != nil {
			return err
		}
		sk := boundKey(pushKey(p))
		if k := p.EventID + "\x00" + sk; seen[k] || !s.ret.live(p.At, now) {
			continue
		} else {
			seen[k] = true
		}
		item := map[string]types.AttributeValue{
			attrPK: str(eventPK(p.EventID)), attrSK: str(sk),
			attrExpiresAt: ttlSeconds(s.ret.expiresAt(p.At)),
		}
		putData(item, attrData, data)
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
	}
	return s.batchWrite(ctx, reqs)
}

// batchWrite puts items 25 to a request (BatchWriteItem's limit), a few
// requests at a time, and puts again what DynamoDB leaves unprocessed.
func (s *DynamoStore) batchWrite(ctx context.Context, reqs []types.WriteRequest) error {
	if len(reqs) == 0 {
		return nil
	}
	const perCall, parallel = 25, 4
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errL []error
		sem  = make(chan struct{}, parallel)
	)
	for start := 0; start < len(reqs); start += perCall {
		chunk := reqs[start:min(start+perCall, len(reqs))]
		if len(reqs) <= perCall {
			return s.writeChunk(ctx, chunk)
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := s.writeChunk(ctx, chunk); err != nil {
				mu.Lock()
				errL = append(errL, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errL...)
}

func (s *DynamoStore) writeChunk(ctx context.Context, chunk []types.WriteRequest) error {
	pending := chunk
	delay := 25 * time.Millisecond
	for attempt := 0; ; attempt++ {
		out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]types.WriteRequest{s.cfg.Table: pending},
		})
		if err != nil {
			return fmt.Errorf("eventlog: write %d records: %w", len(pending), err)
		}
		pending = out.UnprocessedItems[s.cfg.Table]
		if len(pending) == 0 {
			return nil
		}
		if attempt >= 8 {
			return fmt.Errorf("eventlog: %d records still unprocessed after %d attempts (throttled)", len(pending), attempt+1)
		}
		if err := sleep(ctx, jitter(delay)); err != nil {
			return fmt.Errorf("eventlog: write: %w", err)
		}
		delay = min(2*delay, 2*time.Second)
	}
}

func jitter(d time.Duration) time.Duration { return d/2 + rand.N(d/2+1) }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// query runs a query to the end (or until keep says stop), page by page.
func (s *DynamoStore) query(ctx context.Context, in *dynamodb.QueryInput, keep func(map[string]types.AttributeValue) (bool, error)) error {
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return fmt.Errorf("eventlog: query: %w", err)
		}
		for _, item := range out.Items {
			more, err := keep(item)
			if err != nil || !more {
				return err
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

func decodeChange(item map[string]types.AttributeValue) (Change, error) {
	data, err := getData(item, attrData)
	if err != nil {
		return Change{}, err
	}
	var c Change
	if err := json.Unmarshal(data, &c); err != nil {
		return Change{}, fmt.Errorf("eventlog: decode change %s: %w", getString(item, attrPK), err)
	}
	return c, nil
}

// Event reads an event's partition: its change, deliveries and pushes.
func (s *DynamoStore) Event(ctx context.Context, id string) (EventRecord, error) {
	if err := checkID("event id", id); err != nil {
		return EventRecord{}, err
	}
	rec, found, err := s.eventRecord(ctx, id)
	if err != nil {
		return EventRecord{}, err
	}
	if !found {
		return EventRecord{}, fmt.Errorf("event %s: %w", id, ErrNotFound)
	}
	return rec, nil
}

func (s *DynamoStore) eventRecord(ctx context.Context, id string) (EventRecord, bool, error) {
	now := s.cfg.Now()
	var rec EventRecord
	found := false
	err := s.query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.cfg.Table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(eventPK(id))},
		ConsistentRead:            aws.Bool(true),
	}, func(item map[string]types.AttributeValue) (bool, error) {
		sk := getString(item, attrSK)
		switch {
		case sk == skChange:
			c, err := decodeChange(item)
			if err != nil {
				return false, err
			}
			if s.ret.live(c.At(), now) {
				rec.Change, found = &c, true
			}
		case strings.HasPrefix(sk, "D#"):
			var d Delivery
			if err := decodeJSON(item, &d); err != nil {
				return false, err
			}
			if s.ret.live(d.At, now) {
				rec.Deliveries, found = append(rec.Deliveries, d), true
			}
		case strings.HasPrefix(sk, "P#"):
			var p Push
			if err := decodeJSON(item, &p); err != nil {
				return false, err
			}
			if s.ret.live(p.At, now) {
				rec.Pushes, found = append(rec.Pushes, p), true
			}
		}
		return true, nil
	})
	if err != nil {
		return EventRecord{}, false, fmt.Errorf("event %s: %w", id, err)
	}
	sortEventRecord(&rec)
	return rec, found, nil
}

func decodeJSON(item map[string]types.AttributeValue, v any) error {
	data, err := getData(item, attrData)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("eventlog: decode %s %s: %w", getString(item, attrPK), getString(item, attrSK), err)
	}
	return nil
}

// ItemHistory queries the byItem index: the item's changes in sequence
// order.
func (s *DynamoStore) ItemHistory(ctx context.Context, item ItemKey) ([]Change, error) {
	if item.IsZero() {
		return nil, badInput("no item key")
	}
	now := s.cfg.Now()
	var out []Change
	err := s.query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.cfg.Table),
		IndexName:                 aws.String(topology.EventLogByItem),
		KeyConditionExpression:    aws.String("#item = :item"),
		ExpressionAttributeNames:  map[string]string{"#item": attrItem},
		ExpressionAttributeValues: map[string]types.AttributeValue{":item": str(boundKey(item.String()))},
	}, func(it map[string]types.AttributeValue) (bool, error) {
		c, err := decodeChange(it)
		if err != nil {
			return false, err
		}
		if c.Item == item && s.ret.live(c.At(), now) {
			out = append(out, c)
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", item, err)
	}
	return out, nil
}

// Trace queries the byCorrelation index for the request's changes, then
// each change's partition for its deliveries and pushes.
func (s *DynamoStore) Trace(ctx context.Context, correlationID string) ([]TraceEntry, error) {
	if err := checkCorrelationID(correlationID); err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	var changes []Change
	err := s.query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.cfg.Table),
		IndexName:                 aws.String(topology.EventLogByCorrelation),
		KeyConditionExpression:    aws.String("#c = :c"),
		ExpressionAttributeNames:  map[string]string{"#c": attrCorr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":c": str(boundKey(correlationID))},
	}, func(it map[string]types.AttributeValue) (bool, error) {
		c, err := decodeChange(it)
		if err != nil {
			return false, err
		}
		if c.CorrelationID == correlationID && s.ret.live(c.At(), now) {
			changes = append(changes, c)
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("trace %s: %w", correlationID, err)
	}
	records := make(map[string]EventRecord, len(changes))
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errL []error
		sem  = make(chan struct{}, 8)
	)
	for _, c := range changes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			rec, _, err := s.eventRecord(ctx, c.ID)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errL = append(errL, err)
				return
			}
			records[c.ID] = rec
		}()
	}
	wg.Wait()
	if err := errors.Join(errL...); err != nil {
		return nil, fmt.Errorf("trace %s: %w", correlationID, err)
	}
	return traceOf(changes, records), nil
}

// days lists the UTC days from first to last, ascending or descending.
func days(first, last time.Time, desc bool) []time.Time {
	d0 := first.UTC().Truncate(24 * time.Hour)
	d1 := last.UTC().Truncate(24 * time.Hour)
	var out []time.Time
	for d := d0; !d.After(d1); d = d.Add(24 * time.Hour) {
		out = append(out, d)
	}
	if desc {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out
}

// window is the span of times a time index read covers: since (or the
// oldest retained time) to until (or a day past now, for clock skew).
func (s *DynamoStore) window(now, since, until time.Time) (time.Time, time.Time) {
	oldest := now.Add(-s.cfg.Retention)
	if since.IsZero() || since.Before(oldest) {
		since = oldest
	}
	if until.IsZero() {
		until = now.Add(24 * time.Hour)
	}
	return since, until
}

// shardCursor reads one time index partition page by page.
type shardCursor struct {
	s    *DynamoStore
	in   *dynamodb.QueryInput
	buf  []map[string]types.AttributeValue
	done bool
}

func (c *shardCursor) peek(ctx context.Context) (map[string]types.AttributeValue, error) {
	for len(c.buf) == 0 && !c.done {
		out, err := c.s.db.Query(ctx, c.in)
		if err != nil {
			return nil, fmt.Errorf("eventlog: query time index: %w", err)
		}
		c.buf = out.Items
		c.in.ExclusiveStartKey = out.LastEvaluatedKey
		c.done = len(out.LastEvaluatedKey) == 0
	}
	if len(c.buf) == 0 {
		return nil, nil
	}
	return c.buf[0], nil
}

// dayChanges yields a day's changes within [from, to) from every shard,
// merged in time order (or reverse time order).
func (s *DynamoStore) dayChanges(ctx context.Context, day, from, to time.Time, desc bool, pageSize int) iter.Seq2[map[string]types.AttributeValue, error] {
	return func(yield func(map[string]types.AttributeValue, error) bool) {
		cursors := make([]*shardCursor, s.cfg.TimeShards)
		for i := range cursors {
			cursors[i] = &shardCursor{s: s, in: &dynamodb.QueryInput{
				TableName:                aws.String(s.cfg.Table),
				IndexName:                aws.String(topology.EventLogByTime),
				KeyConditionExpression:   aws.String("#b = :b AND #at BETWEEN :from AND :to"),
				ExpressionAttributeNames: map[string]string{"#b": attrBucket, "#at": attrAt},
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":b":    str(s.bucket(day, i)),
					":from": str(timeKey(from)),
					":to":   str(timeKey(to)), // sorts before any key of that instant
				},
				ScanIndexForward: aws.Bool(!desc),
				Limit:            aws.Int32(int32(pageSize)),
			}}
		}
		// Every shard's first page at once: a day is one round trip.
		var wg sync.WaitGroup
		errL := make([]error, len(cursors))
		for i, c := range cursors {
			wg.Go(func() { _, errL[i] = c.peek(ctx) })
		}
		wg.Wait()
		if err := errors.Join(errL...); err != nil {
			yield(nil, err)
			return
		}
		for {
			best, bestAt := -1, ""
			for i, c := range cursors {
				item, err := c.peek(ctx)
				if err != nil {
					yield(nil, err)
					return
				}
				if item == nil {
					continue
				}
				at := getString(item, attrAt)
				if best < 0 || (!desc && at < bestAt) || (desc && at > bestAt) {
					best, bestAt = i, at
				}
			}
			if best < 0 {
				return
			}
			item := cursors[best].buf[0]
			cursors[best].buf = cursors[best].buf[1:]
			if !yield(item, nil) {
				return
			}
		}
	}
}

// Recent reads the time index from today backwards.
func (s *DynamoStore) Recent(ctx context.Context, q RecentQuery) ([]Change, error) {
	now := s.cfg.Now()
	limit := q.limit()
	from, to := s.window(now, q.Since, time.Time{})
	var out []Change
	for _, day := range days(from, to, true) {
		for item, err := range s.dayChanges(ctx, day, from, to, true, limit) {
			if err != nil {
				return nil, fmt.Errorf("recent changes: %w", err)
			}
			c, err := decodeChange(item)
			if err != nil {
				return nil, err
			}
			if !s.ret.live(c.At(), now) || c.At().Before(from) {
				continue
			}
			out = append(out, c)
			if len(out) == limit {
				return out, nil
			}
		}
	}
	return out, nil
}

// Changes reads the time index day by day, oldest first.
func (s *DynamoStore) Changes(ctx context.Context, f Filter) iter.Seq2[Change, error] {
	return func(yield func(Change, error) bool) {
		now := s.cfg.Now()
		from, to := s.window(now, f.Since, f.Until)
		for _, day := range days(from, to, false) {
			for item, err := range s.dayChanges(ctx, day, from, to, false, 500) {
				if err != nil {
					yield(Change{}, fmt.Errorf("changes: %w", err))
					return
				}
				c, err := decodeChange(item)
				if err != nil {
					yield(Change{}, err)
					return
				}
				if !s.ret.live(c.At(), now) || !f.Match(c) {
					continue
				}
				if !yield(c, nil) {
					return
				}
			}
		}
	}
}
