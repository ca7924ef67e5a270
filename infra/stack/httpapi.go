package stack

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/threefactor/framework/lib/topology"
)

// Paths of the HTTP API.
const (
	// GraphQLPath is the GraphQL endpoint: every method behind the JWT
	// authorizer.
	GraphQLPath = topology.GraphQLPath
	// GraphiQLPath serves the GraphiQL page (the page only; its queries go
	// to GraphQLPath with the user's token), in the dev stage only.
	GraphiQLPath = topology.GraphiQLPath
)

// Throttle is a stage's steady-state request rate and burst. A zero field
// takes DefaultThrottle's value.
type Throttle struct {
	RatePerSecond float64
	Burst         float64
}

// DefaultThrottle is the stage throttle when Props leave it zero.
func DefaultThrottle(s Stage) Throttle {
	if s.IsProd() {
		return Throttle{RatePerSecond: 1000, Burst: 2000}
	}
	return Throttle{RatePerSecond: 50, Burst: 100}
}

// Validate refuses negative values and a fractional burst (API Gateway
// counts the burst in whole requests).
func (t Throttle) Validate() error {
	if t.RatePerSecond < 0 || t.Burst < 0 || t.Burst != float64(int64(t.Burst)) {
		return fmt.Errorf("throttle %v/s burst %v: want a positive rate and a whole positive burst", t.RatePerSecond, t.Burst)
	}
	return nil
}

func (t Throttle) orDefault(s Stage) Throttle {
	d := DefaultThrottle(s)
	if t.RatePerSecond == 0 {
		t.RatePerSecond = d.RatePerSecond
	}
	if t.Burst == 0 {
		t.Burst = d.Burst
	}
	return t
}

// HttpApiProps configures HttpApi.
type HttpApiProps struct {
	Topology topology.Topology
	Stage    Stage
	Tables   *Tables
	Code     Code
	// Identity gives the issuer and audience of the JWT authorizer.
	Identity *Identity
	// AllowedOrigins are the browser origins allowed to call the API
	// (CORS) and, for the function, ALLOWED_ORIGINS. See Props.
	AllowedOrigins []string
	// Throttle of the default stage. Zero: DefaultThrottle(Stage).
	Throttle Throttle
}

// HttpApi is the GraphQL front door for queries and mutations: an API
// Gateway HTTP API routing GET and POST /graphql, behind a JWT authorizer,
// to the graphql function, with CORS for the allowed browser origins, JSON
// access logs and default stage throttling. In the dev stage GET /graphiql
// serves the GraphiQL page without authorization.
type HttpApi struct {
	constructs.Construct
	Api        awsapigatewayv2.HttpApi
	Stage      awsapigatewayv2.HttpStage
	Function   awslambda.Function
	Authorizer awsapigatewayv2authorizers.HttpJwtAuthorizer
	AccessLogs awslogs.LogGroup
	// URL is the GraphQL endpoint, https://.../graphql.
	URL *string
}

// httpAccessLogFormat is one JSON object per request.
const httpAccessLogFormat = `{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",` +
	`"requestTime":"$context.requestTime","httpMethod":"$context.httpMethod","routeKey":"$context.routeKey",` +
	`"status":"$context.status","protocol":"$context.protocol","responseLength":"$context.responseLength",` +
	`"latencyMs":"$context.responseLatency","integrationLatencyMs":"$context.integrationLatency",` +
	`"integrationError":"$context.integrationErrorMessage","authorizerError":"$context.authorizer.error"}`

