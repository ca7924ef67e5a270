package capacity

// Sources of the quotas and prices. Prices are US East (N. Virginia).
const (
	SrcAPIGatewayQuotas   = "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html"
	SrcWebSocketQuotas    = "https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-execution-service-websocket-limits-table.html"
	SrcEventBridgeQuotas  = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html"
	SrcLambdaQuotas       = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
	SrcLambdaScaling      = "https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html"
	SrcLambdaSQSScaling   = "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html"
	SrcLambdaStreamParams = "https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html"
	SrcDynamoDBPartitions = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html"
	SrcDynamoDBQuotas     = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html"
	SrcDynamoDBStreams    = "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetRecords.html"
	SrcSQSFIFOThroughput  = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/troubleshooting-fifo-throttling-issues.html"

	SrcLambdaPricing      = "https://aws.amazon.com/lambda/pricing/"
	SrcAPIGatewayPricing  = "https://aws.amazon.com/api-gateway/pricing/"
	SrcDynamoDBPricing    = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
	SrcEventBridgePricing = "https://aws.amazon.com/eventbridge/pricing/"
	SrcSQSPricing         = "https://aws.amazon.com/sqs/pricing/"
	SrcEventLogCost       = "docs/eventlog.md, Cost in the cloud"
)

// Bench names a figure `make bench` prints; a number measured there cites it.
func Bench(figure string) string { return "make bench: figure " + figure }

// Assumed marks a number that no page gives and no local run can measure:
// `threefactor load` against a deployment measures it (docs/scale.md).
func Assumed(why string) string { return "assumed: " + why }
