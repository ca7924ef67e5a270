package humanlog

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Options configure a Handler. The zero value is the default.
type Options struct {
	// Level is the lowest level written. Default slog.LevelInfo.
	Level slog.Leveler
	// Color writes ANSI colours, for a terminal.
	Color bool
	// SourceWidth is the width of the column after the time: the kind
	// of event or the function or component a record comes from. Longer
	// names push the rest of their line right. Default 12.
	SourceWidth int
}

// Handler writes each record as one line (see the package doc). It is
// safe for concurrent use; lines are never interleaved.
type Handler struct {
	o     Options
	mu    *sync.Mutex
	w     io.Writer
	attrs []slog.Attr // from WithAttrs, keys qualified by their groups
	group string      // prefix of keys added from now on: "g1.g2."
}

// NewHandler is a Handler writing to w.
func NewHandler(w io.Writer, o *Options) *Handler {
	h := &Handler{mu: &sync.Mutex{}, w: w}
	if o != nil {
		h.o = *o
	}
	if h.o.Level == nil {
		h.o.Level = slog.LevelInfo
	}
	if h.o.SourceWidth <= 0 {
		h.o.SourceWidth = 12
	}
	return h
}

// Enabled reports whether l is at least the handler's level.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.o.Level.Level() }

// WithAttrs returns a handler whose records carry as too.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), flatten(nil, h.group, as)...)
	return &c
}

// WithGroup returns a handler that qualifies later keys with name.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.group = h.group + name + "."
	return &c
}

