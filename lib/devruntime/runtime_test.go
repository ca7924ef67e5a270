package devruntime

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/coder/websocket"

	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/topology"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

func testTopology(app string) topology.Topology {
	return topology.Topology{
		App: app,
		Tables: []topology.Table{
			{Name: "items", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true},
		},
		Functions: []topology.Function{{Name: "work", Tables: []string{"items"}, Timeout: time.Second}},
		Routes: []topology.Route{{
			Name: "work", Function: "work", MaxReceiveCount: 3,
			Match: topology.Match{Table: "items", Operations: []topology.Operation{topology.Insert}},
		}},
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewJSONHandler(io.Discard, nil))
}

func newRuntime(t *testing.T, app string) *Runtime {
	t.Helper()
	rt, err := New(Config{
		AWS: emulatortest.Config(t), Topology: testTopology(app), Addr: "127.0.0.1:0",
		Logger: testLogger(t), Out: io.Discard,
		StreamPollInterval: 20 * time.Millisecond, ShardDiscoveryInterval: 200 * time.Millisecond,
		StreamRetryBackoff: 20 * time.Millisecond, QueueWaitTime: time.Second, RetryBackoff: time.Millisecond,
		ShutdownTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Provision(context.Background()); err != nil {
		t.Fatal(err)
	}
	return rt
}

// run starts rt and returns a stop function that cancels it and waits.
func run(t *testing.T, rt *Runtime) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- rt.Run(ctx) }()
	select {
	case <-rt.Ready():
	case err := <-errc:
		cancel()
		t.Fatalf("run: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("runtime not ready after 30s")
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-errc; err != nil {
				t.Errorf("run returned %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func putItem(t *testing.T, rt *Runtime, id string, attrs map[string]string) {
	t.Helper()
	item := map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: id}}
	for k, v := range attrs {
		item[k] = &ddbtypes.AttributeValueMemberS{Value: v}
	}
	_, err := dynamodb.NewFromConfig(rt.AWS()).PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(rt.Resources().Tables["items"].Name), Item: item})
	if err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or 30s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type recorder struct {
	mu    sync.Mutex
	recs  []events.DynamoDBEventRecord
	count map[string]int // by item id
}

func (r *recorder) add(rec events.DynamoDBEventRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.count == nil {
		r.count = map[string]int{}
	}
	r.recs = append(r.recs, rec)
	r.count[rec.Change.Keys["id"].String()]++
}

func (r *recorder) n(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count[id]
}

func TestStreamReaderDeliversLambdaRecords(t *testing.T) {
	rt := newRuntime(t, "rtstream")
	var rec recorder
	rt.StreamReader("test", "items", func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("stream handler context has no deadline")
		}
		for _, r := range ev.Records {
			rec.add(r)
		}
		return events.DynamoDBEventResponse{}, nil
	})
	run(t, rt)
	putItem(t, rt, "a", map[string]string{"status": "NEW"})
	putItem(t, rt, "a", map[string]string{"status": "DONE"})
	waitFor(t, "two records", func() bool { return rec.n("a") == 2 })

	arn := rt.Resources().Tables["items"].StreamARN
	rec.mu.Lock()
	defer rec.mu.Unlock()
	ins, mod := rec.recs[0], rec.recs[1]
	for _, c := range []struct {
		name      string
		got, want string
	}{
		{"insert event name", ins.EventName, "INSERT"},
		{"modify event name", mod.EventName, "MODIFY"},
		{"event source", ins.EventSource, "aws:dynamodb"},
		{"event source arn", ins.EventSourceArn, arn},
		{"key", ins.Change.Keys["id"].String(), "a"},
		{"new image", ins.Change.NewImage["status"].String(), "NEW"},
		{"old image of modify", mod.Change.OldImage["status"].String(), "NEW"},
		{"new image of modify", mod.Change.NewImage["status"].String(), "DONE"},
		{"view type", ins.Change.StreamViewType, "NEW_AND_OLD_IMAGES"},
		{"region", ins.AWSRegion, rt.cfg.AWS.Region},
	} {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.name, c.got, c.want)
		}
	}
	if ins.EventID == "" || ins.EventID == mod.EventID || ins.Change.SequenceNumber >= mod.Change.SequenceNumber && len(ins.Change.SequenceNumber) == len(mod.Change.SequenceNumber) {
		t.Errorf("event ids %q %q / sequence numbers %q %q: want distinct ids in order", ins.EventID, mod.EventID, ins.Change.SequenceNumber, mod.Change.SequenceNumber)
	}
	if ins.Change.OldImage != nil {
		t.Errorf("insert has an old image: %v", ins.Change.OldImage)
	}
}

