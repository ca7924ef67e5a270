// Command lambda is the WebSocket API function: API Gateway's $connect,
// $disconnect and $default routes invoke it.
package main

import (
	"context"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/threefactor/framework/functions/realtime"
	"github.com/threefactor/framework/lib/correlation"
)

func main() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatalf("aws config: %v", err)
	}
	h, err := realtime.NewHandler(ctx, realtime.Deps{AWS: cfg, Getenv: os.Getenv, Logger: correlation.Logger()})
	if err != nil {
		log.Fatalf("realtime: %v", err)
	}
	lambda.Start(h.Handle)
}
