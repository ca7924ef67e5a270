package devruntime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// streamReader is one event source mapping on one table's stream.
type streamReader struct {
	rt      *Runtime
	name    string
	table   string
	h       StreamHandler
	streams streamsAPI
	log     *slog.Logger
	// wake is how writes made through the runtime's own AWS config cut
	// the pause after an empty poll short (see Runtime.wakeOnWrite).
	wake      wakeup
	wakeDelay time.Duration // see WakeDelay
}

func (r *Runtime) startReaderLocked(sr *streamReader) {
	ctx := r.runCtx
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		sr.run(ctx)
	}()
}

// run discovers the stream's shards and keeps one worker per open shard.
// A child shard starts only when its parent is finished, so records of one
// item are handled in order across a shard split.
func (sr *streamReader) run(ctx context.Context) {
	arn := sr.rt.Resources().Tables[sr.table].StreamARN
	sr.log = sr.log.With("stream", arn)
	var wg sync.WaitGroup
	defer wg.Wait()
	var mu sync.Mutex
	running := map[string]bool{}
	done := map[string]bool{}
	for {
		shards, err := sr.shards(ctx, arn)
		if err != nil && ctx.Err() == nil {
			sr.log.Warn("list shards", "error", err.Error())
		}
		known := map[string]bool{}
		for _, s := range shards {
			known[aws.ToString(s.ShardId)] = true
		}
		for _, s := range shards {
			id := aws.ToString(s.ShardId)
			mu.Lock()
			skip := running[id] || done[id]
			parent := aws.ToString(s.ParentShardId)
			waitParent := parent != "" && known[parent] && !done[parent]
			mu.Unlock()
			if skip || waitParent {
				continue
			}
			cp, err := sr.rt.cps.load(ctx, sr.name, id)
			if err != nil {
				if ctx.Err() == nil {
					sr.log.Warn("load checkpoint", "shard", id, "error", err.Error())
				}
				continue
			}
			mu.Lock()
			if cp.Done {
				done[id] = true
				mu.Unlock()
				continue
			}
			running[id] = true
			mu.Unlock()
			wg.Add(1)
			go func(s types.Shard) {
				defer wg.Done()
				finished := sr.readShard(ctx, arn, s, cp)
				mu.Lock()
				delete(running, id)
				if finished {
					done[id] = true
				}
				mu.Unlock()
			}(s)
		}
		if !sleep(ctx, sr.rt.cfg.ShardDiscoveryInterval) {
			return
		}
	}
}

func (sr *streamReader) shards(ctx context.Context, arn string) ([]types.Shard, error) {
	var out []types.Shard
	var start *string
	for {
		d, err := sr.streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(arn), ExclusiveStartShardId: start})
		if err != nil {
			return out, fmt.Errorf("describe stream: %w", err)
		}
		out = append(out, d.StreamDescription.Shards...)
		start = d.StreamDescription.LastEvaluatedShardId
		if start == nil {
			return out, nil
		}
	}
}

// readShard handles a shard from its checkpoint until it is closed and
// drained (true) or ctx is done (false).
func (sr *streamReader) readShard(ctx context.Context, arn string, s types.Shard, cp checkpoint) bool {
	id := aws.ToString(s.ShardId)
	log := sr.log.With("shard", id)
	closed := s.SequenceNumberRange != nil && s.SequenceNumberRange.EndingSequenceNumber != nil
	log.Debug("reading shard", "from", cp.Seq, "closed", closed)
	backoff := sr.rt.cfg.StreamRetryBackoff
	// next is an iterator at the checkpoint, asked for after an empty
	// poll so that a woken poll costs one call (GetRecords), not two.
	var next *string
	for ctx.Err() == nil {
		// Taken before the poll: a write that lands after the poll read
		// still wakes the pause below.
		woken := sr.wake.channel()
		recs, more, err := sr.poll(ctx, arn, id, cp.Seq, next)
		next = nil
		if err != nil {
			var trimmed *types.TrimmedDataAccessException
			if errors.As(err, &trimmed) && cp.Seq != "" {
				// The checkpoint is older than the stream's 24h retention:
				// what lay between is gone, on AWS too.
				log.Error("records past the checkpoint were trimmed; resuming at the oldest record", "checkpoint", cp.Seq)
				cp.Seq = ""
				continue
			}
			if ctx.Err() == nil {
				log.Warn("read shard", "error", err.Error())
			}
			sleep(ctx, backoff)
			continue
		}
		if len(recs) == 0 {
			if closed && more == nil {
				cp.Done = true
				if err := sr.rt.cps.save(context.WithoutCancel(ctx), sr.name, id, cp); err != nil {
					log.Warn("save checkpoint", "error", err.Error())
					return false
				}
				log.Info("shard finished")
				return true
			}
			// Asked for after this poll, never reused after the next: an
			// iterator some emulators strand (see poll) costs at most one
			// empty poll. On failure the next poll asks for its own.
			next, _ = sr.iterator(ctx, arn, id, cp.Seq)
			sleepOrWake(ctx, sr.rt.cfg.StreamPollInterval, sr.wakeDelay, woken)
			continue
		}
		seq, ok := sr.deliver(ctx, arn, id, log, recs, cp.Seq)
		cp.Seq = seq
		if !ok {
			return false
		}
	}
	return false
}

