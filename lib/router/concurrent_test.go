package router

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
)

// slowBus answers through a fakeBus after a random pause taken outside
// its lock, so that concurrent calls overlap and finish out of order; it
// records the most calls in flight.
type slowBus struct {
	*fakeBus
	rng         func(n int) int
	mu          sync.Mutex
	inFlight    int
	maxInFlight int
}

func (b *slowBus) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	b.mu.Lock()
	b.inFlight++
	b.maxInFlight = max(b.maxInFlight, b.inFlight)
	pause := time.Duration(b.rng(3000)) * time.Microsecond
	b.mu.Unlock()
	defer func() { b.mu.Lock(); b.inFlight--; b.mu.Unlock() }()
	time.Sleep(pause)
	return b.fakeBus.PutEvents(ctx, in, opts...)
}

// TestConcurrentPublishingKeepsTheAcknowledgementRule: calls of a batch
// in flight together, finishing in any order, with entries and whole
// calls failing in the middle of the batch. Each response may acknowledge
// only records that are on the bus (everything before the reported one),
// the reported record is one that is not, and a mapping that redelivers
// from the reported record gets every record of the stream on the bus:
// nothing is lost.
func TestConcurrentPublishingKeepsTheAcknowledgementRule(t *testing.T) {
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 11))
		var rngMu sync.Mutex
		intn := func(n int) int { rngMu.Lock(); defer rngMu.Unlock(); return rng.IntN(n) }
		bus := &slowBus{fakeBus: newFakeBus(), rng: intn}
		failP := []int{0, 5, 20, 40}[seed%4] // percent of entry attempts failing
		bus.fail = func(string, int) string {
			if intn(100) < failP {
				return "InternalFailure"
			}
			return ""
		}
		bus.callErr = func(int) error {
			if intn(10) == 0 {
				return fmt.Errorf("connection reset")
			}
			return nil
		}
		r := newRouter(t, bus, nil)
		stream := batchOf(40+intn(160), 0).Records
		next, handles := 0, 0
		for next < len(stream) {
			if handles++; handles > 500 {
				t.Fatalf("seed %d: no progress after %d deliveries (at record %d)", seed, handles, next)
			}
			batch := stream[next:min(next+100, len(stream))]
			before := map[string]bool{}
			for id := range bus.published { // no call is in flight between deliveries
				before[id] = true
			}
			resp, err := r.Handle(context.Background(), events.DynamoDBEvent{Records: batch})
			if err != nil {
				t.Fatal(err)
			}
			acked := len(batch)
			if f := failures(resp); len(f) > 0 {
				if len(f) != 1 {
					t.Fatalf("seed %d: %d failures reported, want the earliest only", seed, len(f))
				}
				acked = -1
				for i, rec := range batch {
					if rec.Change.SequenceNumber == f[0] {
						acked = i
					}
				}
				if acked < 0 {
					t.Fatalf("seed %d: reported %s is not in the batch", seed, f[0])
				}
				if id := batch[acked].EventID; bus.published[id] && !before[id] {
					t.Errorf("seed %d: reported record %s was published by this delivery", seed, id)
				}
			}
			for i := range acked {
				if !bus.published[batch[i].EventID] {
					t.Fatalf("seed %d: record %s acknowledged but never published", seed, batch[i].EventID)
				}
			}
			next += acked
		}
		for _, rec := range stream {
			if !bus.published[rec.EventID] {
				t.Fatalf("seed %d: record %s lost", seed, rec.EventID)
			}
		}
		if len(stream) > 2*MaxEntriesPerCall && bus.maxInFlight < 2 {
			t.Errorf("seed %d: at most %d call in flight: the batch was not published concurrently", seed, bus.maxInFlight)
		}
	}
}

// TestConcurrencyIsBounded: no more calls in flight than Concurrency, and
// Concurrency 1 publishes one call after another.
func TestConcurrencyIsBounded(t *testing.T) {
	for _, c := range []int{1, 3} {
		bus := &slowBus{fakeBus: newFakeBus(), rng: func(n int) int { return n - 1 }}
		r := newRouter(t, bus, nil)
		r.cfg.Concurrency = c
		resp, err := r.Handle(context.Background(), batchOf(100, 0))
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("concurrency %d: %+v, %v", c, resp, err)
		}
		if bus.maxInFlight != c || len(bus.published) != 100 {
			t.Errorf("concurrency %d: %d calls in flight, %d published", c, bus.maxInFlight, len(bus.published))
		}
	}
}
