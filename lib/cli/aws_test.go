package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/threefactor/framework/lib/cli"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/provision"
	"github.com/threefactor/framework/lib/topology"
)

func TestMain(m *testing.M) { os.Exit(emulatortest.Main(m)) }

// remote runs the command line as on a machine whose AWS settings name
// an endpoint (here the emulator): the log is a DynamoDB table.
func remote(args ...string) (int, string, string) {
	c := cfg
	c.Getenv = os.Getenv
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), c, args, &out, &errb)
	return code, out.String(), errb.String()
}

var logLine = regexp.MustCompile(`\(log: [^)]*\)`)

// The same commands read the deployed log: the table a flag names, or
// the one the deployed stack's EventLogTable output names.
func TestLogFromDynamoDB(t *testing.T) {
	ctx := context.Background()
	awsCfg := emulatortest.Config(t)
	table := fmt.Sprintf("cli-eventlog-%d", time.Now().UnixNano())
	tb, _ := notes.Topology().Table(topology.EventLogTable)
	if _, err := provision.EnsureTable(ctx, awsCfg, table, tb); err != nil {
		t.Fatal(err)
	}
	l, err := eventlog.NewDynamoStore(dynamodb.NewFromConfig(awsCfg), eventlog.DynamoConfig{Table: table, Topology: notes.Topology(), Retention: 3650 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	writeHistory(t, l)
	want, err := os.ReadFile("testdata/log.golden")
	if err != nil {
		t.Fatal(err)
	}
	norm := func(s string) string { return logLine.ReplaceAllString(s, "(log: X)") }

	code, out, errOut := remote("log", "notes/n1", "--table", table)
	if code != 0 || norm(out) != norm(string(want)) {
		t.Fatalf("log --table: exit %d, %s\n%s\nwant:\n%s", code, errOut, out, want)
	}

	// A stack whose outputs name the table.
	stack := fmt.Sprintf("notes-%d", time.Now().UnixNano()%1e6)
	tmpl := `{"Resources":{"Marker":{"Type":"AWS::SQS::Queue"}},"Outputs":{"` + topology.OutputEventLogTable + `":{"Value":"` + table + `"}}}`
	if _, err := cloudformation.NewFromConfig(awsCfg).CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String(stack), TemplateBody: aws.String(tmpl)}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = remote("log", "notes/n1", "--stack", stack)
	if code != 0 || norm(out) != norm(string(want)) {
		t.Fatalf("log --stack: exit %d, %s\n%s", code, errOut, out)
	}
	code, out, errOut = remote("trace", "req-1", "--stack", stack)
	if code != 0 || !bytes.Contains([]byte(out), []byte("2 changes, 3 deliveries, 5 pushes")) {
		t.Fatalf("trace --stack: exit %d, %s\n%s", code, errOut, out)
	}
	code, _, errOut = remote("log", "notes/n1", "--stack", "no-such-stack")
	if code != 1 || !bytes.Contains([]byte(errOut), []byte("read the outputs of stack no-such-stack")) {
		t.Fatalf("log --stack no-such-stack: exit %d, %s", code, errOut)
	}
}