// poll reads the next records after seq, with it when given an iterator
// at seq. Each iterator serves one poll: some emulators strand iterators
// handed out before a failed transaction, so none is followed from one
// poll to the next (NextShardIterator is not used).
func (sr *streamReader) poll(ctx context.Context, arn, shard, seq string, it *string) ([]types.Record, *string, error) {
	if it == nil {
		var err error
		if it, err = sr.iterator(ctx, arn, shard, seq); err != nil {
			return nil, nil, err
		}
	}
	if it == nil {
		return nil, nil, nil
	}
	out, err := sr.streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: it, Limit: aws.Int32(int32(sr.rt.cfg.StreamBatchSize))})
	if err != nil {
		return nil, nil, fmt.Errorf("get records: %w", err)
	}
	return out.Records, out.NextShardIterator, nil
}

// iterator is a fresh iterator just after seq, or at the oldest record
// when seq is empty; nil for a closed shard read to its end.
func (sr *streamReader) iterator(ctx context.Context, arn, shard, seq string) (*string, error) {
	in := &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(arn), ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeTrimHorizon}
	if seq != "" {
		in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
		in.SequenceNumber = aws.String(seq)
	}
	it, err := sr.streams.GetShardIterator(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("shard iterator: %w", err)
	}
	return it.ShardIterator, nil
}

// deliver calls the handler with recs until every record succeeded (or was
// given up after StreamMaxAttempts), checkpointing after each call what
// succeeded. It returns the new checkpoint and false when ctx ended first.
func (sr *streamReader) deliver(ctx context.Context, arn, shard string, log *slog.Logger, recs []types.Record, seq string) (string, bool) {
	batch := make([]events.DynamoDBEventRecord, 0, len(recs))
	for _, rec := range recs {
		er, err := streamRecord(rec, arn, sr.rt.cfg.AWS.Region)
		if err != nil {
			// Cannot happen with the SDK's closed union; keep the record
			// rather than drop it silently.
			log.Error("convert record", "error", err.Error())
		}
		batch = append(batch, er)
	}
	backoff := sr.rt.cfg.StreamRetryBackoff
	for attempt := 1; ; attempt++ {
		failedFrom, err := sr.invoke(ctx, batch)
		ids := make([]string, len(batch))
		for i, r := range batch {
			ids[i] = r.EventID
		}
		if failedFrom == len(batch) {
			log.Debug("stream batch handled", "eventIds", ids, "attempt", attempt, "outcome", "ok", "lastSeq", batch[len(batch)-1].Change.SequenceNumber)
		} else {
			log.Warn("stream batch failed", "eventIds", ids, "attempt", attempt, "outcome", "retry", "handled", failedFrom, "failedEventId", batch[failedFrom].EventID, "error", errString(err))
		}
		if failedFrom > 0 {
			seq = batch[failedFrom-1].Change.SequenceNumber
			if err := sr.rt.cps.save(context.WithoutCancel(ctx), sr.name, shard, checkpoint{Seq: seq}); err != nil {
				// The records will be handled again after a restart; at
				// least once still holds.
				log.Warn("save checkpoint", "error", err.Error())
			}
			batch = batch[failedFrom:]
			attempt, backoff = 1, sr.rt.cfg.StreamRetryBackoff
		}
		if len(batch) == 0 {
			return seq, true
		}
		if max := sr.rt.cfg.StreamMaxAttempts; max > 0 && attempt >= max {
			skipped := batch[0]
			log.Error("stream record given up after max attempts; skipped", "eventId", skipped.EventID, "seq", skipped.Change.SequenceNumber, "attempts", attempt, "outcome", "discarded")
			seq = skipped.Change.SequenceNumber
			if err := sr.rt.cps.save(context.WithoutCancel(ctx), sr.name, shard, checkpoint{Seq: seq}); err != nil {
				log.Warn("save checkpoint", "error", err.Error())
			}
			batch = batch[1:]
			attempt, backoff = 0, sr.rt.cfg.StreamRetryBackoff
			if len(batch) == 0 {
				return seq, true
			}
			continue
		}
		if !sleep(ctx, backoff) {
			return seq, false
		}
		backoff = min(2*backoff, sr.rt.cfg.StreamMaxBackoff)
	}
}

// invoke calls the handler like Lambda would and returns how many records
// from the start of the batch succeeded: all of them, none (an error or a
// panic), or those before the first reported failure.
func (sr *streamReader) invoke(ctx context.Context, batch []events.DynamoDBEventRecord) (handled int, err error) {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sr.rt.cfg.StreamHandlerTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			sr.log.Error("stream handler panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			handled, err = 0, fmt.Errorf("handler panic: %v", p)
		}
	}()
	resp, err := sr.h(hctx, events.DynamoDBEvent{Records: batch})
	if err != nil {
		return 0, err
	}
	if len(resp.BatchItemFailures) == 0 {
		return len(batch), nil
	}
	first := len(batch)
	for _, f := range resp.BatchItemFailures {
		i := indexOfSeq(batch, f.ItemIdentifier)
		if i < 0 {
			// As on AWS: an unknown or empty identifier fails the whole batch.
			return 0, fmt.Errorf("batch item failure names unknown sequence number %q", f.ItemIdentifier)
		}
		first = min(first, i)
	}
	return first, fmt.Errorf("handler reported %d failed records", len(resp.BatchItemFailures))
}

func indexOfSeq(batch []events.DynamoDBEventRecord, seq string) int {
	for i, r := range batch {
		if seq != "" && r.Change.SequenceNumber == seq {
			return i
		}
	}
	return -1
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
