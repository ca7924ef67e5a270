package emulator_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/threefactor/framework/lib/emulator"
)

func TestStartServesAWSAPIsAndStops(t *testing.T) {
	if testing.Short() {
		t.Skip("starts moto: runs in make test, not with -short")
	}
	ctx := context.Background()
	s, err := emulator.Start(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.Endpoint(), "http://127.0.0.1:") {
		t.Fatalf("endpoint %q is not on loopback", s.Endpoint())
	}
	cfg, err := emulator.Config(ctx, s.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqs.NewFromConfig(cfg).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("probe")})
	if err != nil {
		t.Fatalf("create queue on emulator: %v", err)
	}
	if !strings.Contains(*q.QueueUrl, "probe") {
		t.Fatalf("queue url %q", *q.QueueUrl)
	}
	s.Close()
	if emulator.Alive(ctx, &http.Client{Timeout: time.Second}, s.Endpoint()) {
		t.Fatal("emulator still answers after Close")
	}
}

func TestEnsureReusesRecordedServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts moto: runs in make test, not with -short")
	}
	ctx := context.Background()
	dir := t.TempDir()
	t.Cleanup(func() { emulator.StopRecorded(dir) })
	ep1, started, err := emulator.Ensure(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !started {
		t.Fatal("first Ensure should start a server")
	}
	ep2, started, err := emulator.Ensure(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if started || ep2 != ep1 {
		t.Fatalf("second Ensure: started=%v endpoint %s, want reuse of %s", started, ep2, ep1)
	}
	if _, err := os.Stat(filepath.Join(dir, "moto.pid")); err != nil {
		t.Fatal(err)
	}
	if err := emulator.StopRecorded(dir); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for emulator.Alive(ctx, &http.Client{Timeout: time.Second}, ep1) {
		if time.Now().After(deadline) {
			t.Fatal("recorded emulator still answers after StopRecorded")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestStartWithoutMotoSaysHowToInstall(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := emulator.Start(context.Background(), "")
	if err == nil || !strings.Contains(err.Error(), "pip install") {
		t.Fatalf("err = %v, want the install hint", err)
	}
}
