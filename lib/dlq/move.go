package dlq

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
)

// moveAll redrives every message of r's dead-letter queue with one SQS
// message move task and waits for it to end. ok is false when the
// endpoint has no move tasks (then nothing was done, and later calls do
// not ask again).
func (c *Client) moveAll(ctx context.Context, r *Route) (res Result, ok bool, err error) {
	res = Result{Route: r.Name, Method: MethodMoveTask}
	src, err := c.arn(ctx, r.Queues.DLQ)
	if err != nil {
		return res, false, err
	}
	dst, err := c.arn(ctx, r.Queues.Queue)
	if err != nil {
		return res, false, err
	}
	// One SQS source has one move task at a time: two redrives of a route
	// in this process take turns.
	c.moveMu.Lock()
	defer c.moveMu.Unlock()
	out, err := c.cfg.SQS.StartMessageMoveTask(ctx, &sqs.StartMessageMoveTaskInput{
		SourceArn: aws.String(src), DestinationArn: aws.String(dst),
	}, oneAttempt)
	if unsupported(err) {
		c.moveOff.Store(true)
		c.log.Info("the endpoint has no SQS message move tasks: redriving by receive, send, delete", "route", r.Name)
		return res, false, nil
	}
	if err != nil {
		return res, true, fmt.Errorf("start moving %s to %s: %w", src, dst, err)
	}
	handle := aws.ToString(out.TaskHandle)
	var started int64
	for {
		lo, err := c.cfg.SQS.ListMessageMoveTasks(ctx, &sqs.ListMessageMoveTasksInput{SourceArn: aws.String(src), MaxResults: aws.Int32(10)})
		if err != nil {
			return res, true, fmt.Errorf("follow the move task of %s: %w", r.Name, err)
		}
		// The handle is given for a running task only: once it ends, the
		// task is the one that started when ours did (the newest first).
		var task *taskEntry
		for i := range lo.Results {
			e := &lo.Results[i]
			if (handle != "" && aws.ToString(e.TaskHandle) == handle) || (started != 0 && e.StartedTimestamp == started) {
				task = &taskEntry{status: aws.ToString(e.Status), moved: e.ApproximateNumberOfMessagesMoved, reason: aws.ToString(e.FailureReason), started: e.StartedTimestamp}
				break
			}
		}
		if task == nil && started == 0 && len(lo.Results) > 0 {
			e := lo.Results[0]
			task = &taskEntry{status: aws.ToString(e.Status), moved: e.ApproximateNumberOfMessagesMoved, reason: aws.ToString(e.FailureReason), started: e.StartedTimestamp}
		}
		if task != nil {
			started = task.started
			res.Count = int(task.moved)
			switch task.status {
			case "COMPLETED":
				return res, true, nil
			case "FAILED":
				return res, true, fmt.Errorf("the move task of %s failed after %d message(s): %s", r.Name, task.moved, task.reason)
			case "CANCELLED":
				return res, true, fmt.Errorf("the move task of %s was cancelled after %d message(s)", r.Name, task.moved)
			}
		}
		select {
		case <-ctx.Done():
			return res, true, fmt.Errorf("the move task of %s goes on without this process (%d message(s) moved so far): %w", r.Name, res.Count, ctx.Err())
		case <-time.After(c.cfg.MoveTaskPoll):
		}
	}
}

type taskEntry struct {
	status  string
	moved   int64
	reason  string
	started int64
}

func (c *Client) moveTasksOff() bool { return c.moveOff.Load() }

// oneAttempt asks once: an endpoint without the operation answers the
// same every time.
func oneAttempt(o *sqs.Options) { o.RetryMaxAttempts = 1 }

// unsupported reports whether err says the endpoint does not implement
// the operation: an error code saying so, or an answer that is not an
// AWS error at all (moto answers unknown actions with an HTML page).
func unsupported(err error) bool {
	if err == nil {
		return false
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", "InvalidAction",
			"NotImplemented", "UnknownOperationException", "UnknownOperation", "NotImplementedError":
			return true
		}
		return false
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
			return true
		}
		var de *smithy.DeserializationError
		return errors.As(err, &de)
	}
	return false
}
