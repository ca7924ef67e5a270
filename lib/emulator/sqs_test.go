package emulator_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Concurrent receivers of one queue (a route's two pollers, say) never
// get the same message while it is invisible, as on SQS. moto marks a
// message received after checking that it is visible, without a lock,
// so on its threaded server two receives could both get it; the
// emulator receives from a queue one call at a time.
func TestConcurrentReceivesGetEachMessageOnce(t *testing.T) {
	ctx := context.Background()
	cfg := startEmulator(t)
	q := sqs.NewFromConfig(cfg)
	out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("once"), Attributes: map[string]string{"VisibilityTimeout": "300"}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	for start := 0; start < n; start += 10 {
		var entries []sqstypes.SendMessageBatchRequestEntry
		for i := start; i < start+10; i++ {
			entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String(fmt.Sprint(i))})
		}
		if _, err := q.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: out.QueueUrl, Entries: entries}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu   sync.Mutex
		got  = map[string]int{}
		wg   sync.WaitGroup
		errc = make(chan error, 8)
	)
	for range 8 {
		wg.Go(func() {
			for {
				r, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: out.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
				if err != nil {
					errc <- err
					return
				}
				if len(r.Messages) == 0 {
					return
				}
				mu.Lock()
				for _, m := range r.Messages {
					got[aws.ToString(m.Body)]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	twice := 0
	for _, c := range got {
		if c > 1 {
			twice++
		}
	}
	if len(got) != n || twice > 0 {
		t.Fatalf("%d of %d messages received, %d of them more than once", len(got), n, twice)
	}
}
