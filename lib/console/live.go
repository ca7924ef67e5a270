package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/threefactor/framework/lib/dlq"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/eventlog"
)

// Live stream limits.
const (
	// subBuffer is how many frames a listener may fall behind before it
	// is dropped (its page reconnects and reloads).
	subBuffer = 256
	// tracked is how many of the latest events the poller re-reads for
	// new deliveries and pushes.
	tracked = 64
	// pollLimit is how many of the latest changes each poll reads;
	// burstLimit how many when all of those were new.
	pollLimit  = 100
	burstLimit = 1000
	// pollLookback bounds how far back a poll looks (the cloud store
	// reads the time index day by day).
	pollLookback = 10 * time.Minute
	// seenCap bounds the ids the poller remembers.
	seenCap = 4096
	// heartbeat keeps idle streams (and proxies) open.
	heartbeat = 15 * time.Second
)

// frame is one Server-Sent Event.
type frame struct {
	event string
	data  []byte
}

type sub struct{ ch chan frame }

// hub runs one poller of the log while any page listens and hands what
// it finds to every listener.
type hub struct {
	c    *Console
	wake chan struct{}

	mu     sync.Mutex
	subs   map[*sub]struct{}
	cancel context.CancelFunc
	done   chan struct{} // of the running poller
	// primed is closed once the running poller has read what is already
	// there (its baseline): what is logged after is sent to listeners.
	primed  chan struct{}
	stopped bool
}

func newHub(c *Console) *hub {
	return &hub{c: c, subs: map[*sub]struct{}{}, wake: make(chan struct{}, 1)}
}

var errStopped = errs.New(errs.Unavailable, "the console is shutting down")

// subscribe adds a listener. The channel it returns is closed once the
// poller has its baseline: a page told "ready" after that and loading
// what is there misses nothing between its load and the live frames.
func (h *hub) subscribe() (*sub, <-chan struct{}, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return nil, nil, errStopped
	}
	s := &sub{ch: make(chan frame, subBuffer)}
	h.subs[s] = struct{}{}
	if h.cancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		h.cancel, h.done, h.primed = cancel, make(chan struct{}), make(chan struct{})
		go h.run(ctx, h.done, h.primed)
	}
	return s, h.primed, nil
}

func (h *hub) unsubscribe(s *sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.ch)
	}
	if len(h.subs) == 0 && h.cancel != nil {
		h.cancel()
		h.cancel = nil
	}
}

func (h *hub) broadcast(f frame) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		select {
		case s.ch <- f:
		default:
			// Too far behind: let it go; its page reconnects and reloads.
			delete(h.subs, s)
			close(s.ch)
		}
	}
}

// poke makes the poller look now (after a redrive or a drop).
func (h *hub) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// stop ends every stream and the poller, and waits for it.
func (h *hub) stop() {
	h.mu.Lock()
	h.stopped = true
	for s := range h.subs {
		delete(h.subs, s)
		close(s.ch)
	}
	done := h.done
	if h.cancel != nil {
		h.cancel()
		h.cancel = nil
	}
	h.mu.Unlock()
	if done != nil {
		<-done
	}
}

// signature tells when an event gained deliveries or pushes: records
// are only ever added.
type signature struct{ deliveries, pushes int }

// poller is the state of one run of the hub.
type poller struct {
	h       *hub
	seen    map[string]bool // event ids told
	started bool
	// track: the latest events, oldest first, re-read for new records.
	track  []string
	sigs   map[string]signature
	depths []dlq.Depth
	// lastErr keeps a failing poll from logging at every tick.
	lastErr string
}

func (h *hub) run(ctx context.Context, done, primed chan struct{}) {
	defer close(done)
	p := &poller{h: h, seen: map[string]bool{}, sigs: map[string]signature{}}
	cfg := h.c.cfg
	// What is there now the page loads itself: it is not news.
	p.pollLog(ctx, false)
	p.pollDeadLetters(ctx, false)
	close(primed)
	logTick := time.NewTicker(cfg.PollInterval)
	defer logTick.Stop()
	dlqTick := time.NewTicker(cfg.DeadLetterPoll)
	defer dlqTick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-logTick.C:
			p.pollLog(ctx, true)
		case <-dlqTick.C:
			p.pollDeadLetters(ctx, true)
		case <-h.wake:
			p.pollLog(ctx, true)
			p.pollDeadLetters(ctx, true)
		}
	}
}

func (p *poller) fail(what string, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	if msg := what + ": " + err.Error(); msg != p.lastErr {
		p.lastErr = msg
		p.h.c.log.Warn("console live view: "+what, "error", err.Error())
	}
}

