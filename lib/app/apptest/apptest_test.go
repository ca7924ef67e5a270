package apptest_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/app/apptest"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/consumer"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/topology"
)

func TestMain(m *testing.M) { os.Exit(apptest.Main(m)) }

type note struct {
	ID    string `dynamodbav:"id" json:"id"`
	Text  string `dynamodbav:"text" json:"text"`
	Words int64  `dynamodbav:"words" json:"words"`
}

// count writes the word count of each new or changed note to the counts
// table; a note without text is refused permanently.
func count(_ context.Context, env *app.Env) (consumer.Handler[note], error) {
	counts, err := env.Table("counts")
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, c change.Change[note]) error {
		if c.NewItem == nil {
			return nil
		}
		if c.NewItem.Text == "" {
			return errs.New(errs.FailedPrecondition, "a note needs text")
		}
		item, err := attributevalue.MarshalMap(map[string]any{"id": c.NewItem.ID, "words": len(strings.Fields(c.NewItem.Text))})
		if err != nil {
			return err
		}
		_, err = env.DynamoDB().PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(counts), Item: item})
		return err
	}, nil
}

var notes = app.App{
	Name: "notes",
	Tables: []topology.Table{
		{Name: "notes", PartitionKey: topology.Key{Name: "id", Type: topology.String}, Stream: true},
		{Name: "counts", PartitionKey: topology.Key{Name: "id", Type: topology.String}},
	},
	Functions: []app.Function{{
		Function: topology.Function{Name: "count", Tables: []string{"notes", "counts"}},
		Handler:  app.Handle(count),
	}},
	Routes: []topology.Route{{Name: "count-words", Function: "count", Match: topology.Match{Table: "notes"}}},
}

func TestDeliver(t *testing.T) {
	f := apptest.NewFunction(t, notes, "count")
	n := note{ID: "n1", Text: "three little words", Words: 12345678901234567}
	f.Put(t, "notes", n)
	ev := f.Insert(t, "notes", n)
	if string(ev.Keys) != `{"id":"n1"}` || ev.Operation != topology.Insert || len(ev.Changed) != 3 {
		t.Fatalf("event %+v", ev)
	}
	if !strings.Contains(string(ev.New), `"words":12345678901234567`) {
		t.Errorf("numbers lose digits: %s", ev.New)
	}
	if err := f.Deliver(t, ev); err != nil {
		t.Fatal(err)
	}
	var got struct{ Words int }
	if !f.Get(t, "counts", map[string]any{"id": "n1"}, &got) || got.Words != 3 {
		t.Fatalf("count = %+v", got)
	}

	mod := f.Modify(t, "notes", n, note{ID: "n1", Text: "now five words in it", Words: n.Words})
	if strings.Join(mod.Changed, ",") != "text" {
		t.Errorf("changed = %v", mod.Changed)
	}
	if err := f.Deliver(t, mod); err != nil {
		t.Fatal(err)
	}
	if f.Get(t, "counts", map[string]any{"id": "n1"}, &got); got.Words != 5 {
		t.Fatalf("count after modify = %d", got.Words)
	}

	err := f.Deliver(t, f.Insert(t, "notes", note{ID: "n2"}))
	var e *errs.Error
	if !errs.IsPermanent(err) || !errors.As(err, &e) || e.Code != errs.FailedPrecondition {
		t.Errorf("empty note: err = %v, want a permanent FAILED_PRECONDITION", err)
	}
	if err := f.DeliverBody(t, `{"not":"an event"}`); err == nil || !errs.IsPermanent(err) {
		t.Errorf("malformed body: err = %v, want a permanent error", err)
	}
}

func TestEnvNamesFreshTables(t *testing.T) {
	a := apptest.Env(t, notes, "count", map[string]string{"EXTRA": "1"})
	b := apptest.Env(t, notes, "count", nil)
	na, err := a.Table("counts")
	if err != nil {
		t.Fatal(err)
	}
	nb, _ := b.Table("counts")
	if na == nb {
		t.Errorf("two environments share table %s", na)
	}
	if _, err := a.Table(topology.IdempotencyTable); err != nil {
		t.Errorf("no idempotency table: %v", err)
	}
	if a.Getenv("EXTRA") != "1" || a.Getenv(topology.EnvStage) != "dev" {
		t.Errorf("extra variables missing")
	}
}
