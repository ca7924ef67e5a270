package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/threefactor/framework/lib/dlq"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/topology"
)

// Path is where the dev runtime serves the console.
const Path = "/console/"

// eventLog is the part of the event log the console reads.
type eventLog interface {
	Event(ctx context.Context, id string) (eventlog.EventRecord, error)
	ItemHistory(ctx context.Context, item eventlog.ItemKey) ([]eventlog.Change, error)
	Trace(ctx context.Context, correlationID string) ([]eventlog.TraceEntry, error)
	Recent(ctx context.Context, q eventlog.RecentQuery) ([]eventlog.Change, error)
}

// deadLetters is the part of a dlq.Client the console uses.
type deadLetters interface {
	Routes() []dlq.Route
	Depths(ctx context.Context) ([]dlq.Depth, error)
	List(ctx context.Context, route string, limit int) ([]dlq.Message, error)
	Redrive(ctx context.Context, route string, sel dlq.Selection) (dlq.Result, error)
	Drop(ctx context.Context, route string, sel dlq.Selection) (dlq.Result, error)
}

// Config configures a Console.
type Config struct {
	// Log is the event log it shows; nil when the app's log is disabled
	// (the console then shows the dead letters only).
	Log eventLog
	// DeadLetters works on the routes' dead-letter queues (a
	// *dlq.Client); nil leaves them out.
	DeadLetters deadLetters
	// Topology is the app's declaration: its name and tables, to read
	// item keys.
	Topology topology.Topology
	// PollInterval is how often the live view looks at the log while a
	// page listens. Default 500ms.
	PollInterval time.Duration
	// DeadLetterPoll is how often it counts the dead letters. Default 2s.
	DeadLetterPoll time.Duration
	// Logger is for the poller's failures. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var list []error
	if c.Log == nil && c.DeadLetters == nil {
		list = append(list, errors.New("console: neither an event log nor dead-letter queues to show"))
	}
	if c.PollInterval < 0 || c.DeadLetterPoll < 0 {
		list = append(list, errors.New("console: negative poll interval"))
	}
	return errors.Join(list...)
}

//go:embed static
var static embed.FS

// Console serves the console page, its JSON API and its live stream.
type Console struct {
	cfg   Config
	log   *slog.Logger
	mux   *http.ServeMux
	files fs.FS
	hub   *hub

	closeOnce sync.Once
	done      chan struct{}
}

// New checks cfg and builds a Console. Close it when the server stops:
// live streams end then.
func New(cfg Config) (*Console, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 500 * time.Millisecond
	}
	if cfg.DeadLetterPoll == 0 {
		cfg.DeadLetterPoll = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	files, err := fs.Sub(static, "static")
	if err != nil {
		return nil, err
	}
	c := &Console{cfg: cfg, log: cfg.Logger.With("component", "console"), files: files, done: make(chan struct{})}
	c.hub = newHub(c)
	mux := http.NewServeMux()
	p := strings.TrimSuffix(Path, "/")
	mux.HandleFunc("GET "+Path+"{$}", c.page)
	mux.Handle("GET "+Path+"static/", http.StripPrefix(Path+"static/", http.HandlerFunc(c.staticFile)))
	mux.HandleFunc("GET "+p+"/api/overview", c.overview)
	mux.HandleFunc("GET "+p+"/api/recent", c.needLog(c.recent))
	mux.HandleFunc("GET "+p+"/api/events/{id}", c.needLog(c.event))
	mux.HandleFunc("GET "+p+"/api/trace/{id}", c.needLog(c.trace))
	mux.HandleFunc("GET "+p+"/api/items/{key...}", c.needLog(c.item))
	mux.HandleFunc("GET "+p+"/api/dlq", c.dlqDepths)
	mux.HandleFunc("GET "+p+"/api/dlq/{route}", c.dlqList)
	mux.HandleFunc("POST "+p+"/api/dlq/{route}/redrive", c.dlqAct(deadLetters.Redrive))
	mux.HandleFunc("POST "+p+"/api/dlq/{route}/drop", c.dlqAct(deadLetters.Drop))
	mux.HandleFunc("GET "+p+"/api/live", c.live)
	c.mux = mux
	return c, nil
}

// Close ends the live streams and stops the poller.
func (c *Console) Close() {
	c.closeOnce.Do(func() {
		close(c.done)
		c.hub.stop()
	})
}

