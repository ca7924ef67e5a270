package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode"

	"github.com/graph-gophers/graphql-go"

	"github.com/threefactor/framework/lib/consumer"
	"github.com/threefactor/framework/lib/graphqlhttp"
	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/topology"
)

// App is the one declaration of an application: its data, its async
// functions with their handlers, the routes that feed them, and its
// GraphQL API. The dev runtime, every Lambda main, the CDK app, the test
// helpers and the threefactor CLI read it; nothing else lists a table or a
// function.
type App struct {
	// Name names the app: lower case letters, digits and dashes. It
	// prefixes local resource names and is the default event source.
	Name string
	// Source is the EventBridge source of change events. Default Name + ".changes".
	Source string
	// Tables are the app's tables. The framework adds its own (see
	// topology.FrameworkTables).
	Tables []topology.Table
	// Functions are the async functions, each with its handler.
	Functions []Function
	// Routes say which changes reach which function.
	Routes []topology.Route
	// DisableEventLog leaves out the event log (its route, queue and
	// function, and the delivery and push records): see
	// topology.Topology.DisableEventLog.
	DisableEventLog bool
	// GraphQL is the app's API, served over HTTP and WebSocket.
	GraphQL GraphQL
	// Users are the roles and the administrator-set attributes the API
	// authorizes by; the deployment's identity provider must know them.
	Users Users
	// Seed, when set, writes the data a fresh local environment starts
	// with (the dev runtime calls it at every start: it must be
	// idempotent). It returns how many items it wrote.
	Seed func(ctx context.Context, env *Env) (int, error)
}

// Function is an async function: its deployment settings and its handler.
type Function struct {
	topology.Function
	// Handler builds the function's handler, once per process.
	Handler Handler
	// DevEnv names variables the dev runtime copies from its own
	// environment into the function's, so a developer can try a setting
	// locally (on AWS the function's own environment holds them).
	DevEnv []string
}

// Handler builds a function's change handler from its environment, once
// per process: at a Lambda cold start, or when the dev runtime starts.
// Configuration errors belong here, so that a function with a missing
// setting fails at start with the setting's name.
type Handler func(ctx context.Context, env *Env) (consumer.EventHandler, error)

// Handle adapts a builder of a typed handler: each change's images are
// decoded into T (a change whose images do not decode fails permanently).
func Handle[T any](build func(ctx context.Context, env *Env) (consumer.Handler[T], error)) Handler {
	return func(ctx context.Context, env *Env) (consumer.EventHandler, error) {
		h, err := build(ctx, env)
		if err != nil {
			return nil, err
		}
		if h == nil {
			return nil, errors.New("the handler builder returned a nil handler")
		}
		return consumer.Typed(h), nil
	}
}

// GraphQL is an app's API.
type GraphQL struct {
	// SDL is the schema in the GraphQL schema language.
	SDL string
	// Resolver builds the root resolver from the environment of the
	// function serving it (the GraphQL function, the WebSocket function
	// and the fan-out each build one).
	Resolver func(ctx context.Context, env *Env) (any, error)
	// Topics map subscriptions and changes to the topics the fan-out
	// matches them by.
	Topics realtime.Topics
	// Examples are the operations GraphiQL opens with (locally and on the
	// dev stage), a tab each: name them, and give them variables a first
	// visit can run as they are.
	Examples []graphqlhttp.GraphiQLTab
}

// Users describe the app's users as its resolvers authorize them, and as
// the identity provider must know them: infra creates a Cognito user
// pool's groups and custom attributes from them (an external issuer must
// put the same claims in its tokens), and the local issuer mints tokens
// with them (make token USER=pat ROLE=<group> ...).
type Users struct {
	// Groups are the app's roles, e.g. "restaurant". A token lists the
	// caller's groups in its groups claim (cognito:groups by default), and
	// resolvers read them with identity.Identity.InGroup.
	Groups []string
	// AdminOnlyAttributes are per-user attributes only an administrator
	// sets and the user can read but never change, e.g. "restaurantId"
	// (the restaurant a staff member works for). Names are without the
	// "custom:" prefix; tokens carry each as the claim AttributeClaim(name).
	AdminOnlyAttributes []string
}

