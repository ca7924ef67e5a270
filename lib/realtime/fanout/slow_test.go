package fanout

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"

	"github.com/threefactor/framework/lib/realtime/store"
)

// stallingAPI never answers for the "slow" connection (until its call's
// context ends) and answers the others at once; it records the order in
// which calls finish and the most calls in flight.
type stallingAPI struct {
	mu          sync.Mutex
	seq         int
	finished    map[string]int // connection -> sequence number of its last finished call
	slowCalls   int
	slowBudget  time.Duration // time the slow call's context left it
	inFlight    int
	maxInFlight int
}

func (a *stallingAPI) DeleteConnection(context.Context, *apigatewaymanagementapi.DeleteConnectionInput, ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.DeleteConnectionOutput, error) {
	return &apigatewaymanagementapi.DeleteConnectionOutput{}, nil
}

func (a *stallingAPI) PostToConnection(ctx context.Context, in *apigatewaymanagementapi.PostToConnectionInput, _ ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.PostToConnectionOutput, error) {
	a.mu.Lock()
	a.inFlight++
	a.maxInFlight = max(a.maxInFlight, a.inFlight)
	slow := *in.ConnectionId == "slow"
	if slow {
		a.slowCalls++
		if dl, ok := ctx.Deadline(); ok {
			a.slowBudget = time.Until(dl)
		} else {
			a.slowBudget = -1
		}
	}
	a.mu.Unlock()
	var err error
	if slow {
		<-ctx.Done() // a call that hangs, as a throttled or stuck API call would
		err = ctx.Err()
	}
	a.mu.Lock()
	a.inFlight--
	a.seq++
	a.finished[*in.ConnectionId] = a.seq
	a.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return &apigatewaymanagementapi.PostToConnectionOutput{}, nil
}

// TestSlowPostHoldsUpNobody: a PostToConnection call that hangs for one
// connection is abandoned after PostTimeout, is not retried, and the
// change's other pushes go out meanwhile through the remaining slots.
func TestSlowPostHoldsUpNobody(t *testing.T) {
	subs := []store.Subscription{sub("slow", "1", "i1", "")}
	for i := range 20 {
		subs = append(subs, sub(fmt.Sprintf("c%d", i), "1", "i1", ""))
	}
	api := &stallingAPI{finished: map[string]int{}}
	st := &fakeStore{subs: map[string][]store.Subscription{"item:i1": subs}}
	f := newFanout(t, st, nil, &rootResolver{}, func(c *Config) {
		c.Management, c.Concurrency, c.PostTimeout = api, 4, 300*time.Millisecond
	})
	done := make(chan Stats, 1)
	go func() {
		stats, err := f.Publish(context.Background(), itemEvent("i1", "PAID"))
		if err != nil {
			t.Error(err)
		}
		done <- stats
	}()
	var stats Stats
	select {
	case stats = <-done:
	case <-time.After(time.Minute):
		t.Fatal("Publish waited on a connection whose post never answers")
	}
	if stats.Pushed != 20 || stats.Kept != 1 {
		t.Fatalf("stats = %+v, want 20 pushed and the slow one failed", stats)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if api.slowCalls != 1 {
		t.Fatalf("the slow connection got %d calls: a timed-out post must not be retried", api.slowCalls)
	}
	if api.slowBudget <= 0 || api.slowBudget > 300*time.Millisecond {
		t.Fatalf("the slow call had %v to answer, want a deadline of at most PostTimeout", api.slowBudget)
	}
	for i := range 20 {
		if c := fmt.Sprintf("c%d", i); api.finished[c] > api.finished["slow"] {
			t.Fatalf("%s was pushed after the slow call gave up: it waited on it", c)
		}
	}
	if api.maxInFlight > 4 {
		t.Fatalf("%d posts in flight, over Concurrency 4", api.maxInFlight)
	}
}
