package expiry_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/realtime/expiry"
	"github.com/threefactor/framework/lib/topology"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

func TestScheduleName(t *testing.T) {
	valid := regexp.MustCompile(`^[0-9a-zA-Z_.-]{1,64}$`)
	for _, id := range []string{"L0SM9cOFvHcCIhw=", "a/b+c==", strings.Repeat("x", 200)} {
		if n := expiry.ScheduleName(id); !valid.MatchString(n) {
			t.Errorf("ScheduleName(%q) = %q: not a valid schedule name", id, n)
		}
	}
	a, again, b := expiry.ScheduleName("a"), expiry.ScheduleName("a"), expiry.ScheduleName("b")
	if a == b || a != again {
		t.Error("schedule names do not tell connections apart")
	}
}

func TestExpression(t *testing.T) {
	for at, want := range map[time.Time]string{
		time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC):                      "at(2026-11-30T10:00:00)",
		time.Date(2026, 11, 30, 10, 0, 0, 1, time.UTC):                      "at(2026-11-30T10:00:01)",
		time.Date(2026, 11, 30, 11, 59, 59, 0, time.FixedZone("CET", 3600)): "at(2026-11-30T10:59:59)",
		time.Date(2026, 12, 31, 23, 59, 59, 500_000_000, time.UTC):          "at(2027-01-01T00:00:00)",
	} {
		if got := expiry.Expression(at); got != want {
			t.Errorf("Expression(%s) = %s, want %s", at, got, want)
		}
	}
}

func TestFromEnvNamesMissingVariables(t *testing.T) {
	_, err := expiry.FromEnv(aws.Config{Region: "us-east-1"}, func(string) string { return "" })
	for _, v := range []string{topology.EnvExpiryScheduleGroup, topology.EnvExpirySchedulerRoleARN} {
		if err == nil || !strings.Contains(err.Error(), v+" is not set") {
			t.Errorf("err = %v, want it to name %s", err, v)
		}
	}
}

var groupSeq atomic.Int64

// On the emulator: the schedule invokes the function of the Lambda
// context at the token's expiry with the payload the realtime handler
// recognizes, and is deleted after it runs.
func TestScheduleExpiry(t *testing.T) {
	ctx := context.Background()
	client := scheduler.NewFromConfig(emulatortest.Config(t))
	group := fmt.Sprintf("expiry-%d-%d", os.Getpid(), groupSeq.Add(1))
	if _, err := client.CreateScheduleGroup(ctx, &scheduler.CreateScheduleGroupInput{Name: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{topology.EnvExpiryScheduleGroup: group, topology.EnvExpirySchedulerRoleARN: "arn:aws:iam::123456789012:role/expiry"}
	s, err := expiry.FromEnv(emulatortest.Config(t), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	const fn = "arn:aws:lambda:us-east-1:123456789012:function:app-realtime"
	lctx := lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{InvokedFunctionArn: fn})
	at := time.Now().Add(time.Hour).Truncate(time.Second)
	conn := "L0SM9cOFvHcCIhw="
	if err := s.ScheduleExpiry(lctx, conn, at); err != nil {
		t.Fatal(err)
	}
	// connection_init is handled once; a second schedule is not an error.
	if err := s.ScheduleExpiry(lctx, conn, at); err != nil {
		t.Fatalf("again: %v", err)
	}
	got, err := client.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String(expiry.ScheduleName(conn)), GroupName: aws.String(group)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(got.ScheduleExpression) != expiry.Expression(at) || aws.ToString(got.ScheduleExpressionTimezone) != "UTC" ||
		got.ActionAfterCompletion != types.ActionAfterCompletionDelete || got.FlexibleTimeWindow == nil || got.FlexibleTimeWindow.Mode != types.FlexibleTimeWindowModeOff {
		t.Fatalf("schedule %s %s %s %+v", aws.ToString(got.ScheduleExpression), aws.ToString(got.ScheduleExpressionTimezone), got.ActionAfterCompletion, got.FlexibleTimeWindow)
	}
	if got.Target == nil || aws.ToString(got.Target.Arn) != fn || aws.ToString(got.Target.RoleArn) != env[topology.EnvExpirySchedulerRoleARN] {
		t.Fatalf("target %+v", got.Target)
	}
	var ev realtime.ExpiryEvent
	if err := json.Unmarshal([]byte(aws.ToString(got.Target.Input)), &ev); err != nil || ev.Action != realtime.ExpiryAction || ev.ConnectionID != conn {
		t.Fatalf("input %s: %+v, %v", aws.ToString(got.Target.Input), ev, err)
	}
	if err := s.ScheduleExpiry(ctx, "other", at); err == nil || !strings.Contains(err.Error(), "no function ARN") {
		t.Fatalf("outside a Lambda invocation: err = %v", err)
	}
}
