package graphqlhttp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/threefactor/framework/lib/identity"
)

// Defaults used for the zero value of each setting.
const (
	DefaultMaxBodyBytes           = 1 << 20 // 1 MiB
	DefaultMaxQueryLength         = 10_000  // bytes of query text
	DefaultMaxDepth               = 12
	DefaultMaxParallelism         = 10
	DefaultOverlapValidationLimit = 10_000 // selection pairs examined
	DefaultMaxSelections          = 5_000  // selections after fragment expansion
	DefaultMaxCost                = 1_000  // gqldoc's cost estimate
	DefaultTimeout                = 15 * time.Second
)

// Limits bound what one operation may cost. The zero value of each field
// selects its Default; a negative value switches that limit off (not
// recommended on a public endpoint). The same Limits go to ParseSchema
// (which applies the ones graphql-go enforces itself: parallelism,
// overlap validation, selections, query length) and to the transports'
// Gate (Config.Limits here, realtime.Config.Limits over WebSocket), which
// checks every limit before anything runs and answers with a clear code.
type Limits struct {
	// MaxQueryLength caps the query text, in bytes (QUERY_TOO_LARGE).
	MaxQueryLength int
	// MaxDepth caps field nesting (QUERY_TOO_DEEP). Introspection fields
	// do not count: MaxIntrospectionLists bounds them instead.
	MaxDepth int
	// MaxCost caps an operation's estimated cost (QUERY_TOO_COMPLEX): a
	// list field weighs gqldoc.ListSize times what it selects, an object
	// 1 plus what it selects, a scalar nothing, a mutation's root field
	// gqldoc.MutationFieldCost more; aliases count. The reference app's
	// largest query, a page of myOrders with every field, costs 221.
	// Introspection costs nothing.
	MaxCost int
	// MaxParallelism caps the resolvers of one request running at once.
	// It cannot be switched off.
	MaxParallelism int
	// OverlapValidationLimit caps the overlapping selection pairs
	// validation examines (QUERY_TOO_COMPLEX).
	OverlapValidationLimit int
	// MaxSelections caps the selections an operation expands to once
	// fragments are spread (QUERY_TOO_COMPLEX). It cannot be switched off.
	MaxSelections int
	// AllowIntrospection enables __schema and __type. Off by default (the
	// production setting); the dev runtime turns it on.
	AllowIntrospection bool
}

// withDefaults resolves zero values; negative values become 0 (off) for
// the limits graphql-go treats 0 as "no limit".
func (l Limits) withDefaults() Limits {
	l.MaxQueryLength = pick(l.MaxQueryLength, DefaultMaxQueryLength)
	l.MaxDepth = pick(l.MaxDepth, DefaultMaxDepth)
	l.OverlapValidationLimit = pick(l.OverlapValidationLimit, DefaultOverlapValidationLimit)
	l.MaxCost = pick(l.MaxCost, DefaultMaxCost)
	if l.MaxParallelism == 0 {
		l.MaxParallelism = DefaultMaxParallelism
	}
	if l.MaxSelections == 0 {
		l.MaxSelections = DefaultMaxSelections
	}
	return l
}

func pick(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// Validate reports settings that cannot work.
func (l Limits) Validate() error {
	var errs []error
	if l.MaxParallelism < 0 {
		errs = append(errs, fmt.Errorf("MaxParallelism %d: must be positive (0 selects %d)", l.MaxParallelism, DefaultMaxParallelism))
	}
	if l.MaxSelections < 0 {
		errs = append(errs, fmt.Errorf("MaxSelections %d: must be positive (0 selects %d)", l.MaxSelections, DefaultMaxSelections))
	}
	return errors.Join(errs...)
}

// Config configures a Handler. Its zero value is a safe production
// configuration: every limit on, introspection and GET off.
type Config struct {
	// Limits must be the ones the schema was built with (ParseSchema).
	Limits Limits
	// MaxBodyBytes caps a POST body (413 beyond it). Zero selects
	// DefaultMaxBodyBytes; it cannot be switched off.
	MaxBodyBytes int64
	// Timeout bounds the execution of one request; the context's own
	// deadline (a Lambda's) still applies when it is sooner. Zero selects
	// DefaultTimeout, a negative value only the context's deadline.
	Timeout time.Duration
	// AllowGET lets queries (never mutations) be sent with GET, which
	// HTTP caches can serve.
	AllowGET bool
	// Logger receives one record per request and the details of internal
	// errors and panics. Records carry requestId and correlationId
	// attributes themselves. Nil: correlation.Logger().
	Logger *slog.Logger
	// Claims reads the caller from the claims API Gateway's JWT authorizer
	// verified (HandleAPIGateway): its zero value reads groups from
	// cognito:groups.
	Claims identity.Mapping
	// Context, when set, derives each request's context: the place to add
	// the caller's identity or data loaders. The context it is given
	// already carries the request and correlation ids.
	Context func(ctx context.Context, r *http.Request) context.Context
}

func (c Config) withDefaults() Config {
	c.Limits = c.Limits.withDefaults()
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	var errs []error
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxBodyBytes %d: must be positive (0 selects %d)", c.MaxBodyBytes, DefaultMaxBodyBytes))
	}
	d := c.withDefaults()
	if d.MaxBodyBytes > 0 && d.Limits.MaxQueryLength > 0 && int64(d.Limits.MaxQueryLength) > d.MaxBodyBytes {
		errs = append(errs, fmt.Errorf("MaxQueryLength %d exceeds MaxBodyBytes %d: no such query could arrive", d.Limits.MaxQueryLength, d.MaxBodyBytes))
	}
	return errors.Join(errs...)
}
