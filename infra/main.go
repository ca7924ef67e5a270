// Command infra is the CDK app of the app declared in events/: `cdk synth`
// and `cdk deploy` run it (cdk.json at the repository root says
// `go run ./infra`). The stage comes from the context value "stage"
// (cdk.json sets dev; `cdk deploy -c stage=prod`). With -c dataPlane=true
// it builds only the tables, bus, rules and queues under the dev runtime's
// names, in a stack named <app>-local, for LocalStack. docs/deploy.md
// lists every context value (identity, allowed origins, throttles...).
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/infra/stack"
	"github.com/threefactor/framework/lib/eventlog"
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
	if app.Node().TryGetContext(jsii.String("corsOrigins")) != nil {
		return fmt.Errorf("context corsOrigins is now allowedOrigins (it also governs the WebSocket)")
	}
	buildDir := contextString(app, "buildDir", "build")
	dataPlane, err := contextBool(app, "dataPlane", false)
	if err != nil {
		return err
	}
	topo := fooddelivery.App.Topology()
	id := topo.App + "-" + string(stage)
	if dataPlane {
		id = topo.App + "-local"
	} else if err := stack.CheckAssets(buildDir, topo); err != nil {
		return err
	}
	props := stack.Props{
		Topology:      topo,
		Stage:         stage,
		Code:          stack.AssetDirs(buildDir),
		DataPlaneOnly: dataPlane,
		AlarmEmails:   contextList(app, "alarmEmails"),
	}
	if props.AccountLoggingRole, err = contextBool(app, "apiGatewayAccountLoggingRole", true); err != nil {
		return err
	}
	if props.EventLogRetention, err = eventLogRetention(app); err != nil {
		return err
	}
	if props.PushQueueThreshold, err = pushQueueThreshold(app); err != nil {
		return err
	}
	if !dataPlane {
		if props.AllowedOrigins, err = allowedOrigins(app, stage); err != nil {
			return err
		}
		if props.Auth, err = authConfig(app); err != nil {
			return err
		}
		if props.HTTPThrottle, err = throttle(app, "http"); err != nil {
			return err
		}
		if props.WebSocketThrottle, err = throttle(app, "ws"); err != nil {
			return err
		}
	}
	if _, err = stack.NewStack(app, id, props); err != nil {
		return err
	}
	stack.ApplyChecks(app)
	app.Synth(nil)
	return nil
}

// allowedOrigins reads -c allowedOrigins=https://a.example.com,https://b.example.com.
// The prod stage must say it: a list, or "none" for native clients only.
func allowedOrigins(app awscdk.App, stage stack.Stage) ([]string, error) {
	v := contextString(app, "allowedOrigins", "")
	switch {
	case v == "none":
		return nil, nil
	case v == "" && stage.IsProd():
		return nil, fmt.Errorf("the prod stage needs -c allowedOrigins: the browser origins allowed to call the APIs " +
			"(https://app.example.com,https://admin.example.com), or none for native clients only")
	}
	return contextList(app, "allowedOrigins"), nil
}

// authConfig reads -c issuer=... -c audience=... (an external OIDC issuer)
// and the user pool's settings.
func authConfig(app awscdk.App) (stack.AuthConfig, error) {
	c := stack.AuthConfig{
		Issuer:      contextString(app, "issuer", ""),
		Audience:    contextList(app, "audience"),
		GroupsClaim: contextString(app, "groupsClaim", ""),
		// The app's roles and admin-only attributes, from its declaration:
		// the user pool's groups and custom attributes (cognito:groups and
		// custom:<name> in tokens).
		Groups:              fooddelivery.App.Users.Groups,
		AdminOnlyAttributes: fooddelivery.App.Users.AdminOnlyAttributes,
	}
	if m := contextString(app, "mfa", ""); m != "" {
		mfa, err := stack.ParseMFA(m)
		if err != nil {
			return c, err
		}
		c.MFA = mfa
	}
	var err error
	if c.SelfSignUp, err = contextBool(app, "selfSignUp", false); err != nil {
		return c, err
	}
	if c.ThreatProtection, err = contextBool(app, "threatProtection", false); err != nil {
		return c, err
	}
	return c, nil
}

// throttle reads -c <api>RateLimit=... and -c <api>BurstLimit=...; unset
// values take the stage's default.
func throttle(app awscdk.App, api string) (stack.Throttle, error) {
	var t stack.Throttle
	for key, dst := range map[string]*float64{api + "RateLimit": &t.RatePerSecond, api + "BurstLimit": &t.Burst} {
		v := contextString(app, key, "")
		if v == "" {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			return t, fmt.Errorf("context %s=%q: want a positive number", key, v)
		}
		*dst = f
	}
	return t, t.Validate()
}

// eventLogRetention reads -c eventLogRetention=90d (or 2160h): how long
// the event log keeps records; unset, 30 days.
func eventLogRetention(app awscdk.App) (time.Duration, error) {
	v := contextString(app, "eventLogRetention", "")
	if v == "" {
		return 0, nil
	}
	d, err := eventlog.ParseRetention(v)
	if err != nil {
		return 0, fmt.Errorf("context eventLogRetention: %w", err)
	}
	return d, nil
}

// pushQueueThreshold reads -c pushQueueThreshold=500: the audience over
// which the fan-out hands a change to the push queue; unset, the
// fan-out's default (fanout.DefaultQueueThreshold).
func pushQueueThreshold(app awscdk.App) (int, error) {
	v := contextString(app, "pushQueueThreshold", "")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("context pushQueueThreshold %q: want a positive number of subscriptions", v)
	}
	return n, nil
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

// contextBool reads true or false.
func contextBool(app awscdk.App, key string, def bool) (bool, error) {
	v := contextString(app, key, strconv.FormatBool(def))
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("context %s=%q: want true or false", key, v)
	}
	return b, nil
}

// contextList reads a comma-separated list, ignoring spaces around items.
func contextList(app awscdk.App, key string) []string {
	var out []string
	for _, v := range strings.Split(contextString(app, key, ""), ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
