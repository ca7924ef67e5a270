package router

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/topology"
)

// The router against the emulator's EventBridge: records go onto a bus, a
// rule built from a topology route selects them, and what reaches the SQS
// target decodes back into the same change events.
func TestRouterWithEmulator(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := emulatortest.Config(t)
	eb := eventbridge.NewFromConfig(cfg)
	sq := sqs.NewFromConfig(cfg)

	app := fmt.Sprintf("rt%d", time.Now().UnixNano()%1e9)
	top := topology.Topology{
		App:       app,
		Tables:    []topology.Table{{Name: "orders", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true}},
		Functions: []topology.Function{{Name: "validate"}},
		Routes: []topology.Route{{
			Name: "placed", Function: "validate",
			Match: topology.Match{
				Table: "orders", Operations: []topology.Operation{topology.Insert, topology.Modify},
				New:     map[string]topology.Condition{"status": topology.Is("PLACED")},
				Changed: []string{"status"},
			},
		}},
	}
	route := top.Routes[0]
	bus := top.BusName()
	if _, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(bus)}); err != nil {
		t.Fatal(err)
	}
	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(top.QueueName(route.Name))})
	if err != nil {
		t.Fatal(err)
	}
	qa, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{
		Name: aws.String(top.RuleName(route.Name)), EventBusName: aws.String(bus),
		EventPattern: aws.String(top.EventPatternJSON(route)),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{
		Rule: aws.String(top.RuleName(route.Name)), EventBusName: aws.String(bus),
		Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(qa.Attributes[string(sqstypes.QueueAttributeNameQueueArn)])}},
	}); err != nil {
		t.Fatal(err)
	}

	table := top.TableName("orders")
	arn := "arn:aws:dynamodb:us-east-1:123456789012:table/" + table + "/stream/2026-11-23T00:00:00.000"
	var logs bytes.Buffer
	r, err := New(Config{
		Client: eb, BusName: bus, Source: top.EventSource(), Tables: map[string]string{table: "orders"},
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}

	// 14 records: INSERTs of PLACED orders match; REMOVEs and the MODIFY
	// that leaves status alone do not.
	var batch events.DynamoDBEvent
	want := map[string]bool{}
	for i := range 14 {
		rec := record(i, 0)
		rec.EventSourceArn = arn
		switch i % 3 {
		case 1:
			rec.EventName = "REMOVE"
			rec.Change.OldImage, rec.Change.NewImage = rec.Change.NewImage, nil
		case 2:
			rec.EventName = "MODIFY"
			rec.Change.OldImage = rec.Change.NewImage
		default:
			want[rec.EventID] = true
		}
		batch.Records = append(batch.Records, rec)
	}
	// And one too large for an entry: it arrives reduced, still routed by
	// its changed attribute names and operation... but not by new.status,
	// which a reduced event no longer carries, so this route does not see it.
	big := record(99, 300*1024)
	big.EventSourceArn = arn
	batch.Records = append(batch.Records, big)

	resp, err := r.Handle(ctx, batch)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("resp %+v, err %v\n%s", resp, err, logs.String())
	}

	got := map[string]change.Event{}
	for len(got) < len(want) && ctx.Err() == nil {
		out, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			ev, err := change.FromEventBridge(aws.ToString(m.Body))
			if err != nil {
				t.Fatalf("message body does not decode: %v\n%s", err, aws.ToString(m.Body))
			}
			got[ev.ID] = ev
			if _, err := sq.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for id := range want {
		ev, ok := got[id]
		if !ok {
			t.Errorf("%s not delivered", id)
			continue
		}
		var item struct {
			ID     string          `json:"id"`
			Status string          `json:"status"`
			Total  json.RawMessage `json:"total"`
			Cents  json.RawMessage `json:"cents"`
		}
		if err := json.Unmarshal(ev.New, &item); err != nil {
			t.Fatal(err)
		}
		if ev.Table != "orders" || ev.Operation != topology.Insert || item.Status != "PLACED" || ev.CorrelationID == "" {
			t.Errorf("%s delivered as %+v", id, ev)
		}
		// Integers keep every digit through the emulator. It re-encodes
		// decimals through float64 (123456789012345678901234567890.5
		// arrives as 1.2345678901234568e+29), so their digits are held by
		// the unit tests of the change package, not here.
		if string(item.Cents) != "12345678901234567890123456789012345" || len(item.Total) == 0 {
			t.Errorf("%s: cents %s total %s", id, item.Cents, item.Total)
		}
	}
	for id := range got {
		if !want[id] {
			t.Errorf("%s delivered but does not match the route", id)
		}
	}
}
