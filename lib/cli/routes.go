package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/threefactor/framework/lib/topology"
)

func init() {
	register(&command{
		name:     "routes",
		synopsis: "[--json]",
		summary:  "print each route of the app: its function, its EventBridge pattern as deployed, and its queue's settings",
		help: `
The pattern is the one the dev runtime and the CDK app give the route's
rule (topology.EventPatternJSON), pretty-printed. The queue settings are
the route's, with their defaults: batch size, max receive count (receives
before the dead-letter queue) and visibility timeout. Locally the route's
queue and dead-letter queue have the names shown; on AWS, CloudFormation
names them. The app's routes come first, then the framework's: eventlog
takes every change event to the event log (docs/eventlog.md).`,
		setup: func(fs *flag.FlagSet, _ Config) func(context.Context, *env, []string) error {
			asJSON := fs.Bool("json", false, "print JSON: {app, routes: [{name, function, pattern, batchSize, maxReceiveCount, visibilityTimeoutSeconds, localQueue, localDLQ, framework}]}")
			return func(_ context.Context, e *env, _ []string) error {
				routes := describeRoutes(e.cfg.App.Topology())
				if *asJSON {
					return writeRoutesJSON(e.stdout, e.cfg.App.Name, routes)
				}
				return writeRoutes(e.stdout, routes)
			}
		},
	})
}

// routeInfo is a route as `threefactor routes` shows it.
type routeInfo struct {
	Name            string          `json:"name"`
	Function        string          `json:"function"`
	Pattern         json.RawMessage `json:"pattern"`
	BatchSize       int             `json:"batchSize"`
	MaxReceiveCount int             `json:"maxReceiveCount"`
	// VisibilityTimeoutSeconds is the queue's visibility timeout.
	VisibilityTimeoutSeconds int64  `json:"visibilityTimeoutSeconds"`
	LocalQueue               string `json:"localQueue"`
	LocalDLQ                 string `json:"localDLQ"`
	// Framework marks the framework's own routes (the event log feed).
	Framework bool `json:"framework,omitempty"`
}

// describeRoutes lists the routes of t in declaration order, then the
// framework's, with their defaults applied.
func describeRoutes(t topology.Topology) []routeInfo {
	var out []routeInfo
	for _, r := range t.RoutesWithDefaults() {
		out = append(out, routeInfo{
			Name: r.Name, Function: r.Function, Pattern: json.RawMessage(t.EventPatternJSON(r)),
			BatchSize: r.BatchSize, MaxReceiveCount: r.MaxReceiveCount,
			VisibilityTimeoutSeconds: int64(r.VisibilityTimeout.Seconds()),
			LocalQueue:               t.QueueName(r.Name), LocalDLQ: t.DLQName(r.Name),
			Framework: r.IsFrameworkRoute(),
		})
	}
	return out
}

func writeRoutes(w io.Writer, routes []routeInfo) error {
	if len(routes) == 0 {
		_, err := fmt.Fprintln(w, "no routes: add one with threefactor new function")
		return err
	}
	for i, r := range routes {
		if i > 0 {
			fmt.Fprintln(w)
		}
		pattern, err := indentJSON(r.Pattern, "    ")
		if err != nil {
			return fmt.Errorf("route %s: pattern: %w", r.Name, err)
		}
		fmt.Fprintf(w, "%s -> %s\n", r.Name, r.Function)
		if r.Framework {
			fmt.Fprintln(w, "  the framework's: every change event, to the event log")
		}
		fmt.Fprintf(w, "  batch size %d, max receive count %d, visibility timeout %ds\n", r.BatchSize, r.MaxReceiveCount, r.VisibilityTimeoutSeconds)
		fmt.Fprintf(w, "  local queue %s (dlq %s)\n", r.LocalQueue, r.LocalDLQ)
		fmt.Fprintf(w, "  pattern\n    %s\n", pattern)
	}
	return nil
}

func writeRoutesJSON(w io.Writer, app string, routes []routeInfo) error {
	if routes == nil {
		routes = []routeInfo{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(struct {
		App    string      `json:"app"`
		Routes []routeInfo `json:"routes"`
	}{app, routes})
}

// indentJSON pretty-prints a JSON value: an object's members one per line,
// an array on one line when it is short. Only whitespace is added to the
// bytes, so keys, values and their order are the deployed pattern's.
func indentJSON(raw []byte, prefix string) (string, error) {
	var c bytes.Buffer
	if err := json.Compact(&c, raw); err != nil {
		return "", err
	}
	src := c.Bytes()
	var b bytes.Buffer
	depth := 0
	newline := func() {
		b.WriteByte('\n')
		b.WriteString(prefix)
		for range depth {
			b.WriteString("  ")
		}
	}
	for i := 0; i < len(src); i++ {
		switch ch := src[i]; ch {
		case '"':
			j := stringEnd(src, i)
			b.Write(src[i:j])
			i = j - 1
		case '[', '{':
			if end := valueEnd(src, i); ch == '[' && end-i <= inlineArray {
				writeInline(&b, src[i:end])
				i = end - 1
				continue
			}
			b.WriteByte(ch)
			if i+1 < len(src) && (src[i+1] == '}' || src[i+1] == ']') {
				continue
			}
			depth++
			newline()
		case '}', ']':
			if src[i-1] != '{' && src[i-1] != '[' {
				depth--
				newline()
			}
			b.WriteByte(ch)
		case ',':
			b.WriteByte(ch)
			newline()
		case ':':
			b.WriteString(": ")
		default:
			b.WriteByte(ch)
		}
	}
	return b.String(), nil
}

// inlineArray is the longest array, compacted, printed on one line.
const inlineArray = 60

// writeInline writes a compact JSON value with a space after each comma
// and colon.
func writeInline(b *bytes.Buffer, src []byte) {
	for k := 0; k < len(src); k++ {
		if src[k] == '"' {
			j := stringEnd(src, k)
			b.Write(src[k:j])
			k = j - 1
			continue
		}
		b.WriteByte(src[k])
		if src[k] == ',' || src[k] == ':' {
			b.WriteByte(' ')
		}
	}
}

// stringEnd is the index just past the JSON string starting at src[i].
func stringEnd(src []byte, i int) int {
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(src)
}

// valueEnd is the index just past the array or object starting at src[i].
func valueEnd(src []byte, i int) int {
	depth := 0
	for j := i; j < len(src); j++ {
		switch src[j] {
		case '"':
			j = stringEnd(src, j) - 1
		case '[', '{':
			depth++
		case ']', '}':
			depth--
			if depth == 0 {
				return j + 1
			}
		}
	}
	return len(src)
}
