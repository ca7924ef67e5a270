package eventlog_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/threefactor/framework/lib/benchfig"
	"github.com/threefactor/framework/lib/emulator/emulatortest"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/eventlog/eventlogtest"
	"github.com/threefactor/framework/lib/provision"
	"github.com/threefactor/framework/lib/topology"
)

func TestMain(m *testing.M) {
	code := emulatortest.Main(m)
	benchfig.Print(os.Stdout)
	os.Exit(code)
}

var tableSeq atomic.Int64

// newTable provisions a fresh eventlog table on the emulator, declared as
// the framework declares it.
func newTable(t testing.TB) (*dynamodb.Client, string) {
	t.Helper()
	cfg := emulatortest.Config(t)
	decl, ok := topology.Topology{}.Table(topology.EventLogTable)
	if !ok {
		t.Fatal("no eventlog table among the framework's tables")
	}
	name := fmt.Sprintf("eventlog-%d-%d", os.Getpid(), tableSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := provision.EnsureTable(ctx, cfg, name, decl); err != nil {
		t.Fatalf("provision %s: %v", name, err)
	}
	return dynamodb.NewFromConfig(cfg), name
}

func dynamoStore(t testing.TB, db *dynamodb.Client, table string, s eventlogtest.Settings) *eventlog.DynamoStore {
	t.Helper()
	st, err := eventlog.NewDynamoStore(db, eventlog.DynamoConfig{Table: table, Topology: s.Topology, Retention: s.Retention, Now: s.Now})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestDynamoStoreConformance runs the suite against the DynamoDB store on
// the emulator, with two store instances (two Lambdas) where it writes
// concurrently.
func TestDynamoStoreConformance(t *testing.T) {
	eventlogtest.Run(t, eventlogtest.Backend{
		MultiWriter: true,
		Storage: func(t *testing.T, s eventlogtest.Settings) eventlogtest.Opener {
			db, table := newTable(t)
			return func(t *testing.T) (eventlog.Log, func()) {
				return dynamoStore(t, db, table, s), func() {}
			}
		},
	})
}

// TestFileStoreConformance runs the suite against the file store.
func TestFileStoreConformance(t *testing.T) {
	eventlogtest.Run(t, eventlogtest.Backend{
		Storage: func(t *testing.T, s eventlogtest.Settings) eventlogtest.Opener {
			dir := t.TempDir()
			return func(t *testing.T) (eventlog.Log, func()) {
				st, err := eventlog.OpenFileStore(dir, eventlog.FileConfig{Topology: s.Topology, Retention: s.Retention, Now: s.Now})
				if err != nil {
					t.Fatal(err)
				}
				return st, func() {
					if err := st.Close(); err != nil {
						t.Errorf("close: %v", err)
					}
				}
			}
		},
	})
}