// AttributeClaim is the claim a token carries the admin-only attribute
// name in: "custom:" + name, as Cognito names custom attributes.
func AttributeClaim(name string) string { return "custom:" + name }

var attributeName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,19}$`)

// Validate reports every problem of the declaration: a group must be 1
// to 128 characters without spaces, an attribute a letter then up to 19
// letters, digits or underscores (Cognito's limits); neither twice.
func (u Users) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for _, g := range u.Groups {
		if g == "" || len(g) > 128 || strings.ContainsFunc(g, unicode.IsSpace) {
			errs = append(errs, fmt.Errorf("user group %q: want 1 to 128 characters without spaces", g))
		}
		if seen[g] {
			errs = append(errs, fmt.Errorf("user group %q is listed twice", g))
		}
		seen[g] = true
	}
	seen = map[string]bool{}
	for _, a := range u.AdminOnlyAttributes {
		if !attributeName.MatchString(a) {
			errs = append(errs, fmt.Errorf("user attribute %q: want a letter then up to 19 letters, digits or _, without the custom: prefix", a))
		}
		if seen[a] {
			errs = append(errs, fmt.Errorf("user attribute %q is listed twice", a))
		}
		seen[a] = true
	}
	return errors.Join(errs...)
}

// Topology is the app's declaration as plain data: what the provisioner,
// the CDK constructs and the routes printer need.
func (a App) Topology() topology.Topology {
	t := topology.Topology{App: a.Name, Source: a.Source, Tables: a.Tables, Routes: a.Routes, DisableEventLog: a.DisableEventLog}
	for _, f := range a.Functions {
		t.Functions = append(t.Functions, f.Function)
	}
	return t
}

// Function finds a function by name.
func (a App) Function(name string) (Function, bool) {
	for _, f := range a.Functions {
		if f.Name == name {
			return f, true
		}
	}
	return Function{}, false
}

// FunctionNames are the app's function names, sorted.
func (a App) FunctionNames() []string {
	names := make([]string, len(a.Functions))
	for i, f := range a.Functions {
		names[i] = f.Name
	}
	sort.Strings(names)
	return names
}

// Validate reports every problem of the declaration at once.
func (a App) Validate() error {
	var errs []error
	if err := a.Topology().Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, f := range a.Functions {
		if f.Handler == nil {
			errs = append(errs, fmt.Errorf("function %q has no handler", f.Name))
		}
		if topology.IsFrameworkFunction(f.Name) {
			errs = append(errs, fmt.Errorf("function %q: the name belongs to a framework function", f.Name))
		}
	}
	if err := a.Users.Validate(); err != nil {
		errs = append(errs, err)
	}
	g := a.GraphQL
	if g.SDL == "" || g.Resolver == nil || g.Topics.Subscription == nil || g.Topics.Change == nil {
		errs = append(errs, errors.New("GraphQL: SDL, Resolver, Topics.Subscription and Topics.Change are all required"))
	}
	if len(g.Examples) > 0 && g.SDL != "" {
		errs = append(errs, validExamples(g))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("app %s: %w", a.Name, err)
	}
	return nil
}

// validExamples holds the examples to the schema: a tab that opens with
// an operation the API refuses would teach the wrong thing.
func validExamples(g GraphQL) error {
	var errs []error
	if err := (graphqlhttp.GraphiQLConfig{Endpoint: "/", Tabs: g.Examples}).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("GraphQL examples: %w", err))
	}
	s, err := graphql.ParseSchema(g.SDL, nil)
	if err != nil {
		return fmt.Errorf("GraphQL schema: %w", err)
	}
	for i, ex := range g.Examples {
		var vars map[string]any
		if ex.Variables != "" && json.Unmarshal([]byte(ex.Variables), &vars) != nil {
			continue // reported above
		}
		for _, e := range s.ValidateWithVariables(ex.Query, vars) {
			errs = append(errs, fmt.Errorf("GraphQL example %d: %s", i+1, e.Message))
		}
	}
	return errors.Join(errs...)
}

// Lambdas are every Lambda a deployment of the app runs, sorted: the
// framework's and the app's functions.
func (a App) Lambdas() []string { return a.Topology().Lambdas() }
