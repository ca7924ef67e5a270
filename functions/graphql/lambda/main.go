// Command lambda is the graphql Lambda: the GraphQL API behind API Gateway's
// HTTP API (payload format 2.0).
package main

import (
	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/lib/app"
)

func main() { app.StartGraphQL(fooddelivery.App) }
