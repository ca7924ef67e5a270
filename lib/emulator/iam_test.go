package emulator_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/threefactor/framework/lib/emulator"
)

// A server that enforces IAM lets the administrator do anything and a
// user only what its policy allows, checking SQS statements' resources;
// a changed policy holds from the next request on.
func TestStartEnforcingIAM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts moto: not with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, admin, err := emulator.StartEnforcingIAM(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	q := sqs.NewFromConfig(admin)
	arns := map[string]string{}
	urls := map[string]string{}
	for _, name := range []string{"allowed", "other"} {
		out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
		if err != nil {
			t.Fatalf("the administrator creates a queue: %v", err)
		}
		urls[name] = aws.ToString(out.QueueUrl)
		arns[name] = fmt.Sprintf("arn:aws:sqs:%s:%s:%s", emulator.Region, emulator.AccountID, name)
	}
	policy := func(actions ...string) string {
		return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["%s"],"Resource":"%s"}]}`,
			strings.Join(actions, `","`), arns["allowed"])
	}
	creds, err := emulator.CreateUser(ctx, admin, "sender", map[string]string{"send": policy("sqs:SendMessage")})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := emulator.UserConfig(ctx, s.Endpoint(), creds)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RetryMaxAttempts = 1
	user := sqs.NewFromConfig(cfg)
	send := func(queue string) error {
		_, err := user.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(urls[queue]), MessageBody: aws.String("m")})
		return err
	}
	if err := send("allowed"); err != nil {
		t.Errorf("send to the queue the policy names: %v", err)
	}
	if err := send("other"); err == nil {
		t.Error("send to a queue the policy does not name: allowed, want refused")
	}
	if _, err := user.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(urls["allowed"])}); err == nil {
		t.Error("an action the policy does not name: allowed, want refused")
	}
	if err := emulator.PutUserPolicy(ctx, admin, "sender", "send", policy("sqs:GetQueueAttributes")); err != nil {
		t.Fatal(err)
	}
	if err := send("allowed"); err == nil {
		t.Error("send after the grant was replaced: allowed, want refused")
	}

	unknown, err := emulator.UserConfig(ctx, s.Endpoint(), aws.Credentials{AccessKeyID: emulator.AccessKey, SecretAccessKey: emulator.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	unknown.RetryMaxAttempts = 1
	if _, err := sqs.NewFromConfig(unknown).ListQueues(ctx, &sqs.ListQueuesInput{}); err == nil {
		t.Error("keys of no IAM user: allowed, want refused")
	}
}