// NewHttpApi creates the HTTP API and the graphql function. The allowed
// origins must have passed resolveOrigins (NewStack checks them).
func NewHttpApi(scope constructs.Construct, id string, p HttpApiProps) *HttpApi {
	c := constructs.NewConstruct(scope, jsii.String(id))
	h := &HttpApi{Construct: c}
	t := p.Topology
	origins, err := resolveOrigins(p.Stage, p.AllowedOrigins)
	if err != nil {
		panic(err)
	}

	tables := append(AppTables(t), topology.IdempotencyTable)
	env := p.Tables.Env(tables...)
	for k, v := range p.Identity.Env() {
		env[k] = v
	}
	env[EnvAllowedOrigins] = strings.Join(origins.Env, ",")
	h.Function = newGoFunction(c, "GraphQL", goFunctionProps{
		Name:        topology.GraphQLFunction,
		Description: "GraphQL queries and mutations over HTTPS",
		Code:        p.Code,
		Stage:       p.Stage,
		Timeout:     awscdk.Duration_Seconds(jsii.Number(10)),
		MemoryMB:    512,
		Env:         env,
	})
	p.Tables.GrantReadWrite(h.Function, tables...)

	// Every route needs a valid token unless it says otherwise: API
	// Gateway checks signature (against the issuer's JWKS), iss, aud or
	// client_id, and exp before the function runs, and answers 401 itself.
	h.Authorizer = awsapigatewayv2authorizers.NewHttpJwtAuthorizer(jsii.String("Jwt"), p.Identity.Issuer,
		&awsapigatewayv2authorizers.HttpJwtAuthorizerProps{
			AuthorizerName: jsii.String("jwt"),
			JwtAudience:    &p.Identity.Audience,
			IdentitySource: jsii.Strings("$request.header.Authorization"),
		})
	var cors *awsapigatewayv2.CorsPreflightOptions
	if len(origins.CORS) > 0 {
		// API Gateway answers preflight OPTIONS requests itself, before
		// any authorizer: no OPTIONS route exists.
		cors = &awsapigatewayv2.CorsPreflightOptions{
			AllowOrigins: jsii.Strings(origins.CORS...),
			AllowMethods: &[]awsapigatewayv2.CorsHttpMethod{
				awsapigatewayv2.CorsHttpMethod_GET,
				awsapigatewayv2.CorsHttpMethod_POST,
				awsapigatewayv2.CorsHttpMethod_OPTIONS,
			},
			AllowHeaders:  jsii.Strings("content-type", "authorization", "x-correlation-id"),
			ExposeHeaders: jsii.Strings("x-correlation-id"),
			MaxAge:        awscdk.Duration_Hours(jsii.Number(1)),
		}
	}
	h.Api = awsapigatewayv2.NewHttpApi(c, jsii.String("Api"), &awsapigatewayv2.HttpApiProps{
		Description:        jsii.String(t.App + " GraphQL over HTTPS"),
		CorsPreflight:      cors,
		DefaultAuthorizer:  h.Authorizer,
		CreateDefaultStage: jsii.Bool(false),
	})
	integration := awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("GraphQLIntegration"), h.Function, nil)
	h.Api.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
		Path:        jsii.String(GraphQLPath),
		Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod_GET, awsapigatewayv2.HttpMethod_POST},
		Integration: integration,
	})
	if !p.Stage.IsProd() {
		graphiql := h.Api.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
			Path:        jsii.String(GraphiQLPath),
			Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod_GET},
			Integration: integration,
			Authorizer:  awsapigatewayv2.NewHttpNoneAuthorizer(),
		})
		for _, r := range *graphiql {
			suppressGraphiQLOpen(r)
		}
	}

	throttle := p.Throttle.orDefault(p.Stage)
	h.Stage = h.Api.AddStage(jsii.String("DefaultStage"), &awsapigatewayv2.HttpStageOptions{
		StageName:  jsii.String("$default"),
		AutoDeploy: jsii.Bool(true),
		Throttle: &awsapigatewayv2.ThrottleSettings{
			RateLimit:  jsii.Number(throttle.RatePerSecond),
			BurstLimit: jsii.Number(throttle.Burst),
		},
	})
	h.AccessLogs = awslogs.NewLogGroup(c, jsii.String("AccessLogs"), &awslogs.LogGroupProps{
		Retention:     p.Stage.LogRetention(),
		RemovalPolicy: p.Stage.RemovalPolicy(),
	})
	setAccessLogs(h.Stage, h.AccessLogs, httpAccessLogFormat)
	h.URL = jsii.String(*h.Stage.Url() + GraphQLPath[1:])
	return h
}

// setAccessLogs turns on JSON access logs of a stage. The L2 stage's
// accessLogSettings wants a jsii interface implementation; the L1 property
// says the same thing plainly.
func setAccessLogs(stage constructs.IConstruct, logs awslogs.ILogGroup, format string) {
	cfn := stage.Node().DefaultChild().(awsapigatewayv2.CfnStage)
	cfn.SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: logs.LogGroupArn(),
		Format:         jsii.String(format),
	})
}
