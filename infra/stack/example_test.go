package stack_test

import (
	"log"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	appevents "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/infra/stack"
)

// A CDK app for one stage of an app's topology, with the cdk-nag checks.
// (Not run here: synthesis starts the jsii runtime; infra's tests
// synthesize this stack and check it.)
func ExampleNewStack() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	s, err := stack.NewStack(app, "fooddelivery-prod", stack.Props{
		Topology: appevents.Topology,
		Stage:    stack.Prod,
		Code:     stack.AssetDirs("build"), // build/<function>/bootstrap
	})
	if err != nil {
		log.Fatal(err)
	}
	// Wire the alarms to paging, for example.
	_ = s.Observability.DLQAlarms
	stack.ApplyChecks(app)
	app.Synth(nil)
}
