package replay

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/topology"
)

// Source is the part of the event log replay reads (an eventlog.Log, or
// a read-only FileStore).
type Source interface {
	Changes(ctx context.Context, f eventlog.Filter) iter.Seq2[eventlog.Change, error]
	Event(ctx context.Context, id string) (eventlog.EventRecord, error)
}

// tableAPI is the part of the DynamoDB client Restore uses.
type tableAPI interface {
	scanAPI
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// RestoreOptions configure Restore.
type RestoreOptions struct {
	// Topology is the app's: its tables' key schemas.
	Topology topology.Topology
	// Tables maps each table to restore (logical name) to its physical
	// name in the target environment. Tables of the log not named here
	// are left out; an app table with no change in the log is restored
	// empty.
	Tables map[string]string
	// Until, when set, restores the state as of that time: changes at or
	// after it are left out.
	Until time.Time
	// Publish writes the items without the restore marker: the stream
	// router publishes each as a change (INSERT), so routes and
	// subscriptions see them as new. By default a restore runs nothing.
	Publish bool
	// AllowNonEmpty restores into tables that already hold items: the
	// log's items are written over them, others are left. By default a
	// table that is not empty is refused (errs.FailedPrecondition).
	AllowNonEmpty bool
	// Parallel is how many BatchWriteItem calls run at once; default 4.
	Parallel int
	// Logger reports progress; default slog.Default().
	Logger *slog.Logger
}

// RestoreResult says what a restore did.
type RestoreResult struct {
	// Changes is how many logged changes were read.
	Changes int `json:"changes"`
	// Items is how many items were written.
	Items int `json:"items"`
	// Removed is how many logged items the log shows deleted: not
	// written.
	Removed int `json:"removed"`
	// Reduced lists the items whose latest logged change has no image
	// (it was too large to log whole): they are not restored.
	Reduced []string `json:"reduced,omitempty"`
	// Expected is the digest of the state the log describes: the target
	// tables' digest equals it after a complete restore.
	Expected Digest `json:"expected"`
	// Took is how long it took.
	Took time.Duration `json:"-"`
}

// Restore writes the state the log describes into the target tables: for
// each item, the new image of its latest logged change (by stream
// sequence number), unless that change removed it. Each item is written
// twice, both writes recognized by the router and the fan-out as a
// restore's (change.IsRestoreWrite): first with the restore marker, then
// exactly as logged.
//
// The state is complete when the log holds the latest change of every
// item: locally (kept until make dev-clean) it does; in the cloud an item
// unchanged for longer than the retention is not in the log any more.
// Items whose latest change was logged without images are reported in
// Reduced, not guessed.
func Restore(ctx context.Context, src Source, db tableAPI, o RestoreOptions) (RestoreResult, error) {
	start := time.Now()
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	var res RestoreResult
	if len(o.Tables) == 0 {
		return res, errs.New(errs.BadUserInput, "replay: no tables to restore")
	}
	for logical := range o.Tables {
		if _, ok := o.Topology.Table(logical); !ok {
			return res, errs.Newf(errs.BadUserInput, "replay: table %q is not the app's", logical)
		}
	}
	if !o.AllowNonEmpty {
		for _, logical := range sortedKeys(o.Tables) {
			out, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(o.Tables[logical]), Limit: aws.Int32(1)})
			if err != nil {
				return res, fmt.Errorf("replay: scan %s: %w", o.Tables[logical], err)
			}
			if len(out.Items) > 0 {
				return res, errs.Newf(errs.FailedPrecondition, "replay: table %s (%s) is not empty: restore into empty tables", logical, o.Tables[logical])
			}
		}
	}

	// The latest change of each item.
	latest := map[eventlog.ItemKey]*eventlog.Change{}
	seqs := map[eventlog.ItemKey]string{}
	f := eventlog.Filter{Until: o.Until, Tables: sortedKeys(o.Tables)}
	for c, err := range src.Changes(ctx, f) {
		if err != nil {
			return res, fmt.Errorf("replay: read the log: %w", err)
		}
		res.Changes++
		seq := padSeq(c.SequenceNumber)
		if prev, ok := seqs[c.Item]; ok && prev >= seq {
			continue
		}
		seqs[c.Item] = seq
		latest[c.Item] = &c
	}

	// The items to write, by table.
	state := map[string][]map[string]types.AttributeValue{}
	for logical := range o.Tables {
		state[logical] = nil
	}
	keys := make([]eventlog.ItemKey, 0, len(latest))
	for k := range latest {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b eventlog.ItemKey) int { return strings.Compare(a.String(), b.String()) })
	for _, k := range keys {
		c := latest[k]
		switch {
		case c.Operation == topology.Remove:
			res.Removed++
			continue
		case c.Reduced || len(c.New) == 0:
			res.Reduced = append(res.Reduced, k.String())
			continue
		}
		tb, _ := o.Topology.Table(c.Table)
		item, err := ItemFromImage(tb, c.New)
		if err != nil {
			return res, fmt.Errorf("replay: item %s (event %s): %w", k, c.ID, err)
		}
		state[c.Table] = append(state[c.Table], item)
	}
	res.Expected = DigestOf(state)

	// Write them: marked, then exactly as logged.
	runID := correlation.NewID()[:12]
	var reqs []pendingWrite
	for _, logical := range sortedKeys(state) {
		for i, item := range state[logical] {
			reqs = append(reqs, pendingWrite{table: o.Tables[logical], item: item, mark: runID + "/" + strconv.Itoa(i)})
		}
	}
	if err := writeAll(ctx, db, reqs, o); err != nil {
		return res, err
	}
	res.Items = len(reqs)
	res.Took = time.Since(start)
	o.Logger.Info("restored from the event log", "changes", res.Changes, "items", res.Items, "removed", res.Removed,
		"reduced", len(res.Reduced), "took", res.Took.String())
	return res, nil
}

