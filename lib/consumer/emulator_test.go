package consumer

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/errs"
)

// A permanent failure lands on a real dead-letter queue with its reason;
// a dead-letter queue that cannot be reached leaves the message failed.
func TestDeadLetterWithEmulator(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := sqs.NewFromConfig(emulatortest.Config(t))
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(fmt.Sprintf("consumer-dlq-%d", time.Now().UnixNano()))})
	if err != nil {
		t.Fatal(err)
	}
	handler := func(ctx context.Context, c change.Change[order]) error {
		if c.NewItem.Status == "PAID" {
			return nil
		}
		return errs.Newf(errs.BadUserInput, "status %s cannot be approved", c.NewItem.Status)
	}
	c, err := New(handler, Config{Function: "restaurantapproval", Route: "restaurant-approval",
		DLQURL: aws.ToString(q.QueueUrl), SQS: client, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	bad := body("e2", `"CANCELLED"`)
	resp, err := c.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{
		message("e1", body("e1", `"PAID"`)), message("e2", bad), message("e3", `not json`),
	}})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("resp %+v err %v", resp, err)
	}
	got := map[string]map[string]string{}
	for len(got) < 2 && ctx.Err() == nil {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10,
			WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			attrs := map[string]string{"body": aws.ToString(m.Body)}
			for k, v := range m.MessageAttributes {
				attrs[k] = aws.ToString(v.StringValue)
			}
			got[attrs[AttrSourceMessageID]] = attrs
		}
	}
	e2 := got["msg-e2"]
	if e2["body"] != bad || e2[AttrEventID] != "e2" || e2[AttrFunction] != "restaurantapproval" ||
		e2[AttrCode] != string(errs.BadUserInput) || e2[AttrReason] == "" || e2[AttrReceiveCount] != "2" {
		t.Errorf("dead-lettered e2: %v", e2)
	}
	if e3 := got["msg-e3"]; e3["body"] != "not json" || e3[AttrReason] == "" || e3[AttrEventID] != "" {
		t.Errorf("dead-lettered e3: %v", e3)
	}

	// Now the dead-letter queue is gone: the permanent failure stays on its
	// queue for redelivery instead of being lost.
	if _, err := client.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl}); err != nil {
		t.Fatal(err)
	}
	resp, err = c.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{message("e2", bad)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "msg-e2" {
		t.Errorf("with the DLQ gone: %+v", resp)
	}
}
