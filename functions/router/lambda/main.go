// Command lambda is the stream router: a DynamoDB stream event source
// mapping (bisect on error, ReportBatchItemFailures, on-failure queue)
// invokes it with each table's change records, and it publishes them as
// change events on the app's EventBridge bus.
package main

import (
	"context"
	"log"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	appevents "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/router"
)

func main() {
	ctx := context.Background()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatalf("aws config: %v", err)
	}
	cfg, err := router.ConfigFromEnv(appevents.Topology)
	if err != nil {
		log.Fatal(err)
	}
	cfg.Client = eventbridge.NewFromConfig(awsCfg)
	cfg.Logger = correlation.Logger()
	r, err := router.New(cfg)
	if err != nil {
		log.Fatalf("router: %v", err)
	}
	lambda.Start(r.Handle)
}
