package stack_test

import (
	"log"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/threefactor/framework/infra/stack"
	"github.com/threefactor/framework/lib/topology"
)

// A CDK app for one stage of an app's topology, with the cdk-nag checks.
// An app's infra/main.go passes its declaration's Topology().
// (Not run here: synthesis starts the jsii runtime; infra's tests
// synthesize this stack and check it.)
func ExampleNewStack() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	topo := topology.Topology{
		App:       "shop",
		Tables:    []topology.Table{{Name: "orders", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true}},
		Functions: []topology.Function{{Name: "ship", Tables: []string{"orders"}}},
		Routes: []topology.Route{{Name: "ship-order", Function: "ship",
			Match: topology.Match{Table: "orders", Operations: []topology.Operation{topology.Insert}}}},
	}
	s, err := stack.NewStack(app, "shop-prod", stack.Props{
		Topology: topo,
		Stage:    stack.Prod,
		Code:     stack.AssetDirs("build"), // build/<function>/bootstrap
		// The browser origins of the shop's web app; prod refuses "*".
		AllowedOrigins: []string{"https://shop.example.com"},
		// Users in the stack's Cognito user pool, with one role.
		Auth: stack.AuthConfig{Groups: []string{"staff"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	// Wire the alarms to paging, for example.
	_ = s.Observability.DLQAlarms
	stack.ApplyChecks(app)
	app.Synth(nil)
}