// ServeHTTP answers loopback clients that name a loopback host, and
// refuses cross-origin requests to the endpoints that change anything.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if !loopbackClient(r.RemoteAddr) {
		writeError(w, http.StatusForbidden, errs.New(errs.Forbidden, "the console answers local clients only"))
		return
	}
	if !loopbackHost(r.Host) {
		// A page of another site whose name now resolves to this machine
		// (DNS rebinding) names its own host.
		writeError(w, http.StatusForbidden, errs.Newf(errs.Forbidden, "the console answers for localhost only, not host %q", r.Host))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if err := sameOrigin(r); err != nil {
			writeError(w, http.StatusForbidden, err)
			return
		}
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, errs.New(errs.UnsupportedMediaType, "send application/json"))
			return
		}
	}
	c.mux.ServeHTTP(w, r)
}

// sameOrigin refuses a browser request from another origin: one whose
// Sec-Fetch-Site is not same-origin, or whose Origin is not the console's
// own (scheme, host and port). Requests with neither header come from no
// browser (curl, scripts), which a web page cannot make.
func sameOrigin(r *http.Request) error {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" {
		return errs.Newf(errs.Forbidden, "cross-origin request refused (Sec-Fetch-Site %s)", s)
	}
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
		return errs.Newf(errs.Forbidden, "cross-origin request refused (Origin %s)", o)
	}
	return nil
}

func loopbackClient(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true // RFC 6761: always loopback
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// csp keeps the page to its own scripts and styles: whatever an item's
// data holds is text, never code.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (c *Console) page(w http.ResponseWriter, r *http.Request) {
	b, err := fs.ReadFile(c.files, "index.html")
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Security-Policy", csp)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b)
}

func (c *Console) staticFile(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", csp)
	http.FileServerFS(c.files).ServeHTTP(w, r)
}

// needLog answers for h that there is no log when the app has none.
func (c *Console) needLog(h http.HandlerFunc) http.HandlerFunc {
	if c.cfg.Log != nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, errs.New(errs.FailedPrecondition, "the app's event log is disabled (app.App.DisableEventLog)"))
	}
}

// eventView is an event as the page gets it.
type eventView struct {
	Change     *eventlog.Change    `json:"change"`
	Deliveries []eventlog.Delivery `json:"deliveries"`
	Pushes     []eventlog.Push     `json:"pushes"`
}

func viewOf(rec eventlog.EventRecord) eventView {
	v := eventView{Change: rec.Change, Deliveries: rec.Deliveries, Pushes: rec.Pushes}
	if v.Deliveries == nil {
		v.Deliveries = []eventlog.Delivery{}
	}
	if v.Pushes == nil {
		v.Pushes = []eventlog.Push{}
	}
	return v
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	var routes []dlq.Route
	if c.cfg.DeadLetters != nil {
		routes = c.cfg.DeadLetters.Routes()
	}
	var tables []string
	for _, t := range c.cfg.Topology.Tables {
		tables = append(tables, t.Name)
	}
	writeJSON(w, map[string]any{
		"app": c.cfg.Topology.App, "tables": tables, "routes": routes,
		"deadLetters": c.cfg.DeadLetters != nil, "eventLog": c.cfg.Log != nil, "now": c.cfg.Now().UTC(),
	})
}

// recent is the latest changes, newest first, each with its deliveries
// and pushes.
func (c *Console) recent(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit", 100, 500)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	q := eventlog.RecentQuery{Limit: limit}
	if s := r.URL.Query().Get("since"); s != "" {
		if q.Since, err = time.Parse(time.RFC3339Nano, s); err != nil {
			writeError(w, http.StatusBadRequest, errs.Newf(errs.BadUserInput, "since %q: want an RFC 3339 time", s))
			return
		}
	}
	changes, err := c.cfg.Log.Recent(r.Context(), q)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	out := make([]eventView, 0, len(changes))
	for i := range changes {
		v, err := c.eventOf(r.Context(), &changes[i])
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		out = append(out, v)
	}
	writeJSON(w, map[string]any{"events": out})
}

// eventOf is a change with its deliveries and pushes.
func (c *Console) eventOf(ctx context.Context, ch *eventlog.Change) (eventView, error) {
	rec, err := c.cfg.Log.Event(ctx, ch.ID)
	if errors.Is(err, eventlog.ErrNotFound) {
		rec, err = eventlog.EventRecord{}, nil
	}
	if err != nil {
		return eventView{}, err
	}
	if rec.Change == nil {
		rec.Change = ch
	}
	return viewOf(rec), nil
}

