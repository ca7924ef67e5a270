// Command lambda is the GraphQL Lambda behind the API Gateway HTTP API
// (payload format 2.0). STAGE=prod disables introspection.
package main

import (
	"context"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/threefactor/framework/functions/graphql"
	"github.com/threefactor/framework/lib/correlation"
)

func main() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Fatalf("aws config: %v", err)
	}
	h, err := graphql.NewHandler(cfg, os.Getenv, correlation.Logger(), graphql.Options{})
	if err != nil {
		log.Fatal(err)
	}
	lambda.Start(h.HandleAPIGateway)
}