// pollLog finds the changes logged since the last poll and the new
// deliveries and pushes of the latest events; send says to tell the
// listeners. It asks for the latest changes of the last pollLookback
// rather than for those after the last one seen: a change logged late
// (the log's feed retried it) still shows, as long as it was committed
// within pollLookback and fewer than a poll's worth of changes are newer.
func (p *poller) pollLog(ctx context.Context, send bool) {
	log := p.h.c.cfg.Log
	if log == nil {
		return
	}
	since := p.h.c.cfg.Now().Add(-pollLookback)
	changes, err := log.Recent(ctx, eventlog.RecentQuery{Limit: pollLimit, Since: since})
	if err == nil && len(changes) == pollLimit && p.allNew(changes) && p.started {
		// A burst: catch up on as much as the log gives at once.
		changes, err = log.Recent(ctx, eventlog.RecentQuery{Limit: burstLimit, Since: since})
	}
	if err != nil {
		p.fail("read the latest changes", err)
		return
	}
	p.started = true
	// Recent is newest first; tell them oldest first.
	slices.Reverse(changes)
	fresh := map[string]bool{}
	for i := range changes {
		ch := &changes[i]
		if p.seen[ch.ID] {
			continue
		}
		p.seen[ch.ID] = true
		v, err := p.h.c.eventOf(ctx, ch)
		if err != nil {
			p.fail("read an event", err)
			continue
		}
		fresh[ch.ID] = true
		p.follow(ch.ID, v)
		if send {
			p.send("change", v)
		}
	}
	for _, id := range p.track {
		if fresh[id] {
			continue
		}
		rec, err := log.Event(ctx, id)
		if errors.Is(err, eventlog.ErrNotFound) {
			continue
		}
		if err != nil {
			p.fail("read an event", err)
			continue
		}
		sig := signature{len(rec.Deliveries), len(rec.Pushes)}
		if sig != p.sigs[id] && rec.Change != nil {
			p.sigs[id] = sig
			if send {
				p.send("update", viewOf(rec))
			}
		}
	}
	if len(p.seen) > seenCap {
		// Only what the last poll returned can come back: remember that.
		p.seen = make(map[string]bool, len(changes))
		for i := range changes {
			p.seen[changes[i].ID] = true
		}
	}
}

func (p *poller) allNew(changes []eventlog.Change) bool {
	for i := range changes {
		if p.seen[changes[i].ID] {
			return false
		}
	}
	return true
}

// follow starts tracking an event, dropping the oldest tracked.
func (p *poller) follow(id string, v eventView) {
	p.sigs[id] = signature{len(v.Deliveries), len(v.Pushes)}
	p.track = append(p.track, id)
	if len(p.track) > tracked {
		for _, old := range p.track[:len(p.track)-tracked] {
			delete(p.sigs, old)
		}
		p.track = append([]string(nil), p.track[len(p.track)-tracked:]...)
	}
}

func (p *poller) pollDeadLetters(ctx context.Context, send bool) {
	dl := p.h.c.cfg.DeadLetters
	if dl == nil {
		return
	}
	d, err := dl.Depths(ctx)
	if err != nil {
		p.fail("count the dead letters", err)
		return
	}
	if slices.Equal(d, p.depths) {
		return
	}
	p.depths = d
	if send {
		p.send("dlq", map[string]any{"routes": d})
	}
}

func (p *poller) send(event string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		p.fail("encode", err)
		return
	}
	p.h.broadcast(frame{event: event, data: b})
}

// live is the Server-Sent Events stream: "ready" first (the page then
// loads what is there), then "change" for each change logged, "update"
// when one of the latest events gains deliveries or pushes, and "dlq"
// when the dead-letter counts change.
func (c *Console) live(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	s, primed, err := c.hub.subscribe()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	defer c.hub.unsubscribe(s)
	select {
	case <-primed:
	case <-r.Context().Done():
		return
	case <-c.done:
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	ready, _ := json.Marshal(map[string]any{"now": c.cfg.Now().UTC()})
	_, _ = w.Write([]byte("retry: 1000\n\n"))
	if writeFrame(w, frame{event: "ready", data: ready}) != nil || rc.Flush() != nil {
		return
	}
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.done:
			return
		case f, ok := <-s.ch:
			if !ok {
				return
			}
			if writeFrame(w, f) != nil {
				return
			}
		case <-beat.C:
			if _, err := w.Write([]byte(": ping\n\n")); err != nil {
				return
			}
		}
		if rc.Flush() != nil {
			return
		}
	}
}

func writeFrame(w http.ResponseWriter, f frame) error {
	var b bytes.Buffer
	b.WriteString("event: ")
	b.WriteString(f.event)
	b.WriteByte('\n')
	for _, line := range bytes.Split(f.data, []byte("\n")) {
		b.WriteString("data: ")
		b.Write(line)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}
