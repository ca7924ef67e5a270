package devruntime

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/provision"
	"github.com/threefactor/framework/lib/topology"
)

// queueConsumer is one SQS event source mapping: a route's queue feeding
// its function, or the push queue feeding the push worker. route holds
// the mapping's settings (batch size, receive count, visibility timeout).
type queueConsumer struct {
	rt    *Runtime
	route topology.Route
	fn    topology.Function
	h     QueueHandler
	sqs   queueAPI
	log   *slog.Logger
	// queue names the queue, its URL and ARN, and its dead-letter
	// queue's name, once provisioned.
	queue func(*provision.Resources) (name, url, arn, dlq string)
	// receiving, when set, makes the pollers receive one at a time (their
	// batches are still handled in parallel). moto's ReceiveMessage is
	// not safe against concurrent receives: two can take the same
	// message, which on a FIFO queue would hand a message group to two
	// handlers at once. SQS itself is.
	receiving *sync.Mutex
}

func routeQueue(route string) func(*provision.Resources) (name, url, arn, dlq string) {
	return func(res *provision.Resources) (string, string, string, string) {
		q := res.Routes[route]
		return q.QueueName, q.QueueURL, q.QueueARN, q.DLQName
	}
}

func pushQueue(res *provision.Resources) (name, url, arn, dlq string) {
	q := res.PushQueue
	return q.Name, q.URL, q.ARN, q.DLQName
}

func (r *Runtime) startQueueLocked(qc *queueConsumer) {
	ctx := r.runCtx
	_, url, arn, _ := qc.queue(r.res)
	for i := 0; i < r.cfg.QueuePollers; i++ {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			qc.poll(ctx, url, arn)
		}()
	}
}

// poll receives and handles batches until ctx is done. A receive is never
// cut short by ctx: a message received but never handed to the handler
// would stay invisible for the whole visibility timeout. Instead each
// receive waits at most QueueWaitTime, and ctx is checked between them.
func (qc *queueConsumer) poll(ctx context.Context, url, arn string) {
	cfg := qc.rt.cfg
	wait := int32(cfg.QueueWaitTime / time.Second)
	for ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.QueueWaitTime+30*time.Second)
		if qc.receiving != nil {
			qc.receiving.Lock()
		}
		out, err := qc.sqs.ReceiveMessage(rctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(url),
			MaxNumberOfMessages:         int32(qc.route.BatchSize),
			WaitTimeSeconds:             wait,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		if qc.receiving != nil {
			qc.receiving.Unlock()
		}
		cancel()
		if err != nil {
			qc.log.Warn("receive", "error", err.Error())
			sleep(ctx, time.Second)
			continue
		}
		if len(out.Messages) == 0 {
			if wait == 0 {
				sleep(ctx, cfg.QueuePollInterval)
			}
			continue
		}
		qc.handle(ctx, url, arn, out.Messages)
	}
}

