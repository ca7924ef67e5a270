package humanlog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/humanlog"
)

var at = time.Date(2026, 5, 1, 14, 3, 7, 412_000_000, time.UTC)

// line renders one record the way the dev runtime's components log it.
func line(t *testing.T, with []any, level slog.Level, msg string, attrs ...any) string {
	t.Helper()
	var b bytes.Buffer
	log := slog.New(correlation.WrapHandler(humanlog.NewHandler(&b, &humanlog.Options{Level: slog.LevelDebug, SourceWidth: 13})))
	if len(with) > 0 {
		log = log.With(with...)
	}
	ctx := correlation.WithSubject(correlation.With(context.Background(), "W38gTichBkYb+sY="), "alice")
	r := slog.NewRecord(at, level, msg, 0)
	r.Add(attrs...)
	if err := log.Handler().Handle(ctx, r); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestLines(t *testing.T) {
	tests := []struct {
		name  string
		with  []any
		level slog.Level
		msg   string
		attrs []any
		want  string
	}{
		{
			name: "request", with: []any{"component", "graphql"}, msg: "graphql request",
			attrs: []any{"requestId", "r1", "correlationId", "W38gTichBkYb+sY=", "method", "POST", "operationName", "PlaceOrder", "operationType", "mutation", "status", 200, "errors", 0, "durationMs", 58.272},
			want:  "14:03:07.412 request       POST mutation PlaceOrder → 200  58ms  alice  ·W38gTi\n",
		},
		{
			name: "request with errors", msg: "graphql request",
			attrs: []any{"method", "POST", "operationName", "", "operationType", "query", "status", 200, "errors", 2, "durationMs", 0.25},
			want:  "14:03:07.412 request       POST query → 200 (2 errors)  0.2ms  alice  ·W38gTi\n",
		},
		{
			name: "refused request", with: []any{"component", "devruntime"}, msg: "http api: unauthorized",
			attrs: []any{"requestId", "r2", "method", "POST", "path", "/graphql", "reason", "the token has expired"},
			want:  "14:03:07.412 request       POST /graphql → 401 the token has expired  ·W38gTi\n",
		},
		{
			name: "change", msg: "change",
			attrs: []any{"table", "orders", "operation", "MODIFY", "key", "ord_77f7", "eventId", "e1", "changedCount", 3, slog.Group("new", "status", "VALIDATED", "totalCents", "1800")},
			want:  "14:03:07.412 change        orders MODIFY ord_77f7 status=VALIDATED totalCents=1800 +1  ·W38gTi\n",
		},
		{
			name: "delivery", with: []any{"component", "validateorder", "function", "validateorder", "route", "validate-order"}, msg: "message handled",
			attrs: []any{"eventId", "e1", "messageId", "m1", "attempt", 1, "outcome", "ok", "durationMs", 86.067},
			want:  "14:03:07.412 deliver       validate-order → validateorder  #1 ok  86ms  ·W38gTi\n",
		},
		{
			name: "failed delivery", with: []any{"function", "processpayment", "route", "process-payment"}, level: slog.LevelWarn, msg: "handler failed; message will be retried",
			attrs: []any{"attempt", 2, "outcome", "retry", "durationMs", 1200.0, "error", "provider unavailable"},
			want:  "14:03:07.412 deliver       WARN process-payment → processpayment  #2 retry  1.2s  handler failed; message will be retried: provider unavailable  ·W38gTi\n",
		},
		{
			name: "redriven", with: []any{"component", "queue", "function", "processpayment", "route", "process-payment"}, level: slog.LevelWarn, msg: "message failed",
			attrs: []any{"attempt", 20, "outcome", "to-dlq", "retryIn", "30s", "error", "boom"},
			want:  "14:03:07.412 deliver       WARN process-payment → processpayment  #20 to-dlq  message failed: boom  ·W38gTi\n",
		},
		{
			name: "push", msg: "push",
			attrs: []any{"field", "orderUpdated", "connectionId", "AR6UrbeXq1", "subscriptionId", "1", "bytes", 215, "outcome", "ok"},
			want:  "14:03:07.412 push          orderUpdated → connection AR6UrbeX  215 B  ·W38gTi\n",
		},
		{
			name: "push to a gone connection", msg: "push",
			attrs: []any{"field", "orderUpdated", "connectionId", "AR6UrbeXq1", "bytes", 2048, "outcome", "gone"},
			want:  "14:03:07.412 push          orderUpdated → connection AR6UrbeX gone  2.0 kB  ·W38gTi\n",
		},
		{
			name: "subscribed", with: []any{"component", "realtime", "connectionId", "AR6UrbeXq1", "route", "$default", "subscriptionId", "1"}, msg: "subscribed",
			attrs: []any{"topic", "orderUpdated:ord_1"},
			want:  "14:03:07.412 subscribe     orderUpdated:ord_1 (connection AR6UrbeX)  alice  ·W38gTi\n",
		},
		{
			name: "the app's own line", with: []any{"component", "validateorder"}, msg: "order validated",
			attrs: []any{"eventId", "e1", "orderId", "ord_1", "status", "VALIDATED", "totalCents", 1800, "reason", ""},
			want:  "14:03:07.412 validateorder order validated  orderId=ord_1 status=VALIDATED totalCents=1800  ·W38gTi\n",
		},
		{
			name: "the app's own line named like an event", with: []any{"component", "notify"}, msg: "change",
			attrs: []any{"what", "menu"},
			want:  "14:03:07.412 notify        change  what=menu  ·W38gTi\n",
		},
		{
			name: "a long source pushes the line right", with: []any{"component", "restaurantapproval"}, msg: "order approved",
			want: "14:03:07.412 restaurantapproval order approved  ·W38gTi\n",
		},
		{
			name: "framework line with a quoted value and a duration", with: []any{"component", "devruntime"}, msg: "provisioned",
			attrs: []any{"app", "fooddelivery", "took", "467.23382ms", "note", "two words"},
			want:  "14:03:07.412 devruntime    provisioned  app=fooddelivery took=467ms note=\"two words\"  ·W38gTi\n",
		},
		{
			name: "error", with: []any{"component", "aws-sdk"}, level: slog.LevelError, msg: "dev failed",
			attrs: []any{"error", errors.New("listen: address in use")},
			want:  "14:03:07.412 aws-sdk       ERROR dev failed  error=\"listen: address in use\"  ·W38gTi\n",
		},
		{
			name: "debug", msg: "reading shard", level: slog.LevelDebug, with: []any{"component", "stream"},
			attrs: []any{"from", ""},
			want:  "14:03:07.412 stream        debug reading shard  ·W38gTi\n",
		},
		{
			name: "a stack goes below", with: []any{"component", "queue"}, level: slog.LevelError, msg: "handler panicked; the batch failed",
			attrs: []any{"panic", "boom", "stack", "goroutine 1:\nmain.f()\n"},
			want:  "14:03:07.412 queue         ERROR handler panicked; the batch failed  panic=boom  ·W38gTi\n    stack:\n      goroutine 1:\n      main.f()\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := line(t, tt.with, tt.level, tt.msg, tt.attrs...); got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestColour(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(humanlog.NewHandler(&b, &humanlog.Options{Color: true}))
	log.Info("graphql request", "method", "POST", "operationType", "mutation", "status", 500)
	log.Warn("something", "error", "boom")
	out := b.String()
	for _, want := range []string{"\x1b[36mrequest\x1b[0m", "\x1b[31m500\x1b[0m", "\x1b[33mWARN \x1b[0m", "\x1b[31mboom\x1b[0m", "\x1b[2m"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in %q", want, out)
		}
	}
	b.Reset()
	slog.New(humanlog.NewHandler(&b, nil)).Info("graphql request", "status", 500)
	if strings.Contains(b.String(), "\x1b") {
		t.Errorf("colour without Color: %q", b.String())
	}
}

func TestLevelAndGroups(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(humanlog.NewHandler(&b, nil))
	log.Debug("hidden")
	log.WithGroup("g").With("a", 1).Info("grouped", slog.Group("h", "b", 2))
	if got, want := b.String()[13:], "dev          grouped  g.a=1 g.h.b=2\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// The format follows the output: JSON into a file (tests, CI), unless
// LOG_FORMAT says otherwise; a bad setting is an error.
func TestLogger(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	write := func(t *testing.T, getenv func(string) string) string {
		f, err := os.Create(filepath.Join(t.TempDir(), "log"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		log, err := humanlog.Logger(f, getenv, humanlog.Options{})
		if err != nil {
			t.Fatal(err)
		}
		log.InfoContext(correlation.With(context.Background(), "c1"), "graphql request", "method", "POST", "status", 200)
		log.Debug("debug line")
		b, _ := os.ReadFile(f.Name())
		return string(b)
	}
	var rec map[string]any
	out := write(t, env())
	if err := json.Unmarshal([]byte(out), &rec); err != nil || rec["msg"] != "graphql request" || rec["correlationId"] != "c1" {
		t.Errorf("into a file: %q, want one JSON line with the correlation id", out)
	}
	if out := write(t, env(humanlog.EnvFormat, "human")); !strings.Contains(out, "request") || !strings.Contains(out, "POST → 200") || strings.Contains(out, "{") || strings.Contains(out, "\x1b") {
		t.Errorf("LOG_FORMAT=human into a file: %q, want a line for people without colour", out)
	}
	if out := write(t, env(humanlog.EnvFormat, "JSON", humanlog.EnvLevel, "debug")); strings.Count(out, "\n") != 2 || !strings.Contains(out, `"debug line"`) {
		t.Errorf("LOG_FORMAT=JSON LOG_LEVEL=debug: %q", out)
	}
	for _, bad := range [][]string{{humanlog.EnvFormat, "yaml"}, {humanlog.EnvLevel, "loud"}} {
		if _, err := humanlog.Logger(os.Stderr, env(bad...), humanlog.Options{}); err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%s=%s: err %v, want one naming it", bad[0], bad[1], err)
		}
	}
}
