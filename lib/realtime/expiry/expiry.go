// Package expiry closes a realtime connection on AWS when its token
// expires: at connection_init the realtime function creates an
// EventBridge Scheduler one-time schedule (at(...), deleted after it
// runs) that invokes the same function at the token's exp with a
// realtime.ExpiryEvent, which its Handler.Invoke recognizes and answers by
// ending the connection (realtime.Handler.Expire).
//
// Infra provides the schedule group (topology.EnvExpiryScheduleGroup) and
// a role Scheduler assumes to invoke the realtime function
// (topology.EnvExpirySchedulerRoleARN); the function's own ARN comes from
// the Lambda context of the invocation that schedules.
package expiry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/topology"
)

// schedulerAPI is the part of the EventBridge Scheduler client used.
type schedulerAPI interface {
	CreateSchedule(ctx context.Context, in *scheduler.CreateScheduleInput, opts ...func(*scheduler.Options)) (*scheduler.CreateScheduleOutput, error)
}

// Config configures a Scheduler.
type Config struct {
	// Group is the schedule group (EXPIRY_SCHEDULE_GROUP).
	Group string
	// RoleARN is the role Scheduler assumes to invoke the function
	// (EXPIRY_SCHEDULER_ROLE_ARN).
	RoleARN string
	// FunctionARN is the function to invoke. Empty: the invoked function's
	// ARN from the Lambda context of the call to ScheduleExpiry.
	FunctionARN string
	// Retries is how many times Scheduler retries a failed invocation.
	// Default 3.
	Retries int32
}

// Validate reports what is missing.
func (c Config) Validate() error {
	var errs []error
	if c.Group == "" {
		errs = append(errs, fmt.Errorf("%s is not set", topology.EnvExpiryScheduleGroup))
	}
	if c.RoleARN == "" {
		errs = append(errs, fmt.Errorf("%s is not set", topology.EnvExpirySchedulerRoleARN))
	}
	if c.Retries < 0 {
		errs = append(errs, errors.New("expiry: negative Retries"))
	}
	return errors.Join(errs...)
}

// Scheduler is a realtime.ExpiryScheduler on EventBridge Scheduler.
type Scheduler struct {
	client schedulerAPI
	cfg    Config
}

// New returns a Scheduler over client (a *scheduler.Client).
func New(client schedulerAPI, cfg Config) (*Scheduler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Retries == 0 {
		cfg.Retries = 3
	}
	return &Scheduler{client: client, cfg: cfg}, nil
}

// FromEnv is a Scheduler for the group and role the environment names;
// the error names every variable not set.
func FromEnv(cfg aws.Config, getenv func(string) string) (*Scheduler, error) {
	return New(scheduler.NewFromConfig(cfg), Config{
		Group:   getenv(topology.EnvExpiryScheduleGroup),
		RoleARN: getenv(topology.EnvExpirySchedulerRoleARN),
	})
}

// ScheduleName is the schedule of a connection: connection ids may hold
// characters a schedule name may not, so it is a digest.
func ScheduleName(connectionID string) string {
	sum := sha256.Sum256([]byte(connectionID))
	return "expire-" + hex.EncodeToString(sum[:20])
}

// Expression is the at() expression of a time, in UTC, rounded up to the
// second so that it never fires before at.
func Expression(at time.Time) string {
	at = at.UTC()
	if t := at.Truncate(time.Second); !t.Equal(at) {
		at = t.Add(time.Second)
	}
	return "at(" + at.Format("2006-01-02T15:04:05") + ")"
}

// ScheduleExpiry creates the one-time schedule that invokes the function
// with realtime.ExpiryEvent at at. A schedule for the connection that
// exists already is kept.
func (s *Scheduler) ScheduleExpiry(ctx context.Context, connectionID string, at time.Time) error {
	fn := s.cfg.FunctionARN
	if fn == "" {
		lc, ok := lambdacontext.FromContext(ctx)
		if !ok || lc.InvokedFunctionArn == "" {
			return errors.New("expiry: no function ARN: not in a Lambda invocation and Config.FunctionARN is empty")
		}
		fn = lc.InvokedFunctionArn
	}
	input, err := json.Marshal(realtime.ExpiryEvent{Action: realtime.ExpiryAction, ConnectionID: connectionID})
	if err != nil {
		return err
	}
	_, err = s.client.CreateSchedule(ctx, &scheduler.CreateScheduleInput{
		Name:                       aws.String(ScheduleName(connectionID)),
		GroupName:                  aws.String(s.cfg.Group),
		Description:                aws.String("close a realtime connection when its token expires"),
		ScheduleExpression:         aws.String(Expression(at)),
		ScheduleExpressionTimezone: aws.String("UTC"),
		FlexibleTimeWindow:         &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff},
		ActionAfterCompletion:      types.ActionAfterCompletionDelete,
		Target: &types.Target{
			Arn:     aws.String(fn),
			RoleArn: aws.String(s.cfg.RoleARN),
			Input:   aws.String(string(input)),
			RetryPolicy: &types.RetryPolicy{
				MaximumRetryAttempts:     aws.Int32(s.cfg.Retries),
				MaximumEventAgeInSeconds: aws.Int32(3600),
			},
		},
	})
	var conflict *types.ConflictException
	if errors.As(err, &conflict) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("schedule the expiry of %s: %w", connectionID, err)
	}
	return nil
}
