// Package emulatortest gives tests an AWS-compatible endpoint, found through
// the configuration users set: AWS_ENDPOINT_URL when it is set (LocalStack,
// a running moto, or AWS), else a private moto server started on a free
// loopback port the first time a test of the binary asks for it, and
// stopped when the binary ends. A test binary none of whose tests need the
// emulator never starts one.
//
// A test that needs the emulator says so by calling Config or Endpoint. It
// is never skipped in `make test`; with -short (`make test-short`, the
// edit-test loop) it is skipped, so that loop runs without an emulator.
package emulatortest

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/threefactor/framework/lib/emulator"
)

var (
	// managed: Main runs this binary without a user endpoint, so the
	// emulator is ours to start and stop.
	managed  bool
	once     sync.Once
	server   *emulator.Server
	startErr error
)

// Main runs a test binary against the emulator: call it from TestMain as
// os.Exit(emulatortest.Main(m)). Without an emulator the tests that need
// one fail with the reason; they are never skipped (but with -short).
func Main(m *testing.M) int {
	managed = os.Getenv("AWS_ENDPOINT_URL") == ""
	code := m.Run()
	if server != nil {
		_ = server.Close()
	}
	return code
}

// Endpoint is the emulator's endpoint, started on first use. With -short
// the test is skipped.
func Endpoint(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the AWS emulator: runs in make test, not with -short")
	}
	if !managed {
		ep := os.Getenv("AWS_ENDPOINT_URL")
		if ep == "" {
			t.Fatal("emulatortest: call emulatortest.Main from TestMain, or set AWS_ENDPOINT_URL")
		}
		return ep
	}
	once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		server, startErr = emulator.Start(ctx, os.Getenv("EMULATOR_LOG"))
		if startErr == nil {
			emulator.SetEnv(server.Endpoint())
		}
	})
	if startErr != nil {
		t.Fatalf("these tests need an AWS emulator: %v", startErr)
	}
	return server.Endpoint()
}

// Config is the default AWS config, which points at the emulator (started
// on first use). With -short the test is skipped.
func Config(t testing.TB) aws.Config {
	t.Helper()
	Endpoint(t)
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatalf("aws config: %v", err)
	}
	cfg.HTTPClient = emulator.BufferRequestBodies(cfg.HTTPClient)
	return cfg
}
