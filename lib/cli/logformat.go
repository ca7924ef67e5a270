package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/threefactor/framework/lib/correlation"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/topology"
)

// How the log and trace commands print records.

// timeText is a record's time, in UTC with milliseconds.
func timeText(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// maxValue is the longest value printed; --json has them whole.
const maxValue = 72

// valueText is a JSON value, compact and cut at maxValue characters.
func valueText(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	s := b.String()
	if utf8.RuneCountInString(s) > maxValue {
		r := []rune(s)
		s = string(r[:maxValue-1]) + "…"
	}
	return s
}

// attrLine is one changed attribute: its value before and after.
type attrLine struct {
	Name string          `json:"name"`
	Old  json.RawMessage `json:"old,omitempty"`
	New  json.RawMessage `json:"new,omitempty"`
}

// changedAttrs lists what a change changed, by attribute name: every
// attribute of a new item or of a removed one, the changed ones of an
// update. The key attributes (in the item key) and the correlation id
// and subject attributes (in the header) are left out.
func changedAttrs(topo topology.Topology, c eventlog.Change) []attrLine {
	var old, new map[string]json.RawMessage
	_ = json.Unmarshal(c.Old, &old)
	_ = json.Unmarshal(c.New, &new)
	skip := map[string]bool{correlation.Attribute: true, correlation.SubjectAttribute: true}
	if tb, ok := topo.Table(c.Table); ok {
		skip[tb.PartitionKey.Name] = true
		if tb.SortKey != nil {
			skip[tb.SortKey.Name] = true
		}
	}
	var names []string
	switch c.Operation {
	case topology.Modify:
		names = append(names, c.Changed...)
	case topology.Insert:
		for k := range new {
			names = append(names, k)
		}
	case topology.Remove:
		for k := range old {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	var out []attrLine
	for _, n := range names {
		if !skip[n] {
			out = append(out, attrLine{Name: n, Old: old[n], New: new[n]})
		}
	}
	return out
}

// writeAttrs prints a change's attribute lines with indent.
func writeAttrs(w io.Writer, indent string, op topology.Operation, attrs []attrLine, reduced bool) {
	if reduced {
		fmt.Fprintf(w, "%s(logged without its item: too large)\n", indent)
	}
	for _, a := range attrs {
		switch {
		case op == topology.Insert:
			fmt.Fprintf(w, "%s%s = %s\n", indent, a.Name, valueText(a.New))
		case a.Old == nil && a.New == nil:
			fmt.Fprintf(w, "%s%s changed\n", indent, a.Name)
		case a.Old == nil:
			fmt.Fprintf(w, "%s%s: (none) -> %s\n", indent, a.Name, valueText(a.New))
		case a.New == nil:
			fmt.Fprintf(w, "%s%s: %s -> (removed)\n", indent, a.Name, valueText(a.Old))
		default:
			fmt.Fprintf(w, "%s%s: %s -> %s\n", indent, a.Name, valueText(a.Old), valueText(a.New))
		}
	}
}

// whoText names who caused a change and its correlation id.
func whoText(subject, correlationID string) string {
	var parts []string
	if subject != "" {
		parts = append(parts, "by "+subject)
	}
	if correlationID != "" {
		parts = append(parts, "correlation "+correlationID)
	}
	return strings.Join(parts, "  ")
}

// deliveryText is one delivery attempt.
func deliveryText(d eventlog.Delivery) string {
	s := fmt.Sprintf("%s -> %s attempt %d: %s", orNone(d.Route), d.Function, d.Attempt, d.Outcome)
	if d.Error != "" {
		s += ": " + firstLine(d.Error)
	}
	return s + fmt.Sprintf(" (%s)", msText(d.DurationMs))
}

// pushText is one realtime push.
func pushText(p eventlog.Push) string {
	s := fmt.Sprintf("push %s to connection %s subscription %s: %s", p.Topic, p.ConnectionID, p.SubscriptionID, p.Outcome)
	switch {
	case p.CatchUp:
		s = "catch-up " + s
	case p.Redelivered:
		s = "kept " + s
	}
	if p.Error != "" {
		s += ": " + firstLine(p.Error)
	}
	return s + fmt.Sprintf(" (%s)", msText(p.DurationMs))
}

func msText(ms float64) string {
	if ms < 10 {
		return fmt.Sprintf("%.1fms", ms)
	}
	return fmt.Sprintf("%.0fms", ms)
}

func orNone(s string) string {
	if s == "" {
		return "(no route)"
	}
	return s
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
