package load

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/threefactor/framework/lib/topology"
)

func TestPercentiles(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	p := percentiles(ds)
	if p.N != 100 || p.P50 != 51 || p.P99 != 99 || p.Max != 100 {
		t.Fatalf("%+v", p)
	}
	if (percentiles(nil) != Percentiles{}) {
		t.Fatal("percentiles of nothing")
	}
}

func TestConfigValidate(t *testing.T) {
	err := Config{}.Validate()
	for _, w := range []string{"no GraphQL URL", "no token source", "must be positive"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Validate() = %v, want it to say %q", err, w)
		}
	}
	ok := Config{GraphQLURL: "http://x/graphql", Token: func(int) (string, error) { return "t", nil }, Rate: 1, Duration: time.Second}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestParseDeadLetterQueues(t *testing.T) {
	qs, err := ParseDeadLetterQueues("DLQA=https://sqs.eu-west-1.amazonaws.com/1/a, PushDLQ=https://sqs.eu-west-1.amazonaws.com/1/p.fifo")
	if err != nil || len(qs) != 2 || qs[1] != (DeadLetterQueue{"PushDLQ", "https://sqs.eu-west-1.amazonaws.com/1/p.fifo"}) {
		t.Fatalf("%+v, %v", qs, err)
	}
	for _, bad := range []string{"", "x", "a=http://plain", "=https://sqs"} {
		if _, err := ParseDeadLetterQueues(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestLocalDeadLetterQueues(t *testing.T) {
	topo := topology.Topology{App: "shop", Routes: []topology.Route{{Name: "ship"}, {Name: "bill"}}}
	var names []string
	for _, q := range LocalDeadLetterQueues(topo) {
		names = append(names, q.Name)
	}
	if got := strings.Join(names, " "); got != "shop-ship-dlq shop-bill-dlq shop-eventlog-dlq shop-push-dlq.fifo" {
		t.Fatalf("%s", got)
	}
}

type fakeSQS struct{ depth map[string][2]string }

func (f fakeSQS) GetQueueUrl(_ context.Context, in *sqs.GetQueueUrlInput, _ ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) {
	if _, ok := f.depth["url/"+*in.QueueName]; !ok {
		return nil, errors.New("no such queue")
	}
	return &sqs.GetQueueUrlOutput{QueueUrl: aws.String("url/" + *in.QueueName)}, nil
}

func (f fakeSQS) GetQueueAttributes(_ context.Context, in *sqs.GetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	d := f.depth[*in.QueueUrl]
	return &sqs.GetQueueAttributesOutput{Attributes: map[string]string{
		"ApproximateNumberOfMessages": d[0], "ApproximateNumberOfMessagesNotVisible": d[1],
	}}, nil
}

// TestDLQDepths: visible and in-flight messages count; a queue is found by
// URL or by name; a missing one is an error that names it, and the others
// are still read.
func TestDLQDepths(t *testing.T) {
	f := fakeSQS{depth: map[string][2]string{"url/a": {"2", "1"}, "https://q/b": {"0", "0"}}}
	got, err := DLQDepths(context.Background(), f, []DeadLetterQueue{{Name: "a"}, {Name: "b", URL: "https://q/b"}, {Name: "gone"}})
	if err == nil || !strings.Contains(err.Error(), "gone") {
		t.Fatalf("err = %v, want the missing queue named", err)
	}
	if got["a"] != 3 || got["b"] != 0 || len(got) != 2 {
		t.Fatalf("depths %v", got)
	}
	r := Report{DeadLetters: map[string]int{"a": 3, "b": 0}, DeadLettersBefore: map[string]int{"a": 1, "b": 0}}
	if r.NewDeadLetters() != 2 {
		t.Fatalf("new dead letters %d, want 2", r.NewDeadLetters())
	}
}
