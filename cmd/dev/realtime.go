package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"

	fanoutfn "github.com/threefactor/framework/functions/fanout"
	realtimefn "github.com/threefactor/framework/functions/realtime"
	"github.com/threefactor/framework/lib/devruntime"
	"github.com/threefactor/framework/lib/realtime/localws"
	"github.com/threefactor/framework/lib/topology"
)

// EnvWSInitTimeout overrides how long a WebSocket connection may stay
// unacknowledged before the front door closes it with 4408 (a Go
// duration, e.g. 3s; default localws.DefaultInitTimeout).
const EnvWSInitTimeout = "DEV_WS_INIT_TIMEOUT"

func init() { register("realtime", wireRealtime) }

// wireRealtime plays API Gateway's WebSocket API: the front door at
// /graphql raises $connect, $disconnect and $default for the realtime
// function, which answers through the local Management API at
// /@connections/; and the fan-out reads every table stream as its second
// reader, pushing through the same Management API.
func wireRealtime(ctx context.Context, rt *devruntime.Runtime, cfg aws.Config) error {
	env := map[string]string{}
	for logical, t := range rt.Resources().Tables {
		env[topology.TableEnv(logical)] = t.Name
	}
	getenv := func(k string) string { return env[k] }
	mgmt := &devManagement{rt: rt, cfg: cfg}
	log := rt.Logger()

	h, err := realtimefn.NewHandler(ctx, realtimefn.Deps{AWS: cfg, Getenv: getenv, Management: mgmt, Logger: log})
	if err != nil {
		return err
	}
	wsCfg := localws.Config{Handler: h.Handle, Logger: log}
	if v := os.Getenv(EnvWSInitTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%s: %w", EnvWSInitTimeout, err)
		}
		wsCfg.InitTimeout = d
	}
	front, err := localws.New(wsCfg)
	if err != nil {
		return err
	}
	rt.HandleWebSocket("/graphql", front)
	rt.Handle("/@connections/", front.Management())
	go func() {
		<-ctx.Done()
		front.Close()
	}()

	f, err := fanoutfn.New(ctx, fanoutfn.Deps{AWS: cfg, Getenv: getenv, Management: mgmt, Logger: log})
	if err != nil {
		return err
	}
	for _, logical := range rt.Topology().StreamTables() {
		rt.StreamReader("realtime-"+logical, logical, f.Handle)
	}
	return nil
}

// devManagement is a Management API client for the runtime's own address,
// known once it listens (the listen port may be chosen at start).
type devManagement struct {
	rt   *devruntime.Runtime
	cfg  aws.Config
	once sync.Once
	c    *apigatewaymanagementapi.Client
}

func (m *devManagement) client(ctx context.Context) (*apigatewaymanagementapi.Client, error) {
	select {
	case <-m.rt.Ready():
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	m.once.Do(func() {
		m.c = apigatewaymanagementapi.NewFromConfig(m.cfg, func(o *apigatewaymanagementapi.Options) {
			o.BaseEndpoint = aws.String(m.rt.URL())
		})
	})
	return m.c, nil
}

func (m *devManagement) PostToConnection(ctx context.Context, in *apigatewaymanagementapi.PostToConnectionInput, opts ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.PostToConnectionOutput, error) {
	c, err := m.client(ctx)
	if err != nil {
		return nil, err
	}
	return c.PostToConnection(ctx, in, opts...)
}

func (m *devManagement) DeleteConnection(ctx context.Context, in *apigatewaymanagementapi.DeleteConnectionInput, opts ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.DeleteConnectionOutput, error) {
	c, err := m.client(ctx)
	if err != nil {
		return nil, err
	}
	return c.DeleteConnection(ctx, in, opts...)
}