// handle runs one batch like Lambda: with the function's timeout as the
// deadline, surviving a panic, then deletes what succeeded and backs off
// what failed.
func (qc *queueConsumer) handle(ctx context.Context, url, arn string, msgs []sqstypes.Message) {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(msgs))}
	for i, m := range msgs {
		ev.Records[i] = sqsMessage(m, arn, qc.rt.cfg.AWS.Region)
	}
	failed, err := qc.invoke(ctx, ev)

	var del []sqstypes.DeleteMessageBatchRequestEntry
	var back []sqstypes.ChangeMessageVisibilityBatchRequestEntry
	for i, m := range ev.Records {
		attempt, _ := strconv.Atoi(m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)])
		meta := bodyMeta(m.Body)
		attrs := []any{"messageId", m.MessageId, "eventId", meta.EventID, "correlationId", meta.CorrelationID, "attempt", attempt}
		if !failed[m.MessageId] {
			// The function's consumer logs each delivery with its
			// duration; this is the mapping's own account.
			qc.log.Debug("message handled", append(attrs, "outcome", "ok")...)
			del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(m.ReceiptHandle)})
			continue
		}
		vis := qc.backoff(attempt)
		outcome := "retry"
		if attempt >= qc.route.MaxReceiveCount {
			// The queue's own redrive policy moves it to the DLQ when it
			// would be received once more, on AWS and on moto alike (moto
			// 5.2 checks the receive count on receive; the DLQ tests here
			// hold it to that), so the runtime never moves messages itself.
			outcome = "to-dlq"
		}
		// The consumer logs the failure; the queue's redrive moving the
		// message to the DLQ is news only the mapping knows.
		level := slog.LevelDebug
		if outcome == "to-dlq" {
			level = slog.LevelWarn
		}
		qc.log.Log(ctx, level, "message failed", append(attrs, "outcome", outcome, "retryIn", vis.String(), "maxReceiveCount", qc.route.MaxReceiveCount, "error", errString(err))...)
		back = append(back, sqstypes.ChangeMessageVisibilityBatchRequestEntry{
			Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(m.ReceiptHandle), VisibilityTimeout: int32(vis / time.Second),
		})
	}
	// Acknowledge even when stopping: the handler has finished.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if len(del) > 0 {
		out, err := qc.sqs.DeleteMessageBatch(actx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: del})
		switch {
		case err != nil:
			qc.log.Warn("delete handled messages; they will be delivered again", "error", err.Error())
		case len(out.Failed) > 0:
			qc.log.Warn("delete handled messages; some will be delivered again", "failed", len(out.Failed), "reason", aws.ToString(out.Failed[0].Message))
		}
	}
	if len(back) > 0 {
		// Without this a failed message would wait out the whole visibility
		// timeout (six times the function timeout) before its retry.
		if _, err := qc.sqs.ChangeMessageVisibilityBatch(actx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(url), Entries: back}); err != nil {
			qc.log.Warn("back off failed messages; they return after the visibility timeout", "error", err.Error())
		}
	}
}

// backoff is how long a message stays invisible after its attempt-th
// receive failed: RetryBackoff doubling per attempt, capped at the queue's
// visibility timeout.
func (qc *queueConsumer) backoff(attempt int) time.Duration {
	d := qc.rt.cfg.RetryBackoff
	for i := 1; i < attempt && d < qc.route.VisibilityTimeout; i++ {
		d *= 2
	}
	return min(d, qc.route.VisibilityTimeout)
}

// invoke calls the handler and returns the ids of the messages that failed.
func (qc *queueConsumer) invoke(ctx context.Context, ev events.SQSEvent) (failed map[string]bool, err error) {
	all := func() map[string]bool {
		m := make(map[string]bool, len(ev.Records))
		for _, r := range ev.Records {
			m[r.MessageId] = true
		}
		return m
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), qc.fn.Timeout)
	defer cancel()
	hctx = lambdacontext.NewContext(hctx, &lambdacontext.LambdaContext{
		AwsRequestID:       correlation.NewID(),
		InvokedFunctionArn: fmt.Sprintf("arn:aws:lambda:%s:000000000000:function:%s", qc.rt.cfg.AWS.Region, qc.fn.Name),
	})
	defer func() {
		if p := recover(); p != nil {
			qc.log.Error("handler panicked; the batch failed", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			failed, err = all(), fmt.Errorf("handler panic: %v", p)
		}
	}()
	resp, err := qc.h(hctx, ev)
	if err != nil {
		return all(), err
	}
	if hctx.Err() != nil {
		// Lambda ends an invocation at its timeout whatever it returns.
		return all(), fmt.Errorf("function timed out after %s", qc.fn.Timeout)
	}
	failed = map[string]bool{}
	known := all()
	for _, f := range resp.BatchItemFailures {
		if !known[f.ItemIdentifier] {
			// As on AWS: an unknown or empty identifier fails the whole batch.
			return all(), fmt.Errorf("batch item failure names unknown message %q", f.ItemIdentifier)
		}
		failed[f.ItemIdentifier] = true
	}
	if len(failed) > 0 {
		err = fmt.Errorf("handler reported %d failed messages", len(failed))
	}
	return failed, err
}

type meta struct {
	EventID       string
	CorrelationID string
}

// bodyMeta finds the change event id and correlation id in an EventBridge
// envelope, for the logs.
func bodyMeta(body string) meta {
	var env struct {
		ID     string `json:"id"`
		Detail struct {
			ID            string `json:"id"`
			CorrelationID string `json:"correlationId"`
		} `json:"detail"`
	}
	if json.Unmarshal([]byte(body), &env) != nil {
		return meta{}
	}
	id := env.Detail.ID
	if id == "" {
		id = env.ID
	}
	return meta{EventID: id, CorrelationID: env.Detail.CorrelationID}
}
