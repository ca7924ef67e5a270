package consumer

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/devruntime"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/router"
	"github.com/threefactor/framework/lib/topology"
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
	c, err := New(handler, Config{Function: "restaurantapproval", Routes: validateRoute(aws.ToString(q.QueueUrl)),
		SQS: client, Logger: slog.New(slog.DiscardHandler)})
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

// A function fed by two routes, run by the dev runtime on the emulator
// exactly as make dev runs it: its consumer is configured from the
// environment the runtime gives it, and each message that fails
// permanently lands at once in the dead-letter queue of the route it came
// by, named with that route.
func TestEachRouteDeadLettersToItsOwnQueueWithEmulator(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	app := fmt.Sprintf("cons%d", time.Now().UnixNano()%1_000_000_000)
	topo := topology.Topology{
		App:       app,
		Tables:    []topology.Table{{Name: "items", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true}},
		Functions: []topology.Function{{Name: "check", Tables: []string{"items"}, Timeout: 5 * time.Second}},
		Routes: []topology.Route{
			// Many receives: a message reaching a DLQ got there from the
			// consumer on its first attempt, not by redrive.
			{Name: "check-new", Function: "check", MaxReceiveCount: 50,
				Match: topology.Match{Table: "items", Operations: []topology.Operation{topology.Insert}}},
			{Name: "check-changed", Function: "check", MaxReceiveCount: 50,
				Match: topology.Match{Table: "items", Operations: []topology.Operation{topology.Modify}}},
		},
	}
	awsCfg := emulatortest.Config(t)
	log := slog.New(slog.DiscardHandler)
	rt, err := devruntime.New(devruntime.Config{
		AWS: awsCfg, Topology: topo, Addr: "127.0.0.1:0", Logger: log, Out: io.Discard,
		StreamPollInterval: 20 * time.Millisecond, ShardDiscoveryInterval: 200 * time.Millisecond,
		StreamRetryBackoff: 20 * time.Millisecond, QueueWaitTime: time.Second, RetryBackoff: time.Second,
		ShutdownTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := rt.Provision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r, err := router.New(router.Config{Client: eventbridge.NewFromConfig(awsCfg), BusName: res.Bus.Name,
		Source: topo.EventSource(), Tables: map[string]string{res.Tables["items"].Name: "items"}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	rt.StreamReader("router-items", "items", r.Handle)

	env := rt.Env("check")
	cfg, err := ConfigFromEnv(topo, "check", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	client := sqs.NewFromConfig(awsCfg)
	cfg.SQS, cfg.Logger = client, log
	var mu sync.Mutex
	handled := map[string]string{} // operation -> route, as the handler saw it
	c, err := New(func(ctx context.Context, ch change.Change[order]) error {
		m, _ := MessageFrom(ctx)
		mu.Lock()
		handled[string(ch.Operation)] = m.Route
		mu.Unlock()
		return errs.Newf(errs.FailedPrecondition, "%s of %s refused", ch.Operation, ch.NewItem.ID)
	}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, route := range topo.RoutesOf("check") {
		rt.QueueConsumer(route.Name, c.Handle)
	}
	runCtx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- rt.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-errc; err != nil {
			t.Errorf("runtime: %v", err)
		}
	}()
	select {
	case <-rt.Ready():
	case err := <-errc:
		t.Fatalf("runtime: %v", err)
	case <-ctx.Done():
		t.Fatal("runtime not ready")
	}

	ddb := dynamodb.NewFromConfig(awsCfg)
	put := func(status string) {
		_, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(res.Tables["items"].Name), Item: map[string]ddbtypes.AttributeValue{
			"id": &ddbtypes.AttributeValueMemberS{Value: "it-1"}, "status": &ddbtypes.AttributeValueMemberS{Value: status},
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	put("NEW")     // INSERT: route check-new
	put("CHANGED") // MODIFY: route check-changed

	for route, op := range map[string]string{"check-new": "INSERT", "check-changed": "MODIFY"} {
		dlq := res.Routes[route].DLQURL
		var got []sqstypes.Message
		for len(got) == 0 && ctx.Err() == nil {
			out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(dlq), MaxNumberOfMessages: 10,
				WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"}})
			if err != nil {
				t.Fatal(err)
			}
			got = out.Messages
		}
		if len(got) != 1 {
			t.Fatalf("%s: %d dead-lettered messages, want 1", route, len(got))
		}
		attr := func(n string) string { return aws.ToString(got[0].MessageAttributes[n].StringValue) }
		e, err := change.FromEventBridge(aws.ToString(got[0].Body))
		if err != nil {
			t.Fatalf("%s: dead-lettered body: %v", route, err)
		}
		if string(e.Operation) != op || attr(AttrRoute) != route || attr(AttrFunction) != "check" || attr(AttrEventID) != e.ID ||
			attr(AttrCode) != string(errs.FailedPrecondition) || attr(AttrReason) != "FAILED_PRECONDITION: "+op+" of it-1 refused" ||
			attr(AttrReceiveCount) != "1" {
			t.Errorf("%s: dead-lettered %s change with attributes %v", route, e.Operation, got[0].MessageAttributes)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if want := map[string]string{"INSERT": "check-new", "MODIFY": "check-changed"}; !reflect.DeepEqual(handled, want) {
		t.Errorf("the handler saw routes %v, want %v", handled, want)
	}
	for _, route := range []string{"check-new", "check-changed"} {
		out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(res.Routes[route].QueueURL),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		if err != nil {
			t.Fatal(err)
		}
		if n := out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)] + "/" +
			out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)]; n != "0/0" {
			t.Errorf("route %s queue still holds %s (visible/in flight) messages: dead-lettered ones must be acknowledged", route, n)
		}
	}
}
