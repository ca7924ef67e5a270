// Package emulatortest gives tests an AWS-compatible endpoint, found through
// the configuration users set: AWS_ENDPOINT_URL when it is set (LocalStack,
// a running moto, or AWS), else a private moto server started on a free
// loopback port for the test binary and stopped when it ends.
package emulatortest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/threefactor/framework/lib/emulator"
)

// Main runs a test binary against the emulator: call it from TestMain as
// os.Exit(emulatortest.Main(m)). It never skips: without an emulator the
// tests fail with the reason.
func Main(m *testing.M) int {
	if os.Getenv("AWS_ENDPOINT_URL") == "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		s, err := emulator.Start(ctx, os.Getenv("EMULATOR_LOG"))
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "these tests need an AWS emulator:", err)
			return 1
		}
		defer s.Close()
		emulator.SetEnv(s.Endpoint())
	}
	return m.Run()
}

// Config loads the default AWS config, which the environment set by Main
// (or by the user) points at the emulator.
func Config(t testing.TB) aws.Config {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatalf("aws config: %v", err)
	}
	return cfg
}

// Endpoint is the emulator endpoint in use.
func Endpoint() string { return os.Getenv("AWS_ENDPOINT_URL") }
