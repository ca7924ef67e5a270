package localws

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	apitypes "github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
)

// TestManagementRate: with ManagementRate set, calls over the rate answer
// 429 LimitExceededException, as API Gateway's throttle does, and deliver
// nothing; what is delivered stays within the burst plus the rate; once
// the bucket refills, a post goes through again.
func TestManagementRate(t *testing.T) {
	const rate, burst = 20.0, 5
	srv, err := New(Config{Handler: newHub().handle, Credentials: testCreds, ManagementRate: rate, ManagementBurst: burst,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(srv.Management())
	defer api.Close()
	sink := &memSink{}
	srv.Register("c=", sink)
	mgmt := apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		Region: "us-east-1", Credentials: testCreds, BaseEndpoint: aws.String(api.URL), RetryMaxAttempts: 1,
	})
	post := func() error {
		_, err := mgmt.PostToConnection(context.Background(), &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String("c="), Data: []byte(`{}`)})
		return err
	}
	start := time.Now()
	ok, throttled := 0, 0
	for range 60 {
		var limit *apitypes.LimitExceededException
		switch err := post(); {
		case err == nil:
			ok++
		case errors.As(err, &limit):
			throttled++
		default:
			t.Fatalf("post: %v", err)
		}
	}
	elapsed := time.Since(start)
	sink.mu.Lock()
	delivered := len(sink.frames)
	sink.mu.Unlock()
	if delivered != ok {
		t.Fatalf("%d frames delivered for %d accepted posts: a throttled post delivered", delivered, ok)
	}
	if most := burst + int(rate*elapsed.Seconds()) + 1; ok > most || throttled == 0 {
		t.Fatalf("%d accepted, %d throttled in %s; want at most %d accepted", ok, throttled, elapsed, most)
	}
	deadline := time.Now().Add(time.Minute)
	for post() != nil {
		if time.Now().After(deadline) {
			t.Fatal("still throttled a minute later")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := New(Config{Handler: newHub().handle, Credentials: testCreds, ManagementRate: -1}); err == nil {
		t.Error("a negative rate was accepted")
	}
}
