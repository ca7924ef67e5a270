// Command infra is the CDK app of the app declared in events/: `cdk synth`
// and `cdk deploy` run it (cdk.json at the repository root says
// `go run ./infra`). The stage comes from the context value "stage"
// (cdk.json sets dev; `cdk deploy -c stage=prod`). With -c dataPlane=true
// it builds only the tables, bus, rules and queues under the dev runtime's
// names, in a stack named <app>-local, for LocalStack (see docs/deploy.md).
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/infra/stack"
)

func main() {
	defer jsii.Close()
	// The CDK CLI passes context and the output directory in the
	// environment, which App reads.
	if err := run(awscdk.NewApp(nil)); err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(1)
	}
}

func run(app awscdk.App) error {
	stage, err := stack.ParseStage(contextString(app, "stage", "dev"))
	if err != nil {
		return err
	}
	buildDir := contextString(app, "buildDir", "build")
	dataPlane := contextString(app, "dataPlane", "false") == "true"
	topo := fooddelivery.App.Topology()
	id := topo.App + "-" + string(stage)
	if dataPlane {
		id = topo.App + "-local"
	} else if err := stack.CheckAssets(buildDir, topo); err != nil {
		return err
	}
	var origins, emails []string
	if o := contextString(app, "corsOrigins", ""); o != "" {
		origins = strings.Split(o, ",")
	}
	if e := contextString(app, "alarmEmails", ""); e != "" {
		emails = strings.Split(e, ",")
	}
	_, err = stack.NewStack(app, id, stack.Props{
		Topology:           topo,
		Stage:              stage,
		Code:               stack.AssetDirs(buildDir),
		CorsOrigins:        origins,
		AccountLoggingRole: contextString(app, "apiGatewayAccountLoggingRole", "true") == "true",
		DataPlaneOnly:      dataPlane,
		AlarmEmails:        emails,
	})
	if err != nil {
		return err
	}
	stack.ApplyChecks(app)
	app.Synth(nil)
	return nil
}

// contextString reads a context value given with -c key=value or in
// cdk.json; booleans and strings both arrive as their text.
func contextString(app awscdk.App, key, def string) string {
	v := app.Node().TryGetContext(jsii.String(key))
	if v == nil {
		return def
	}
	return fmt.Sprint(v)
}