// A reported failure is retried from that record on; what came before is
// not delivered again, and a new runtime resumes from the stored checkpoint.
func TestStreamReaderPartialFailureAndResume(t *testing.T) {
	rt := newRuntime(t, "rtresume")
	for _, id := range []string{"k1", "k2", "k3"} {
		putItem(t, rt, id, nil)
	}
	var rec recorder
	var failedOnce bool
	handler := func(_ context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		var resp events.DynamoDBEventResponse
		for _, r := range ev.Records {
			rec.add(r)
			if r.Change.Keys["id"].String() == "k2" && !failedOnce {
				failedOnce = true
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: r.Change.SequenceNumber})
			}
		}
		return resp, nil
	}
	rt.StreamReader("test", "items", handler)
	stop := run(t, rt)
	waitFor(t, "k3 handled after the retry", func() bool { return rec.n("k3") == 2 })
	if rec.n("k1") != 1 || rec.n("k2") != 2 {
		t.Errorf("deliveries k1=%d k2=%d, want 1 and 2 (retry from the failed record only)", rec.n("k1"), rec.n("k2"))
	}
	stop()

	rt2 := newRuntime(t, "rtresume")
	var rec2 recorder
	rt2.StreamReader("test", "items", func(_ context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		for _, r := range ev.Records {
			rec2.add(r)
		}
		return events.DynamoDBEventResponse{}, nil
	})
	// A second reader of the same stream keeps its own checkpoint.
	var other recorder
	rt2.StreamReader("other", "items", func(_ context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		for _, r := range ev.Records {
			other.add(r)
		}
		return events.DynamoDBEventResponse{}, nil
	})
	run(t, rt2)
	putItem(t, rt2, "k4", nil)
	waitFor(t, "k4 after restart", func() bool { return rec2.n("k4") == 1 && other.n("k4") == 1 })
	for _, id := range []string{"k1", "k2", "k3"} {
		if rec2.n(id) != 0 {
			t.Errorf("%s delivered again after restart", id)
		}
		if other.n(id) != 1 {
			t.Errorf("second reader got %s %d times, want 1", id, other.n(id))
		}
	}
}

func TestStreamReaderRetriesAFailingHandler(t *testing.T) {
	rt := newRuntime(t, "rtstreamerr")
	var mu sync.Mutex
	calls := 0
	var rec recorder
	rt.StreamReader("test", "items", func(_ context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		switch calls {
		case 1:
			return events.DynamoDBEventResponse{}, errors.New("bus unavailable")
		case 2:
			panic("handler bug")
		}
		for _, r := range ev.Records {
			rec.add(r)
		}
		return events.DynamoDBEventResponse{}, nil
	})
	run(t, rt)
	putItem(t, rt, "x", nil)
	waitFor(t, "x after an error and a panic", func() bool { return rec.n("x") == 1 })
}

func sendBodies(t *testing.T, rt *Runtime, url string, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		if _, err := sqs.NewFromConfig(rt.AWS()).SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
}

func drainBodies(t *testing.T, rt *Runtime, url string) []string {
	t.Helper()
	var out []string
	for {
		r, err := sqs.NewFromConfig(rt.AWS()).ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, VisibilityTimeout: 30})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Messages) == 0 {
			return out
		}
		for _, m := range r.Messages {
			out = append(out, aws.ToString(m.Body))
		}
	}
}

