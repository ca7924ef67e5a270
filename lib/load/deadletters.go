package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/threefactor/framework/lib/topology"
)

// DeadLetterQueue is a queue that only ever holds failures.
type DeadLetterQueue struct {
	// Name labels it in the report; URL finds it, or when empty its name.
	Name, URL string
}

// LocalDeadLetterQueues are an app's dead-letter queues as the dev
// runtime names them: each route's (the framework's eventlog route's
// too) and the push queue's.
func LocalDeadLetterQueues(t topology.Topology) []DeadLetterQueue {
	var qs []DeadLetterQueue
	for _, r := range t.RoutesWithDefaults() {
		qs = append(qs, DeadLetterQueue{Name: t.DLQName(r.Name)})
	}
	qs = append(qs, DeadLetterQueue{Name: t.PushDLQName()})
	return qs
}

// ParseDeadLetterQueues reads a stack's DeadLetterQueueUrls output
// (infra/stack.OutputDeadLetterQueues): name=url pairs separated by commas.
func ParseDeadLetterQueues(s string) ([]DeadLetterQueue, error) {
	var qs []DeadLetterQueue
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		name, url, ok := strings.Cut(pair, "=")
		if !ok || name == "" || !strings.HasPrefix(url, "https://") {
			return nil, fmt.Errorf("dead-letter queue %q: want name=https://sqs…", pair)
		}
		qs = append(qs, DeadLetterQueue{Name: name, URL: url})
	}
	if len(qs) == 0 {
		return nil, errors.New("no dead-letter queues")
	}
	return qs, nil
}

// queueAPI is the part of the SQS client DLQDepths uses.
type queueAPI interface {
	GetQueueUrl(context.Context, *sqs.GetQueueUrlInput, ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// DLQDepths is each queue's depth, the messages visible and in flight
// (SQS's approximate counts), by name.
func DLQDepths(ctx context.Context, client queueAPI, qs []DeadLetterQueue) (map[string]int, error) {
	out := map[string]int{}
	var errs []error
	for _, q := range qs {
		url := q.URL
		if url == "" {
			got, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: &q.Name})
			if err != nil {
				errs = append(errs, fmt.Errorf("dead-letter queue %s: %w", q.Name, err))
				continue
			}
			url = *got.QueueUrl
		}
		a, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		}})
		if err != nil {
			errs = append(errs, fmt.Errorf("dead-letter queue %s: %w", q.Name, err))
			continue
		}
		n := 0
		for _, k := range []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible} {
			v, _ := strconv.Atoi(a.Attributes[string(k)])
			n += v
		}
		out[q.Name] = n
	}
	return out, errors.Join(errs...)
}

// Print writes the report as the command line shows it.
func (r Report) Print(w io.Writer) {
	fmt.Fprintf(w, "load: %g orders/s for %s, %d subscriber(s) each: %d placed, %d reached DRIVER_ASSIGNED\n",
		r.Rate, r.Duration, r.Subscribers, r.Orders, r.Assigned)
	line := func(name string, p Percentiles) {
		if p.N == 0 {
			fmt.Fprintf(w, "  %-36s none measured\n", name)
			return
		}
		fmt.Fprintf(w, "  %-36s p50 %8.1f ms   p99 %8.1f ms   max %8.1f ms   (%d)\n", name, p.P50, p.P99, p.Max, p.N)
	}
	line("placeOrder", r.PlaceOrder)
	line("push (payOrder sent -> frame)", r.Push)
	line("placeOrder sent -> DRIVER_ASSIGNED", r.PlaceToAssigned)
	if len(r.Errors) == 0 {
		fmt.Fprintln(w, "  errors: none")
	} else {
		fmt.Fprintln(w, "  errors:")
		for _, k := range sortedKeys(r.Errors) {
			fmt.Fprintf(w, "    %-30s %d\n", k, r.Errors[k])
		}
	}
	if r.DeadLetters != nil {
		fmt.Fprintf(w, "  dead-letter queues after the run (%d new):\n", r.NewDeadLetters())
		for _, k := range sortedKeys(r.DeadLetters) {
			fmt.Fprintf(w, "    %-40s %d (before: %d)\n", k, r.DeadLetters[k], r.DeadLettersBefore[k])
		}
	}
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
