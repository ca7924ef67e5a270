package provision_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/provision"
	"github.com/threefactor/framework/lib/topology"
)

// TestPushQueue: Apply makes the fan-out's push queue FIFO, redriving to a
// FIFO dead-letter queue after topology.PushMaxReceiveCount receives, with
// the push worker's visibility timeout, again and again without error; the
// fan-out's environment names it.
func TestPushQueue(t *testing.T) {
	ctx := context.Background()
	cfg := emulatortest.Config(t)
	topo := testTopology("pushq")
	var res *provision.Resources
	for range 2 {
		var err error
		if res, err = provision.Apply(ctx, cfg, topo); err != nil {
			t.Fatal(err)
		}
	}
	pq := res.PushQueue
	if pq.Name != topo.PushQueueName() || pq.DLQName != topo.PushDLQName() || pq.URL == "" || pq.DLQARN == "" {
		t.Fatalf("push queue %+v", pq)
	}
	client := sqs.NewFromConfig(cfg)
	attrs := func(url string) map[string]string {
		out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
		if err != nil {
			t.Fatal(err)
		}
		return out.Attributes
	}
	q, dlq := attrs(pq.URL), attrs(pq.DLQURL)
	if q["FifoQueue"] != "true" || dlq["FifoQueue"] != "true" {
		t.Fatalf("FifoQueue: queue %q, DLQ %q", q["FifoQueue"], dlq["FifoQueue"])
	}
	if q["VisibilityTimeout"] != strconv.Itoa(int(topology.PushVisibilityTimeout.Seconds())) {
		t.Errorf("visibility timeout %s", q["VisibilityTimeout"])
	}
	var redrive struct {
		Target string `json:"deadLetterTargetArn"`
		Max    any    `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(q["RedrivePolicy"]), &redrive); err != nil {
		t.Fatal(err)
	}
	if redrive.Target != pq.DLQARN || (redrive.Max != float64(topology.PushMaxReceiveCount) && redrive.Max != strconv.Itoa(topology.PushMaxReceiveCount)) {
		t.Errorf("redrive policy %s", q["RedrivePolicy"])
	}
	if got := res.Env(topology.FanOutFunction)[topology.EnvPushQueueURL]; got != pq.URL {
		t.Errorf("fan-out %s = %q, want %q", topology.EnvPushQueueURL, got, pq.URL)
	}
}
