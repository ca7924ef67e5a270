package lambdarun_test

import (
	"context"
	"fmt"

	"github.com/aws/aws-lambda-go/events"

	"github.com/threefactor/framework/lib/lambdarun"
)

// A role's statements as the policy of its emulator user: SQS statements
// keep their resources, which moto checks; the others are widened.
func ExampleEmulatorPolicy() {
	doc, widened, err := lambdarun.EmulatorPolicy([]lambdarun.Statement{
		{Effect: "Allow", Action: []string{"sqs:SendMessage"}, Resource: []string{"arn:aws:sqs:us-east-1:123456789012:app-dlq"}, Source: "Policy#0"},
		{Effect: "Allow", Action: []string{"dynamodb:GetItem"}, Resource: []string{"arn:aws:dynamodb:us-east-1:123456789012:table/app-orders"}, Source: "Policy#1"},
	})
	fmt.Println(doc, err)
	fmt.Println(widened)
	// Output:
	// {"Statement":[{"Effect":"Allow","Action":["sqs:SendMessage","sqs:SendMessageBatch"],"Resource":["arn:aws:sqs:us-east-1:123456789012:app-dlq"]},{"Effect":"Allow","Action":["dynamodb:GetItem"],"Resource":["*"]}],"Version":"2012-10-17"} <nil>
	// [Policy#1: 1 dynamodb actions on 1 resources]
}

// Run a function binary under the runtime interface emulator and invoke
// it with an SQS batch.
func ExampleStart() {
	ctx := context.Background()
	f, err := lambdarun.Start(ctx, lambdarun.Config{
		Name: "validateorder", Bootstrap: "build/validateorder/bootstrap", Emulator: "build/aws-lambda-rie",
		Env:    map[string]string{"TABLE_ORDERS": "app-orders"},
		Region: "us-east-1", Endpoint: "http://127.0.0.1:5000",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	resp, err := f.SQS(ctx, events.SQSEvent{})
	fmt.Println(resp.BatchItemFailures, err)
}
