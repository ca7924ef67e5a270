package stack

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
)

// Stage is the deployment stage, read from the CDK context value "stage".
// It switches removal policies, deletion protection, log levels, log
// retention and GraphQL introspection.
type Stage string

// Stages.
const (
	Dev  Stage = "dev"
	Prod Stage = "prod"
)

// ParseStage accepts "dev" or "prod".
func ParseStage(s string) (Stage, error) {
	switch Stage(s) {
	case Dev, Prod:
		return Stage(s), nil
	}
	return "", fmt.Errorf("stage %q: want dev or prod", s)
}

// IsProd reports whether s is the production stage.
func (s Stage) IsProd() bool { return s == Prod }

// RemovalPolicy keeps stateful resources in prod and removes them with the
// stack in dev.
func (s Stage) RemovalPolicy() awscdk.RemovalPolicy {
	if s.IsProd() {
		return awscdk.RemovalPolicy_RETAIN
	}
	return awscdk.RemovalPolicy_DESTROY
}

// LogRetention is how long function and access logs are kept.
func (s Stage) LogRetention() awslogs.RetentionDays {
	if s.IsProd() {
		return awslogs.RetentionDays_SIX_MONTHS
	}
	return awslogs.RetentionDays_ONE_WEEK
}

// LogLevel is the LOG_LEVEL given to every function.
func (s Stage) LogLevel() string {
	if s.IsProd() {
		return "info"
	}
	return "debug"
}

// Introspection reports whether the GraphQL functions answer introspection
// queries: they do when their STAGE is dev, for tooling, and not in prod.
func (s Stage) Introspection() bool { return !s.IsProd() }
