// Command baseline is the smallest Go Lambda function: aws-lambda-go
// answering each event with itself. BenchmarkBinarySize builds it as the
// baseline of the functions' sizes.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(_ context.Context, ev json.RawMessage) (json.RawMessage, error) { return ev, nil })
}