func queueDepth(t *testing.T, rt *Runtime, url string) int {
	t.Helper()
	a, err := sqs.NewFromConfig(rt.AWS()).GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{
		sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
	}})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := strconv.Atoi(a.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	nv, _ := strconv.Atoi(a.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return v + nv
}

func TestQueueConsumerRetriesThenDeadLetters(t *testing.T) {
	rt := newRuntime(t, "rtqueue")
	res := rt.Resources().Routes["work"]
	// The function tells its routes apart by the queue ARN its environment
	// gives for each: the records carry exactly that, as Lambda's do.
	envARN := rt.Env("work")[topology.RouteQueueARNEnv("work")]
	if envARN != res.QueueARN || !strings.HasPrefix(envARN, "arn:aws:sqs:"+rt.AWS().Region+":") || !strings.HasSuffix(envARN, ":rtqueue-work") {
		t.Fatalf("queue ARN in the environment %q, provisioned %q", envARN, res.QueueARN)
	}
	var mu sync.Mutex
	attempts := map[string][]int{}
	okDone := map[string]bool{}
	rt.QueueConsumer("work", func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		dl, ok := ctx.Deadline()
		if !ok || time.Until(dl) > time.Second {
			t.Errorf("handler deadline %v, want within the function timeout of 1s", dl)
		}
		if lc, ok := lambdacontext.FromContext(ctx); !ok || lc.AwsRequestID == "" {
			t.Error("no lambda context")
		}
		var resp events.SQSEventResponse
		mu.Lock()
		defer mu.Unlock()
		for _, m := range ev.Records {
			if m.EventSourceARN != envARN || m.EventSource != "aws:sqs" || m.AWSRegion != rt.AWS().Region || m.ReceiptHandle == "" ||
				m.Md5OfBody == "" || m.Attributes["SentTimestamp"] == "" || m.Attributes["ApproximateFirstReceiveTimestamp"] == "" {
				t.Errorf("message %+v: want source %s", m, envARN)
			}
			n, _ := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
			attempts[m.Body] = append(attempts[m.Body], n)
			fail := m.Body == "poison" || (m.Body == "flaky" && n <= 2)
			if fail {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			} else {
				okDone[m.Body] = true
			}
		}
		return resp, nil
	})
	run(t, rt)
	sendBodies(t, rt, res.QueueURL, "ok", "flaky", "poison")
	waitFor(t, "poison in the dead-letter queue", func() bool { return queueDepth(t, rt, res.DLQURL) == 1 })
	waitFor(t, "ok and flaky handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return okDone["ok"] && okDone["flaky"]
	})
	waitFor(t, "queue empty", func() bool { return queueDepth(t, rt, res.QueueURL) == 0 })
	mu.Lock()
	if got := attempts["flaky"]; len(got) != 3 || got[2] != 3 {
		t.Errorf("flaky attempts (receive counts) %v, want [1 2 3]", got)
	}
	if got := attempts["poison"]; len(got) != 3 {
		t.Errorf("poison attempts %v, want 3 (maxReceiveCount)", got)
	}
	if got := attempts["ok"]; len(got) != 1 {
		t.Errorf("ok attempts %v, want 1", got)
	}
	mu.Unlock()
	if got := drainBodies(t, rt, res.DLQURL); len(got) != 1 || got[0] != "poison" {
		t.Errorf("dead-letter queue holds %v, want [poison]", got)
	}
}

