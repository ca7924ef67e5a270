// Command lambda is the realtime fan-out function: a DynamoDB stream event
// source mapping (with ReportBatchItemFailures) invokes it for every table
// stream.
package main

import (
	"context"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/threefactor/framework/functions/fanout"
	"github.com/threefactor/framework/lib/correlation"
)

func main() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatalf("aws config: %v", err)
	}
	f, err := fanout.New(ctx, fanout.Deps{AWS: cfg, Getenv: os.Getenv, Logger: correlation.Logger()})
	if err != nil {
		log.Fatalf("fanout: %v", err)
	}
	lambda.Start(f.Handle)
}
