// Package devruntime plays, in one process, the parts of a 3factor app that
// AWS itself runs: the DynamoDB stream event source mappings (shard
// discovery, batches, partial batch failure, retries with backoff,
// checkpoints that survive a kill -9), the SQS event source mappings (long
// polling, batches, partial batch failure, visibility backoff, redrive
// through the queue's own policy), and the HTTP and WebSocket front door:
// HTTP API routes with a JWT authorizer (HandleHTTPAPI: payload 2.0
// events, API Gateway's 401) and the local OpenID Connect issuer's
// endpoints (ServeIssuer).
//
// The data plane itself is an AWS-compatible endpoint (moto by default,
// LocalStack or AWS when the caller's aws.Config says so), provisioned from
// the app's topology with package provision, so the same handlers run
// locally and on Lambda with the same aws-lambda-go event types:
//
//	rt, _ := devruntime.New(devruntime.Config{AWS: cfg, Topology: yourapp.App.Topology()})
//	res, _ := rt.Provision(ctx)
//	rt.StreamReader("router", "orders", routerHandler)
//	rt.QueueConsumer("validate-order", validateHandler)
//	rt.Handle("/graphql", graphqlHandler)
//	_ = rt.Run(ctx) // until ctx is cancelled
//
// Delivery is at least once, as on AWS: a stream checkpoint is stored (in
// a dev-only DynamoDB table on the same endpoint) only after the handler
// returned, and a queue message is deleted only after its handler
// succeeded, so a crash can repeat work but never lose it.
package devruntime
