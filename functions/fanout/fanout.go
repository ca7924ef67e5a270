// Package fanout is the food-delivery app's realtime fan-out function: the
// second reader of every table stream, which pushes each committed change
// to the orderUpdated subscriptions it concerns (lib/realtime/fanout over
// the gateway schema and topics).
package fanout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"

	appevents "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/functions/realtime"
	"github.com/threefactor/framework/lib/change"
	fanoutlib "github.com/threefactor/framework/lib/realtime/fanout"
	"github.com/threefactor/framework/lib/topology"
)

// poster is the Management API call the fan-out makes.
type poster interface {
	PostToConnection(ctx context.Context, in *apigatewaymanagementapi.PostToConnectionInput, opts ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.PostToConnectionOutput, error)
}

// Deps are what the function needs; Getenv supplies the table names and,
// when Management is nil, the Management API endpoint.
type Deps struct {
	AWS        aws.Config
	Getenv     func(string) string
	Management poster
	Logger     *slog.Logger
}

// New builds the fan-out.
func New(_ context.Context, d Deps) (*fanoutlib.Fanout, error) {
	if d.Getenv == nil {
		return nil, errors.New("fanout: Deps.Getenv is nil")
	}
	app, err := realtime.NewApp(d.AWS, d.Getenv, d.Logger)
	if err != nil {
		return nil, err
	}
	mgmt := d.Management
	if mgmt == nil {
		c, err := realtime.ManagementFromEnv(d.AWS, d.Getenv)
		if err != nil {
			return nil, err
		}
		// The fan-out retries with its own backoff, without stalling
		// other subscribers; the SDK's retries would stack on top.
		mgmt = apigatewaymanagementapi.New(c.Options(), func(o *apigatewaymanagementapi.Options) { o.RetryMaxAttempts = 1 })
	}
	tables := map[string]string{}
	for _, logical := range appevents.Topology.StreamTables() {
		if physical := d.Getenv(topology.TableEnv(logical)); physical != "" {
			tables[physical] = logical
		}
	}
	return fanoutlib.New(fanoutlib.Config{
		Schema: app.Schema, Topics: app.Topics.Change, Store: app.Store, Management: mgmt,
		Decode: Decoder(tables), Logger: d.Logger,
	})
}

// Decoder turns stream records into change events, naming each by the
// logical table of its stream (tables maps physical to logical names).
func Decoder(tables map[string]string) func(events.DynamoDBEventRecord) (change.Event, error) {
	return func(rec events.DynamoDBEventRecord) (change.Event, error) {
		physical := TableFromARN(rec.EventSourceArn)
		logical, ok := tables[physical]
		if !ok {
			return change.Event{}, fmt.Errorf("record %s: stream of unknown table %q", rec.EventID, physical)
		}
		return change.FromDynamoDB(rec, logical)
	}
}

// TableFromARN is the table name in a stream or table ARN
// (arn:aws:dynamodb:region:account:table/NAME/stream/LABEL).
func TableFromARN(arn string) string {
	_, rest, ok := strings.Cut(arn, ":table/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}