// Handle writes r as one line, and a multi-line attribute (a stack) as
// indented lines after it.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	as := make([]slog.Attr, 0, len(h.attrs)+r.NumAttrs())
	as = append(as, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		as = flatten(as, h.group, []slog.Attr{a})
		return true
	})
	rec := record{Record: r, attrs: as}

	b := &line{color: h.o.Color}
	ts := r.Time
	if ts.IsZero() {
		ts = time.Now()
	}
	b.paint(dim, ts.Format("15:04:05.000"))
	b.WriteByte(' ')
	source, body, event := render(&rec, h.o.Color)
	b.paint(sourceColor(event, &rec), source)
	if pad := h.o.SourceWidth - utf8.RuneCountInString(source); pad > 0 {
		b.WriteString(strings.Repeat(" ", pad))
	}
	b.WriteByte(' ')
	switch l := r.Level; {
	case l >= slog.LevelError:
		b.paint(red, "ERROR ")
	case l >= slog.LevelWarn:
		b.paint(yellow, "WARN ")
	case l < slog.LevelInfo:
		b.paint(dim, "debug ")
	}
	b.WriteString(body)
	if id := rec.str("correlationId"); id != "" {
		b.WriteString("  ")
		b.paint(dim, "·"+short(id, 6))
	}
	b.WriteByte('\n')
	for _, a := range rec.multiline() {
		b.paint(dim, "    "+a.Key+":\n")
		for _, l := range strings.Split(strings.TrimRight(a.Value.String(), "\n"), "\n") {
			b.paint(dim, "      "+l+"\n")
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(b.Bytes())
	return err
}

// flatten appends as to dst with group-qualified keys, resolving
// LogValuers and inlining groups; empty groups and attrs are dropped.
func flatten(dst []slog.Attr, prefix string, as []slog.Attr) []slog.Attr {
	for _, a := range as {
		a.Value = a.Value.Resolve()
		if a.Equal(slog.Attr{}) {
			continue
		}
		if a.Value.Kind() == slog.KindGroup {
			p := prefix
			if a.Key != "" {
				p += a.Key + "."
			}
			dst = flatten(dst, p, a.Value.Group())
			continue
		}
		a.Key = prefix + a.Key
		dst = append(dst, a)
	}
	return dst
}

// record is a record with its attributes flattened.
type record struct {
	slog.Record
	attrs []slog.Attr
}

// get is the last value of key (a later attr overrides an earlier one).
func (r *record) get(key string) (slog.Value, bool) {
	for i := len(r.attrs) - 1; i >= 0; i-- {
		if r.attrs[i].Key == key {
			return r.attrs[i].Value, true
		}
	}
	return slog.Value{}, false
}

func (r *record) has(key string) bool {
	_, ok := r.get(key)
	return ok
}

func (r *record) str(key string) string {
	v, ok := r.get(key)
	if !ok {
		return ""
	}
	return value(v)
}

func (r *record) num(key string) (float64, bool) {
	v, ok := r.get(key)
	if !ok {
		return 0, false
	}
	switch v.Kind() {
	case slog.KindInt64:
		return float64(v.Int64()), true
	case slog.KindUint64:
		return float64(v.Uint64()), true
	case slog.KindFloat64:
		return v.Float64(), true
	case slog.KindDuration:
		return float64(v.Duration().Microseconds()) / 1000, true
	case slog.KindString:
		f, err := strconv.ParseFloat(v.String(), 64)
		return f, err == nil
	}
	return 0, false
}

// multiline are the attributes whose value spans lines (a stack).
func (r *record) multiline() []slog.Attr {
	var out []slog.Attr
	for _, a := range r.attrs {
		if a.Value.Kind() == slog.KindString && strings.Contains(strings.TrimRight(a.Value.String(), "\n"), "\n") {
			out = append(out, a)
		}
	}
	return out
}

// hidden are the attributes a generic line leaves out: ids for machines,
// and the source, which has its own column.
var hidden = map[string]bool{
	"component": true, "function": true, "route": true,
	"correlationId": true, "subject": true, "requestId": true,
	"eventId": true, "eventIds": true, "messageId": true, "attempt": true,
	"stream": true, "shard": true, "lastSeq": true,
}

// kind is one of the framework's events: its message, an attribute its
// records always carry (another record with the same message is rendered
// like any other), and its rendering.
type kind struct {
	has    string
	render func(*record, *line)
}

var kinds = map[string]kind{
	"graphql request":        {"status", renderRequest},
	"http api: unauthorized": {"path", renderUnauthorized},
	"change":                 {"operation", renderChange},
	"push":                   {"connectionId", renderPush},
	"subscribed":             {"topic", renderSubscribed},
}

// kindOf is r's kind, if it is one of the framework's events.
func kindOf(r *record) (kind, bool) {
	k, ok := kinds[r.Message]
	return k, ok && r.has(k.has)
}

// render is the source column and the rest of r's line, and whether r
// is one of the framework's events.
func render(r *record, color bool) (source, body string, event bool) {
	b := &line{color: color}
	k, isKind := kindOf(r)
	switch {
	case isKind:
		k.render(r, b)
		return kindName(r.Message), b.String(), true
	case r.has("route") && r.has("attempt") && r.has("outcome"):
		renderDelivery(r, b)
		return "deliver", b.String(), true
	}
	source = r.str("function")
	if source == "" {
		source = r.str("component")
	}
	if source == "" {
		source = "dev"
	}
	b.WriteString(r.Message)
	first := true
	for _, a := range r.attrs {
		if hidden[a.Key] || strings.Contains(a.Value.String(), "\n") {
			continue
		}
		v := value(a.Value)
		if v == "" {
			continue
		}
		if first {
			b.WriteString(" ")
			first = false
		}
		b.WriteString(" ")
		b.paint(dim, a.Key+"=")
		if a.Key == "error" || a.Key == "err" {
			b.paint(red, quote(v))
			continue
		}
		b.WriteString(quote(clip(v, 120)))
	}
	return source, b.String(), false
}

func kindName(msg string) string {
	switch msg {
	case "graphql request", "http api: unauthorized":
		return "request"
	case "subscribed":
		return "subscribe"
	}
	return msg
}

// renderRequest: POST mutation PlaceOrder → 200  58ms  alice
func renderRequest(r *record, b *line) {
	b.WriteString(r.str("method"))
	if t := r.str("operationType"); t != "" && t != "unknown" {
		b.WriteString(" " + t)
	}
	if n := r.str("operationName"); n != "" {
		b.WriteString(" " + n)
	}
	b.WriteString(" → ")
	status, _ := r.num("status")
	b.paint(statusColor(int(status)), strconv.Itoa(int(status)))
	if n, _ := r.num("errors"); n > 0 {
		b.paint(yellow, fmt.Sprintf(" (%s)", plural(int(n), "error")))
	}
	if d, ok := r.num("durationMs"); ok {
		b.WriteString("  ")
		b.paint(dim, millis(d))
	}
	if s := r.str("subject"); s != "" {
		b.WriteString("  " + s)
	}
}

// renderUnauthorized: POST /graphql → 401 the token has expired
func renderUnauthorized(r *record, b *line) {
	if m := r.str("method"); m != "" {
		b.WriteString(m + " ")
	}
	b.WriteString(r.str("path") + " → ")
	b.paint(yellow, "401")
	if why := r.str("reason"); why != "" {
		b.WriteString(" " + why)
	}
}

// renderChange: orders MODIFY ord_77f7dc… status=VALIDATED totalCents=1800 +1
func renderChange(r *record, b *line) {
	b.WriteString(r.str("table") + " ")
	b.paint(opColor(r.str("operation")), r.str("operation"))
	if k := r.str("key"); k != "" {
		b.WriteString(" " + clip(k, 40))
	}
	shown := 0
	for _, a := range r.attrs {
		if name, ok := strings.CutPrefix(a.Key, "new."); ok {
			b.WriteString(" ")
			b.paint(dim, name+"=")
			b.WriteString(quote(clip(value(a.Value), 40)))
			shown++
		}
	}
	if n, ok := r.num("changedCount"); ok && int(n) > shown {
		b.paint(dim, fmt.Sprintf(" +%d", int(n)-shown))
	}
}

// renderDelivery: validate-order → validateorder  #1 ok  86ms
func renderDelivery(r *record, b *line) {
	b.WriteString(r.str("route"))
	if f := r.str("function"); f != "" {
		b.WriteString(" → " + f)
	}
	b.WriteString("  #" + r.str("attempt") + " ")
	outcome := r.str("outcome")
	b.paint(outcomeColor(outcome), outcome)
	if d, ok := r.num("durationMs"); ok {
		b.WriteString("  ")
		b.paint(dim, millis(d))
	}
	if in := r.str("retryIn"); in != "" && outcome == "retry" {
		b.paint(dim, "  retry in "+in)
	}
	if outcome != "ok" {
		b.WriteString("  " + r.Message)
		if e := r.str("error"); e != "" {
			b.WriteString(": ")
			b.paint(red, e)
		}
	}
}

// renderPush: orderUpdated → connection 4f2a1c  412 B
func renderPush(r *record, b *line) {
	b.WriteString(r.str("field"))
	b.WriteString(" → connection " + short(r.str("connectionId"), 8))
	if o := r.str("outcome"); o != "" && o != "ok" {
		b.WriteString(" ")
		b.paint(yellow, o)
	}
	if n, ok := r.num("bytes"); ok {
		b.WriteString("  ")
		b.paint(dim, bytesize(int(n)))
	}
	if e := r.str("error"); e != "" {
		b.WriteString("  ")
		b.paint(red, e)
	}
}

// renderSubscribed: orderUpdated:ord_77f7 (connection 4f2a1c)  alice
func renderSubscribed(r *record, b *line) {
	b.WriteString(clip(r.str("topic"), 60))
	b.paint(dim, " (connection "+short(r.str("connectionId"), 8)+")")
	if s := r.str("subject"); s != "" {
		b.WriteString("  " + s)
	}
}

// value renders v for a line: lists comma-joined, durations short.
func value(v slog.Value) string {
	switch v.Kind() {
	case slog.KindString:
		// A duration logged as its String ("467.23382ms").
		s := v.String()
		if strings.ContainsAny(s, ".") && strings.HasSuffix(s, "s") {
			if d, err := time.ParseDuration(s); err == nil {
				return millis(float64(d.Microseconds()) / 1000)
			}
		}
		return s
	case slog.KindDuration:
		return millis(float64(v.Duration().Microseconds()) / 1000)
	case slog.KindFloat64:
		return strconv.FormatFloat(v.Float64(), 'f', -1, 64)
	case slog.KindTime:
		return v.Time().Format(time.RFC3339)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case []string:
			return strings.Join(x, ",")
		case error:
			return x.Error()
		case fmt.Stringer:
			return x.String()
		}
	}
	return v.String()
}

