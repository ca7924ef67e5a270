package realtime

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"

	"github.com/threefactor/framework/lib/topology"
)

// ManagementFromEnv is a Management API client for the endpoint in
// topology.EnvManagementEndpoint: on AWS
// https://{api-id}.execute-api.{region}.amazonaws.com/{stage}, locally the
// dev runtime's address.
func ManagementFromEnv(cfg aws.Config, getenv func(string) string, opts ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.Client, error) {
	ep := getenv(topology.EnvManagementEndpoint)
	if ep == "" {
		return nil, fmt.Errorf("%s is not set", topology.EnvManagementEndpoint)
	}
	opts = append([]func(*apigatewaymanagementapi.Options){func(o *apigatewaymanagementapi.Options) {
		o.BaseEndpoint = aws.String(ep)
	}}, opts...)
	return apigatewaymanagementapi.NewFromConfig(cfg, opts...), nil
}
