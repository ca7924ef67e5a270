// Command lambda is the assigndriver Lambda: an SQS event source mapping (with
// ReportBatchItemFailures) delivers the route's change events to it.
package main

import (
	"context"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/threefactor/framework/functions/assigndriver"
	"github.com/threefactor/framework/lib/correlation"
)

func main() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Fatalf("aws config: %v", err)
	}
	c, err := assigndriver.NewConsumer(cfg, os.Getenv, correlation.Logger())
	if err != nil {
		log.Fatal(err)
	}
	lambda.Start(c.Handle)
}
