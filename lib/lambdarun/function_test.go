package lambdarun_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/threefactor/framework/lib/lambdarun"
)

var (
	buildOnce sync.Once
	rie, echo string
	buildErr  error
)

// binaries builds the runtime interface emulator and testdata/echo once.
func binaries(t *testing.T) (emulator, bootstrap string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the runtime interface emulator: not with -short")
	}
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "lambdarun-test-")
		if err != nil {
			buildErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		var bins map[string]string
		rie, buildErr = lambdarun.BuildEmulator(ctx, root, dir)
		if buildErr == nil {
			bins, buildErr = lambdarun.Build(ctx, lambdarun.BuildConfig{
				Dir: root, Out: dir, Packages: map[string]string{"echo": "./lib/lambdarun/testdata/echo"},
			})
			echo = bins["echo"]
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return rie, echo
}

func start(t *testing.T, env map[string]string, timeout time.Duration) *lambdarun.Function {
	t.Helper()
	emu, boot := binaries(t)
	f, err := lambdarun.Start(context.Background(), lambdarun.Config{
		Name: "echo", Bootstrap: boot, Emulator: emu, Env: env, Region: "us-east-1",
		Credentials: aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}, Endpoint: "http://127.0.0.1:1",
		Timeout: timeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

type echoRequest struct {
	Env   string `json:"env,omitempty"`
	Fail  string `json:"fail,omitempty"`
	Sleep string `json:"sleep,omitempty"`
	Exit  bool   `json:"exit,omitempty"`
}

type echoResponse struct {
	Value string `json:"value"`
}

func call(f *lambdarun.Function, r echoRequest) (string, error) {
	resp, err := lambdarun.Invoke[echoRequest, echoResponse](context.Background(), f, r)
	return resp.Value, err
}

// The function sees its own environment, what Lambda's runtime sets and
// nothing of the test process's; it answers, and its cold start is known
// after its first answer.
func TestFunctionEnvironment(t *testing.T) {
	t.Setenv("LAMBDARUN_TEST_LEAK", "from the test process")
	f := start(t, map[string]string{"TABLE_ORDERS": "app-orders"}, 5*time.Second)
	if f.ColdStart() != 0 {
		t.Error("a cold start before the first answer")
	}
	for name, want := range map[string]string{
		"TABLE_ORDERS":             "app-orders",
		"AWS_REGION":               "us-east-1",
		"AWS_ACCESS_KEY_ID":        "AKIDEXAMPLE",
		"AWS_ENDPOINT_URL":         "http://127.0.0.1:1",
		"AWS_LAMBDA_FUNCTION_NAME": "echo",
		"LAMBDARUN_TEST_LEAK":      "",
	} {
		if got, err := call(f, echoRequest{Env: name}); err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	if f.ColdStart() <= 0 {
		t.Error("no cold start after the first answer")
	}
}

// A handler's error, a timeout and a process that exits are each a
// FunctionError saying what happened; the function answers again after
// the first two, and the emulator starts a fresh process after the third.
func TestFunctionErrors(t *testing.T) {
	f := start(t, nil, time.Second)
	var fe *lambdarun.FunctionError
	_, err := call(f, echoRequest{Fail: "no such order"})
	if !errors.As(err, &fe) || fe.Message != "no such order" || fe.Init {
		t.Errorf("handler error: %v", err)
	}
	_, err = call(f, echoRequest{Sleep: "3s"})
	if !errors.As(err, &fe) || fe.Type != "Sandbox.Timedout" {
		t.Errorf("timeout: %v", err)
	}
	_, err = call(f, echoRequest{Exit: true})
	if !errors.As(err, &fe) || fe.Type != "Runtime.ExitError" || !strings.Contains(fe.Message, "exiting as asked") {
		t.Errorf("exit: %v", err)
	}
	if got, err := call(f, echoRequest{Env: "AWS_REGION"}); err != nil || got != "us-east-1" {
		t.Errorf("after the failures: %q, %v", got, err)
	}
}

// A function that exits at start fails its invocations with an init error
// carrying what it printed.
func TestFunctionInitFailure(t *testing.T) {
	f := start(t, map[string]string{"FAIL_INIT": "yes"}, 5*time.Second)
	_, err := call(f, echoRequest{})
	var fe *lambdarun.FunctionError
	if !errors.As(err, &fe) || !fe.Init || !strings.Contains(fe.Message, "FAIL_INIT is set (yes)") {
		t.Fatalf("err = %v, want an init error with the function's message", err)
	}
	if !strings.Contains(err.Error(), "init failed") {
		t.Errorf("message %q", err)
	}
}

// Lambda's own variables cannot be set through the function's environment.
func TestStartRefusesReservedVariables(t *testing.T) {
	_, err := lambdarun.Start(context.Background(), lambdarun.Config{
		Name: "echo", Bootstrap: "/nonexistent", Emulator: "/nonexistent", Region: "us-east-1",
		Env: map[string]string{"AWS_REGION": "eu-west-1"},
	})
	if err == nil || !strings.Contains(err.Error(), "AWS_REGION is reserved") {
		t.Fatalf("err = %v", err)
	}
}