// quote quotes s when it would not read as one value.
func quote(s string) string {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '"' || r == '=' }) {
		return strconv.Quote(s)
	}
	return s
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// short is the first n characters of an id.
func short(id string, n int) string {
	if len(id) <= n {
		return id
	}
	return id[:n]
}

func millis(ms float64) string {
	switch {
	case ms < 1:
		return strconv.FormatFloat(ms, 'f', 1, 64) + "ms"
	case ms < 1000:
		return strconv.Itoa(int(math.Round(ms))) + "ms"
	default:
		return strconv.FormatFloat(ms/1000, 'f', 1, 64) + "s"
	}
}

func bytesize(n int) string {
	if n < 1024 {
		return strconv.Itoa(n) + " B"
	}
	return strconv.FormatFloat(float64(n)/1024, 'f', 1, 64) + " kB"
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// ANSI colours.
const (
	reset  = "\x1b[0m"
	dim    = "\x1b[2m"
	red    = "\x1b[31m"
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	blue   = "\x1b[34m"
	purple = "\x1b[35m"
	cyan   = "\x1b[36m"
)

// sourceColor: the framework's events in one colour, the app's functions
// in another, the rest (the runtime's components) in a third.
func sourceColor(event bool, r *record) string {
	switch {
	case event:
		return cyan
	case r.has("function"):
		return purple
	}
	return blue
}

func statusColor(s int) string {
	switch {
	case s >= 500:
		return red
	case s >= 400:
		return yellow
	}
	return green
}

func outcomeColor(o string) string {
	switch o {
	case "ok":
		return green
	case "retry":
		return yellow
	}
	return red
}

func opColor(op string) string {
	switch op {
	case "INSERT":
		return green
	case "REMOVE":
		return red
	}
	return yellow
}

// line builds one line, painting when colour is on.
type line struct {
	strings.Builder
	color bool
}

func (l *line) paint(color, s string) {
	if !l.color || s == "" {
		l.WriteString(s)
		return
	}
	l.WriteString(color)
	l.WriteString(s)
	l.WriteString(reset)
}

func (l *line) Bytes() []byte { return []byte(l.String()) }
