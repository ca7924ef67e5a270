// Package realtime is the food-delivery app's WebSocket API function: the
// $connect, $disconnect and $default handler of API Gateway's WebSocket
// API (locally, of the dev runtime's front door), speaking
// graphql-transport-ws over the app's schema. It wires the framework's
// realtime handler (lib/realtime) to the app: the gateway schema, its
// topics and the framework's connection and subscription tables.
package realtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	graphql "github.com/graph-gophers/graphql-go"

	"github.com/threefactor/framework/gateway"
	"github.com/threefactor/framework/gateway/orders"
	"github.com/threefactor/framework/lib/graphqlhttp"
	realtimelib "github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/realtime/store"
	"github.com/threefactor/framework/lib/topology"
)

// Deps are what the function needs. Getenv supplies the table names
// (topology.TableEnv of orders, restaurants, connections and
// subscriptions) and, when Management is nil, the Management API endpoint
// (topology.EnvManagementEndpoint).
type Deps struct {
	AWS    aws.Config
	Getenv func(string) string
	// Management overrides the Management API client built from the
	// endpoint in the environment.
	Management realtimelib.ManagementAPI
	// OnConnect decides connection_init; nil accepts every connection.
	OnConnect realtimelib.ConnectFunc
	Logger    *slog.Logger
}

// App is the app's realtime wiring, shared by this function and the
// fan-out: its schema, topics and subscription store.
type App struct {
	Schema *graphql.Schema
	Topics realtimelib.Topics
	Store  *store.Store
}

// NewApp builds the schema over the orders tables and the store over the
// framework tables named in the environment.
func NewApp(cfg aws.Config, getenv func(string) string, log *slog.Logger) (*App, error) {
	db := dynamodb.NewFromConfig(cfg)
	tables, err := orders.TablesFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	schema, err := gateway.NewSchema(gateway.Deps{Store: orders.NewStore(db, tables), Logger: log}, graphqlhttp.Limits{})
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	st, err := StoreFromEnv(db, getenv)
	if err != nil {
		return nil, err
	}
	var t gateway.Topics
	return &App{
		Schema: schema,
		Topics: realtimelib.Topics{Subscription: t.SubscriptionTopic, Change: t.ChangeTopics},
		Store:  st,
	}, nil
}

// StoreFromEnv is the connection and subscription store over the tables
// named by TABLE_CONNECTIONS and TABLE_SUBSCRIPTIONS.
func StoreFromEnv(db *dynamodb.Client, getenv func(string) string) (*store.Store, error) {
	conns, subs := getenv(topology.TableEnv(topology.ConnectionsTable)), getenv(topology.TableEnv(topology.SubscriptionsTable))
	var missing []error
	if conns == "" {
		missing = append(missing, fmt.Errorf("%s is not set", topology.TableEnv(topology.ConnectionsTable)))
	}
	if subs == "" {
		missing = append(missing, fmt.Errorf("%s is not set", topology.TableEnv(topology.SubscriptionsTable)))
	}
	if err := errors.Join(missing...); err != nil {
		return nil, err
	}
	return store.New(db, store.Config{ConnectionsTable: conns, SubscriptionsTable: subs})
}

// ManagementFromEnv is a Management API client for the endpoint in
// topology.EnvManagementEndpoint: on AWS
// https://{api-id}.execute-api.{region}.amazonaws.com/{stage}, locally the
// dev runtime's address.
func ManagementFromEnv(cfg aws.Config, getenv func(string) string) (*apigatewaymanagementapi.Client, error) {
	ep := getenv(topology.EnvManagementEndpoint)
	if ep == "" {
		return nil, fmt.Errorf("%s is not set", topology.EnvManagementEndpoint)
	}
	return apigatewaymanagementapi.NewFromConfig(cfg, func(o *apigatewaymanagementapi.Options) {
		o.BaseEndpoint = aws.String(ep)
	}), nil
}

// NewHandler builds the WebSocket API handler.
func NewHandler(_ context.Context, d Deps) (*realtimelib.Handler, error) {
	if d.Getenv == nil {
		return nil, errors.New("realtime: Deps.Getenv is nil")
	}
	app, err := NewApp(d.AWS, d.Getenv, d.Logger)
	if err != nil {
		return nil, err
	}
	mgmt := d.Management
	if mgmt == nil {
		c, err := ManagementFromEnv(d.AWS, d.Getenv)
		if err != nil {
			return nil, err
		}
		mgmt = c
	}
	return realtimelib.NewHandler(realtimelib.Config{
		Schema: app.Schema, Topics: app.Topics, Store: app.Store,
		Management: mgmt, OnConnect: d.OnConnect, Logger: d.Logger,
	})
}
