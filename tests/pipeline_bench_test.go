package tests

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/threefactor/framework/lib/benchfig"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/topology"
	"github.com/threefactor/framework/tests/harness"
)

// eventsPerOp is how many events one benchmark operation moves: enough
// for a throughput, not a latency, even at b.N = 1.
const eventsPerOp = 100

var benchRun atomic.Int64

// BenchmarkPipeline measures events per second through the whole local
// pipeline: PutItem -> stream -> router -> PutEvents -> rule -> SQS ->
// consumer, on the emulator.
func BenchmarkPipeline(b *testing.B) {
	p := newPipeline(b, "pipebench")
	var handled atomic.Int64
	p.Consume(b, "bulk", false, func(context.Context, change.Event) error {
		handled.Add(1)
		return nil
	})
	p.Start(b)
	prefix := fmt.Sprintf("r%d-", benchRun.Add(1))
	total := int64(b.N * eventsPerOp)

	b.ResetTimer()
	start := time.Now()
	ids := make(chan string)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				put(b, p, id, map[string]string{"kind": "bulk"})
			}
		}()
	}
	for i := int64(0); i < total; i++ {
		ids <- prefix + strconv.FormatInt(i, 10)
	}
	close(ids)
	wg.Wait()
	harness.WaitFor(b, 10*time.Minute, "every event handled", func() bool { return handled.Load() >= total })
	elapsed := time.Since(start)
	b.StopTimer()

	eps := float64(total) / elapsed.Seconds()
	b.ReportMetric(eps, "events/s")
	benchfig.Record("pipeline_events_per_s", eps, "events/s")
}

// BenchmarkPipelineBaselineSQS is the baseline for BenchmarkPipeline on the
// same emulator in the same run: messages per second through one queue
// alone, sent, received and deleted in batches of ten as the pipeline's
// last hop does. The pipeline's figure over this one is the cost of the
// stream, the router and the bus relative to one queue hop.
func BenchmarkPipelineBaselineSQS(b *testing.B) {
	ctx := context.Background()
	c := sqs.NewFromConfig(emulatortest.Config(b))
	q, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("pipebench-baseline")})
	if err != nil {
		b.Fatal(err)
	}
	url := q.QueueUrl
	total := b.N * eventsPerOp

	b.ResetTimer()
	start := time.Now()
	// Batch by batch, as messages flow through the pipeline's queues: the
	// queue stays shallow (moto's receive slows down with queue depth).
	for sent := 0; sent < total; {
		n := min(10, total-sent)
		entries := make([]sqstypes.SendMessageBatchRequestEntry, n)
		for i := range entries {
			entries[i] = sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(`{"detail":{"id":"` + strconv.Itoa(sent+i) + `"}}`)}
		}
		if _, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: url, Entries: entries}); err != nil {
			b.Fatal(err)
		}
		sent += n
		for got := 0; got < n; {
			r, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
			if err != nil {
				b.Fatal(err)
			}
			if len(r.Messages) == 0 {
				continue
			}
			del := make([]sqstypes.DeleteMessageBatchRequestEntry, len(r.Messages))
			for i, m := range r.Messages {
				del[i] = sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
			}
			if _, err := c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: url, Entries: del}); err != nil {
				b.Fatal(err)
			}
			got += len(r.Messages)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()

	mps := float64(total) / elapsed.Seconds()
	b.ReportMetric(mps, "msgs/s")
	benchfig.Record("pipeline_baseline_sqs_msgs_per_s", mps, "msgs/s")
}

// loggedCounter counts the distinct changes the eventlog function writes.
type loggedCounter struct {
	l   *eventlog.FileStore
	ids sync.Map
	n   atomic.Int64
}

func (c *loggedCounter) WriteChanges(ctx context.Context, events ...change.Event) error {
	if err := c.l.WriteChanges(ctx, events...); err != nil {
		return err
	}
	for _, e := range events {
		if _, dup := c.ids.LoadOrStore(e.ID, true); !dup {
			c.n.Add(1)
		}
	}
	return nil
}

// BenchmarkPipelineEventLog measures what the event log costs the local
// pipeline: events per second through PutItem -> stream -> router ->
// PutEvents -> rule -> SQS -> consumer, with the log on (the eventlog
// route's rule, queue and function writing every change to the file
// store, the consumer recording every delivery) and off (an app with
// DisableEventLog), in the same run. The two pipelines take turns, a
// round of eventsPerOp events each, so that both see the same machine;
// an event counts as through when its function handled it and, with the
// log on, when it is logged too.
func BenchmarkPipelineEventLog(b *testing.B) {
	type side struct {
		p       *harness.Pipeline
		handled atomic.Int64
		logged  *loggedCounter
		elapsed time.Duration
		total   int64
	}
	newSide := func(app string, logged bool) *side {
		topo := pipelineTopology(app)
		topo.DisableEventLog = !logged
		s := &side{p: harness.New(b, harness.FastConfig(emulatortest.Config(b), topo))}
		if logged {
			l, err := eventlog.OpenFileStore(eventlog.LocalDir(b.TempDir()), eventlog.FileConfig{Topology: topo, Logger: harness.Logger()})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = l.Close() })
			s.logged = &loggedCounter{l: l}
			feed, err := eventlog.NewFeed(s.logged, harness.Logger())
			if err != nil {
				b.Fatal(err)
			}
			s.p.RT.QueueConsumer(topology.EventLogRoute, feed.Handle)
			s.p.Log = l
		}
		s.p.Consume(b, "bulk", false, func(context.Context, change.Event) error {
			s.handled.Add(1)
			return nil
		})
		s.p.Start(b)
		return s
	}
	off, on := newSide("benchlogoff", false), newSide("benchlogon", true)
	prefix := fmt.Sprintf("r%d-", benchRun.Add(1))
	round := func(s *side, r int) {
		start := time.Now()
		ids := make(chan string)
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for id := range ids {
					put(b, s.p, id, map[string]string{"kind": "bulk"})
				}
			}()
		}
		for i := 0; i < eventsPerOp; i++ {
			ids <- fmt.Sprintf("%s%d-%d", prefix, r, i)
		}
		close(ids)
		wg.Wait()
		s.total += eventsPerOp
		harness.WaitFor(b, 10*time.Minute, "every event through", func() bool {
			return s.handled.Load() >= s.total && (s.logged == nil || s.logged.n.Load() >= s.total)
		})
		s.elapsed += time.Since(start)
	}
	b.ResetTimer()
	for r := 0; r < b.N; r++ {
		round(off, r)
		round(on, r)
	}
	b.StopTimer()
	offEPS := float64(off.total) / off.elapsed.Seconds()
	onEPS := float64(on.total) / on.elapsed.Seconds()
	b.ReportMetric(onEPS, "events/s")
	b.ReportMetric(onEPS/offEPS, "ratio")
	benchfig.Record("eventlog_pipeline_events_per_s", onEPS, "events/s")
	benchfig.Record("eventlog_pipeline_baseline_no_log_events_per_s", offEPS, "events/s")
	benchfig.Record("eventlog_overhead_ratio", onEPS/offEPS, "ratio")
}
