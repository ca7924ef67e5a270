package devapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	apitypes "github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	"github.com/aws/smithy-go/logging"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/devruntime"
)

// The dev runtime's log tells a person what happened, one line each: a
// request (graphqlhttp), a committed change (changeLog), a delivery to a
// function (consumer), a push to a WebSocket (logPush). lib/humanlog
// renders them; in JSON they are the same records.

// changeLog logs each committed change once, as the router reads it.
type changeLog struct {
	log    *slog.Logger
	decode func(events.DynamoDBEventRecord) (change.Event, error)

	mu   sync.Mutex
	seen map[string]bool
	ring []string // the ids in seen, oldest first
	next int
}

// changeLogMemory is how many event ids changeLog remembers, so that a
// batch the router retries is not logged again.
const changeLogMemory = 4096

func newChangeLog(log *slog.Logger, decode func(events.DynamoDBEventRecord) (change.Event, error)) *changeLog {
	return &changeLog{log: log, decode: decode, seen: map[string]bool{}, ring: make([]string, changeLogMemory)}
}

// wrap logs the changes of each batch before h routes them.
func (c *changeLog) wrap(h devruntime.StreamHandler) devruntime.StreamHandler {
	return func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		if c.log.Enabled(ctx, slog.LevelInfo) {
			for _, rec := range ev.Records {
				if c.first(rec.EventID) {
					c.logChange(ctx, rec)
				}
			}
		}
		return h(ctx, ev)
	}
}

// first reports whether id was not seen yet, and remembers it.
func (c *changeLog) first(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen[id] {
		return false
	}
	if old := c.ring[c.next]; old != "" {
		delete(c.seen, old)
	}
	c.ring[c.next], c.seen[id] = id, true
	c.next = (c.next + 1) % len(c.ring)
	return true
}

// bookkeeping are attributes every write sets: not news in a change line.
var bookkeeping = map[string]bool{correlation.Attribute: true, correlation.SubjectAttribute: true, "updatedAt": true, "createdAt": true}

// shownValues is how many changed values a change line shows.
const shownValues = 4

func (c *changeLog) logChange(ctx context.Context, rec events.DynamoDBEventRecord) {
	e, err := c.decode(rec)
	if err != nil {
		// The router reports records it cannot read.
		return
	}
	var keys map[string]any
	_ = json.Unmarshal(e.Keys, &keys)
	key := make([]string, 0, len(keys))
	for _, v := range keys {
		key = append(key, fmt.Sprint(v))
	}
	var img map[string]json.RawMessage
	_ = json.Unmarshal(e.New, &img)
	var values []any
	changed := 0
	for _, name := range e.Changed {
		if bookkeeping[name] || keys[name] != nil {
			continue
		}
		changed++
		if len(values) < shownValues {
			if v, ok := scalar(img[name]); ok {
				values = append(values, slog.String(name, v))
			}
		}
	}
	attrs := []slog.Attr{
		slog.String("table", e.Table), slog.String("operation", string(e.Operation)),
		slog.String("key", strings.Join(key, "/")), slog.String("eventId", e.ID),
		slog.Int("changedCount", changed),
	}
	if len(values) > 0 {
		attrs = append(attrs, slog.Group("new", values...))
	}
	if e.CorrelationID != "" {
		ctx = correlation.With(ctx, e.CorrelationID)
	}
	if e.CausedBy != "" {
		ctx = correlation.WithSubject(ctx, e.CausedBy)
	}
	c.log.LogAttrs(ctx, slog.LevelInfo, "change", attrs...)
}

// scalar is a short string, number or boolean as text.
func scalar(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || len(raw) > 64 {
		return "", false
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	case '{', '[', 'n':
		return "", false
	}
	return string(raw), true
}

// logPush logs what the Management API was asked to send: a push of a
// subscription's result at INFO; the protocol's own messages at DEBUG.
func logPush(ctx context.Context, log *slog.Logger, in *apigatewaymanagementapi.PostToConnectionInput, err error) {
	var m struct {
		ID      string `json:"id"`
		Type    string `json:"type"`
		Payload struct {
			Data map[string]json.RawMessage `json:"data"`
		} `json:"payload"`
	}
	_ = json.Unmarshal(in.Data, &m)
	level := slog.LevelDebug
	field := m.Type
	switch m.Type {
	case "next":
		level = slog.LevelInfo
		for k := range m.Payload.Data {
			field = k
		}
	case "error":
		level = slog.LevelInfo
	}
	outcome := "ok"
	var gone *apitypes.GoneException
	switch {
	case errors.As(err, &gone):
		outcome = "gone"
	case err != nil:
		outcome, level = "failed", slog.LevelWarn
	}
	if !log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("field", field), slog.String("connectionId", deref(in.ConnectionId)),
		slog.String("subscriptionId", m.ID), slog.Int("bytes", len(in.Data)), slog.String("outcome", outcome),
	}
	if err != nil && outcome != "gone" {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	log.LogAttrs(ctx, level, "push", attrs...)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// atLeast drops the records of h below min, unless h is set to show more
// (LOG_LEVEL=debug shows everything).
func atLeast(h slog.Handler, min slog.Level) slog.Handler { return levelFloor{h, min} }

type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (l levelFloor) Enabled(ctx context.Context, lvl slog.Level) bool {
	if !l.Handler.Enabled(ctx, lvl) {
		return false
	}
	return lvl >= l.min || l.Handler.Enabled(ctx, slog.LevelDebug)
}

func (l levelFloor) WithAttrs(as []slog.Attr) slog.Handler {
	return levelFloor{l.Handler.WithAttrs(as), l.min}
}

func (l levelFloor) WithGroup(n string) slog.Handler {
	return levelFloor{l.Handler.WithGroup(n), l.min}
}

// sdkLogger hands what the AWS SDK logs to the runtime's logger: its
// warnings say something about the endpoint or the network, so they show
// like the runtime's own (and none is expected: see
// emulator.BufferRequestBodies).
type sdkLogger struct{ log *slog.Logger }

func (s sdkLogger) Logf(c logging.Classification, format string, v ...any) {
	lvl := slog.LevelDebug
	if c == logging.Warn {
		lvl = slog.LevelWarn
	}
	s.log.Log(context.Background(), lvl, fmt.Sprintf(format, v...), "component", "aws-sdk")
}