// padSeq makes sequence numbers (up to 40 digits) compare as numbers.
func padSeq(s string) string {
	s = strings.TrimLeft(s, "0")
	if len(s) >= 40 {
		return s
	}
	return strings.Repeat("0", 40-len(s)) + s
}

type pendingWrite struct {
	table string
	item  map[string]types.AttributeValue
	mark  string
}

// writeAll writes each item in chunks of 25: the chunk with the restore
// marker, then (unless Publish) the same chunk without it.
func writeAll(ctx context.Context, db tableAPI, reqs []pendingWrite, o RestoreOptions) error {
	const perCall = 25
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errL []error
		sem  = make(chan struct{}, o.Parallel)
	)
	for startAt := 0; startAt < len(reqs); startAt += perCall {
		chunk := reqs[startAt:min(startAt+perCall, len(reqs))]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			var err error
			if o.Publish {
				err = batchPut(ctx, db, chunk, false)
			} else if err = batchPut(ctx, db, chunk, true); err == nil {
				err = batchPut(ctx, db, chunk, false)
			}
			if err != nil {
				mu.Lock()
				errL = append(errL, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errL...)
}

// batchPut puts a chunk of items (at most 25), with or without the
// restore marker, and puts again what DynamoDB leaves unprocessed.
func batchPut(ctx context.Context, db tableAPI, chunk []pendingWrite, marked bool) error {
	byTable := map[string][]types.WriteRequest{}
	for _, w := range chunk {
		item := w.item
		if marked {
			item = make(map[string]types.AttributeValue, len(w.item)+1)
			for k, v := range w.item {
				item[k] = v
			}
			item[change.RestoreAttribute] = &types.AttributeValueMemberS{Value: w.mark}
		}
		byTable[w.table] = append(byTable[w.table], types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
	}
	pending := byTable
	delay := 25 * time.Millisecond
	for attempt := 0; len(pending) > 0; attempt++ {
		out, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
		if err != nil {
			return fmt.Errorf("replay: write %d items: %w", len(chunk), err)
		}
		pending = out.UnprocessedItems
		if len(pending) == 0 {
			return nil
		}
		if attempt >= 8 {
			return fmt.Errorf("replay: items still unprocessed after %d attempts (throttled)", attempt+1)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
	return nil
}

// ItemFromImage turns a change event's image (plain JSON) back into a
// DynamoDB item: strings, numbers (digit for digit), booleans, null,
// lists and maps as themselves; the table's key attributes as their
// declared types (a binary key, base64 in the image, as binary).
//
// Images do not say whether an array was a list or a set, or a string
// binary data, so a non-key set comes back as a list and non-key binary
// data as a base64 string; DigestTables tells such a table apart from
// its source.
func ItemFromImage(tb topology.Table, image json.RawMessage) (map[string]types.AttributeValue, error) {
	d := json.NewDecoder(bytes.NewReader(image))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil || m == nil {
		return nil, fmt.Errorf("image is not a JSON object: %v", err)
	}
	item := make(map[string]types.AttributeValue, len(m))
	for k, v := range m {
		item[k] = attributeValue(v)
	}
	for _, key := range []*topology.Key{&tb.PartitionKey, tb.SortKey} {
		if key == nil {
			continue
		}
		v, ok := m[key.Name]
		if !ok {
			return nil, fmt.Errorf("image has no key attribute %q", key.Name)
		}
		av, err := keyValue(*key, v)
		if err != nil {
			return nil, err
		}
		item[key.Name] = av
	}
	return item, nil
}

func attributeValue(v any) types.AttributeValue {
	switch x := v.(type) {
	case string:
		return &types.AttributeValueMemberS{Value: x}
	case json.Number:
		return &types.AttributeValueMemberN{Value: x.String()}
	case bool:
		return &types.AttributeValueMemberBOOL{Value: x}
	case nil:
		return &types.AttributeValueMemberNULL{Value: true}
	case []any:
		l := make([]types.AttributeValue, len(x))
		for i, e := range x {
			l[i] = attributeValue(e)
		}
		return &types.AttributeValueMemberL{Value: l}
	case map[string]any:
		m := make(map[string]types.AttributeValue, len(x))
		for k, e := range x {
			m[k] = attributeValue(e)
		}
		return &types.AttributeValueMemberM{Value: m}
	}
	return &types.AttributeValueMemberNULL{Value: true}
}

func keyValue(key topology.Key, v any) (types.AttributeValue, error) {
	switch key.Type {
	case topology.Number:
		if n, ok := v.(json.Number); ok {
			return &types.AttributeValueMemberN{Value: n.String()}, nil
		}
	case topology.Binary:
		if s, ok := v.(string); ok {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, fmt.Errorf("key %q: not base64: %v", key.Name, err)
			}
			return &types.AttributeValueMemberB{Value: b}, nil
		}
	default:
		if s, ok := v.(string); ok {
			return &types.AttributeValueMemberS{Value: s}, nil
		}
	}
	return nil, fmt.Errorf("key %q: %v is not of type %s", key.Name, v, key.Type)
}