func (c *Console) event(w http.ResponseWriter, r *http.Request) {
	rec, err := c.cfg.Log.Event(r.Context(), r.PathValue("id"))
	if errors.Is(err, eventlog.ErrNotFound) {
		writeError(w, http.StatusNotFound, err)
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, viewOf(rec))
}

// traceView is one step of a trace as the page gets it.
type traceView struct {
	At       time.Time          `json:"at"`
	Kind     string             `json:"kind"`
	Change   *eventlog.Change   `json:"change,omitempty"`
	Delivery *eventlog.Delivery `json:"delivery,omitempty"`
	Push     *eventlog.Push     `json:"push,omitempty"`
}

func (c *Console) trace(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	entries, err := c.cfg.Log.Trace(r.Context(), id)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	out := make([]traceView, len(entries))
	for i, e := range entries {
		out[i] = traceView{At: e.At, Kind: e.Kind(), Change: e.Change, Delivery: e.Delivery, Push: e.Push}
	}
	writeJSON(w, map[string]any{"correlationId": id, "entries": out})
}

func (c *Console) item(w http.ResponseWriter, r *http.Request) {
	key, err := eventlog.ParseItemKey(c.cfg.Topology, r.PathValue("key"))
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	changes, err := c.cfg.Log.ItemHistory(r.Context(), key)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	if changes == nil {
		changes = []eventlog.Change{}
	}
	writeJSON(w, map[string]any{"item": key.String(), "changes": changes})
}

func (c *Console) dlqDepths(w http.ResponseWriter, r *http.Request) {
	if c.cfg.DeadLetters == nil {
		writeJSON(w, map[string]any{"routes": []any{}})
		return
	}
	d, err := c.cfg.DeadLetters.Depths(r.Context())
	if err != nil {
		writeError(w, http.StatusBadGateway, err)
		return
	}
	writeJSON(w, map[string]any{"routes": d})
}

func (c *Console) dlqList(w http.ResponseWriter, r *http.Request) {
	if c.cfg.DeadLetters == nil {
		writeError(w, http.StatusNotFound, errs.New(errs.NotFound, "the console has no dead-letter queues"))
		return
	}
	limit, err := intParam(r, "limit", dlq.DefaultListLimit, dlq.MaxListLimit)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	msgs, err := c.cfg.DeadLetters.List(r.Context(), r.PathValue("route"), limit)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	if msgs == nil {
		msgs = []dlq.Message{}
	}
	writeJSON(w, map[string]any{"route": r.PathValue("route"), "messages": msgs})
}

// dlqAct redrives or drops: the body says {"all": true} or {"ids": [...]}.
func (c *Console) dlqAct(act func(deadLetters, context.Context, string, dlq.Selection) (dlq.Result, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c.cfg.DeadLetters == nil {
			writeError(w, http.StatusNotFound, errs.New(errs.NotFound, "the console has no dead-letter queues"))
			return
		}
		var body struct {
			All bool     `json:"all"`
			IDs []string `json:"ids"`
		}
		dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			writeError(w, http.StatusBadRequest, errs.Newf(errs.BadUserInput, "body: want {\"all\": true} or {\"ids\": [...]}: %v", err))
			return
		}
		res, err := act(c.cfg.DeadLetters, r.Context(), r.PathValue("route"), dlq.Selection{All: body.All, IDs: body.IDs})
		if err != nil && !errors.Is(err, dlq.ErrMissing) {
			writeError(w, statusOf(err), err)
			return
		}
		out := map[string]any{"result": res}
		if err != nil {
			out["error"] = err.Error()
		}
		c.hub.poke()
		writeJSON(w, out)
	}
}

func intParam(r *http.Request, name string, def, max int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, errs.Newf(errs.BadUserInput, "%s %q: want 1 to %d", name, s, max)
	}
	return n, nil
}

func statusOf(err error) int {
	switch errs.CodeOf(err) {
	case errs.BadUserInput:
		return http.StatusBadRequest
	case errs.NotFound:
		return http.StatusNotFound
	case errs.Forbidden:
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	if err := enc.Encode(v); err != nil {
		// Headers are gone: nothing more to tell the client.
		return
	}
}

// writeError answers with the error's code and whole text: the console
// is its developer's, on their machine, and the detail is what helps.
func writeError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": string(errs.CodeOf(err)), "message": err.Error()}})
}
