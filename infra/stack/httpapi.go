package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/threefactor/framework/lib/topology"
)

// GraphQLPath is the path of the GraphQL endpoint.
const GraphQLPath = "/graphql"

// Throttle is a stage's steady-state request rate and burst.
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

func (t Throttle) orDefault(s Stage) Throttle {
	if t.RatePerSecond == 0 || t.Burst == 0 {
		return DefaultThrottle(s)
	}
	return t
}

// HttpApiProps configures HttpApi.
type HttpApiProps struct {
	Topology topology.Topology
	Stage    Stage
	Tables   *Tables
	Code     Code
	// CorsOrigins are the browser origins allowed to call the API. Default
	// "*": the API authenticates with bearer tokens, never cookies. Native
	// mobile clients do not use CORS.
	CorsOrigins []string
	// Throttle of the default stage. Zero: DefaultThrottle(Stage).
	Throttle Throttle
}

// HttpApi is the GraphQL front door for queries and mutations: an API
// Gateway HTTP API routing GET and POST /graphql to the graphql function,
// with CORS for web clients, JSON access logs and default stage throttling.
type HttpApi struct {
	constructs.Construct
	Api        awsapigatewayv2.HttpApi
	Stage      awsapigatewayv2.HttpStage
	Function   awslambda.Function
	AccessLogs awslogs.LogGroup
	// URL is the GraphQL endpoint, https://.../graphql.
	URL *string
}

// httpAccessLogFormat is one JSON object per request.
const httpAccessLogFormat = `{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",` +
	`"requestTime":"$context.requestTime","httpMethod":"$context.httpMethod","routeKey":"$context.routeKey",` +
	`"status":"$context.status","protocol":"$context.protocol","responseLength":"$context.responseLength",` +
	`"latencyMs":"$context.responseLatency","integrationLatencyMs":"$context.integrationLatency",` +
	`"integrationError":"$context.integrationErrorMessage"}`

// NewHttpApi creates the HTTP API and the graphql function.
func NewHttpApi(scope constructs.Construct, id string, p HttpApiProps) *HttpApi {
	c := constructs.NewConstruct(scope, jsii.String(id))
	h := &HttpApi{Construct: c}
	t := p.Topology

	tables := append(AppTables(t), topology.IdempotencyTable)
	env := p.Tables.Env(tables...)
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

	origins := p.CorsOrigins
	if len(origins) == 0 {
		origins = []string{"*"}
	}
	h.Api = awsapigatewayv2.NewHttpApi(c, jsii.String("Api"), &awsapigatewayv2.HttpApiProps{
		Description: jsii.String(t.App + " GraphQL over HTTPS"),
		CorsPreflight: &awsapigatewayv2.CorsPreflightOptions{
			AllowOrigins: jsii.Strings(origins...),
			AllowMethods: &[]awsapigatewayv2.CorsHttpMethod{
				awsapigatewayv2.CorsHttpMethod_GET,
				awsapigatewayv2.CorsHttpMethod_POST,
				awsapigatewayv2.CorsHttpMethod_OPTIONS,
			},
			AllowHeaders:  jsii.Strings("content-type", "authorization", "x-correlation-id"),
			ExposeHeaders: jsii.Strings("x-correlation-id"),
			MaxAge:        awscdk.Duration_Hours(jsii.Number(1)),
		},
		CreateDefaultStage: jsii.Bool(false),
	})
	h.Api.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
		Path:        jsii.String(GraphQLPath),
		Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod_GET, awsapigatewayv2.HttpMethod_POST},
		Integration: awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("GraphQLIntegration"), h.Function, nil),
	})

	suppressNoAuthorizer(h.Api, "The GraphQL endpoint serves public queries too; the graphql function verifies the "+
		"bearer token and authorizes per field, answering UNAUTHENTICATED in GraphQL errors rather than a bare 401.")
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