func TestQueueConsumerSurvivesPanicsAndTimeouts(t *testing.T) {
	rt := newRuntime(t, "rtpanic")
	res := rt.Resources().Routes["work"]
	var mu sync.Mutex
	handled := map[string]int{}
	rt.QueueConsumer("work", func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		for _, m := range ev.Records {
			n, _ := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
			switch {
			case m.Body == "panic" && n == 1:
				panic("boom")
			case m.Body == "slow" && n == 1:
				<-ctx.Done() // past the 1s timeout: Lambda would have cut it off
				return events.SQSEventResponse{}, nil
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for _, m := range ev.Records {
			handled[m.Body]++
		}
		return events.SQSEventResponse{}, nil
	})
	run(t, rt)
	sendBodies(t, rt, res.QueueURL, "panic")
	sendBodies(t, rt, res.QueueURL, "slow")
	waitFor(t, "both handled on a later attempt", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return handled["panic"] >= 1 && handled["slow"] >= 1
	})
	waitFor(t, "queue empty", func() bool { return queueDepth(t, rt, res.QueueURL) == 0 })
	if n := queueDepth(t, rt, res.DLQURL); n != 0 {
		t.Errorf("dead-letter queue has %d messages, want 0", n)
	}
}

// Stopping lets the handler in flight finish and deletes its message.
func TestShutdownFinishesInFlight(t *testing.T) {
	rt := newRuntime(t, "rtshutdown")
	res := rt.Resources().Routes["work"]
	started, release := make(chan struct{}), make(chan struct{})
	var finished bool
	rt.QueueConsumer("work", func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		close(started)
		<-release
		finished = true
		return events.SQSEventResponse{}, nil
	})
	stop := run(t, rt)
	sendBodies(t, rt, res.QueueURL, "one")
	<-started
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Run returned while a handler was in flight")
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	<-stopped
	if !finished {
		t.Fatal("handler did not finish")
	}
	if n := queueDepth(t, rt, res.QueueURL); n != 0 {
		t.Errorf("queue holds %d messages after a clean stop, want 0 (handled message deleted)", n)
	}
}

func TestFrontDoor(t *testing.T) {
	rt := newRuntime(t, "rtfront")
	// Before Run: not healthy.
	w := httptest.NewRecorder()
	rt.front.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("healthz before start: %d, want 503", w.Code)
	}
	rt.Handle("/graphql", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "http") }))
	rt.HandleWebSocket("/graphql", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		_ = c.Write(r.Context(), websocket.MessageText, []byte("ws"))
		c.Close(websocket.StatusNormalClosure, "")
	}))
	rt.HandleWebSocket("/only-ws", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	run(t, rt)

	get := func(path string) (int, string) {
		resp, err := http.Get(rt.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || body != `{"status":"ok"}` {
		t.Errorf("healthz: %d %s", code, body)
	}
	if code, body := get("/graphql"); code != 200 || body != "http" {
		t.Errorf("GET /graphql: %d %s, want the HTTP handler", code, body)
	}
	if code, _ := get("/only-ws"); code != http.StatusUpgradeRequired {
		t.Errorf("plain GET of a WebSocket-only path: %d, want 426", code)
	}
	if code, _ := get("/nothing"); code != http.StatusNotFound {
		t.Errorf("unknown path: %d, want 404", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+rt.Addr()+"/graphql", nil)
	if err != nil {
		t.Fatalf("websocket dial: %v", err)
	}
	defer c.CloseNow()
	_, msg, err := c.Read(ctx)
	if err != nil || string(msg) != "ws" {
		t.Errorf("websocket read %q %v, want the WebSocket handler", msg, err)
	}
}

func TestRunRefusesBadRegistrations(t *testing.T) {
	rt := newRuntime(t, "rtbad")
	noop := func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		return events.DynamoDBEventResponse{}, nil
	}
	rt.StreamReader("a", "items", noop)
	rt.StreamReader("b", "items", noop)
	rt.StreamReader("c", "items", noop) // a third reader of one stream
	rt.StreamReader("d", "nope", noop)
	rt.QueueConsumer("missing", func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
		return events.SQSEventResponse{}, nil
	})
	err := rt.Run(context.Background())
	if err == nil {
		t.Fatal("Run accepted bad registrations")
	}
	for _, want := range []string{`"c"`, `"nope"`, `"missing"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}
