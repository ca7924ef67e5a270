package devruntime

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// frontDoor is the local stand-in for the HTTP API and the WebSocket API:
// one listener, routes registered at any time.
type frontDoor struct {
	rt  *Runtime
	mu  sync.Mutex
	eps map[string]*endpoint
	mux atomic.Pointer[http.ServeMux]
}

type endpoint struct {
	pattern string
	http    http.Handler
	ws      http.Handler
}

func newFrontDoor(rt *Runtime) *frontDoor {
	f := &frontDoor{rt: rt, eps: map[string]*endpoint{}}
	f.rebuild()
	return f
}

func (f *frontDoor) handle(pattern string, h http.Handler, ws bool) {
	if h == nil {
		panic("devruntime: nil handler for " + pattern)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ep := f.eps[pattern]
	if ep == nil {
		ep = &endpoint{pattern: pattern}
		f.eps[pattern] = ep
	}
	if ws {
		ep.ws = h
	} else {
		ep.http = h
	}
	f.rebuild()
}

// rebuild swaps in a new mux (copy on write): a ServeMux cannot drop or
// replace a pattern, and requests in flight keep the one they started with.
func (f *frontDoor) rebuild() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", f.healthz)
	for p, ep := range f.eps {
		mux.Handle(p, ep)
	}
	f.mux.Store(mux)
}

func (f *frontDoor) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	f.mux.Load().ServeHTTP(w, req)
}

func (f *frontDoor) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	select {
	case <-f.rt.ready:
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, `{"status":"ok"}`)
	default:
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"status":"starting"}`)
	}
}

func (ep *endpoint) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	switch {
	case ep.ws != nil && isWebSocketUpgrade(req):
		ep.ws.ServeHTTP(w, req)
	case ep.http != nil:
		ep.http.ServeHTTP(w, req)
	default:
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "this endpoint speaks WebSocket only", http.StatusUpgradeRequired)
	}
}

func isWebSocketUpgrade(req *http.Request) bool {
	return headerHas(req.Header, "Connection", "upgrade") && headerHas(req.Header, "Upgrade", "websocket")
}

func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, part := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

func (f *frontDoor) describe(base string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for p, ep := range f.eps {
		method, path := "", p
		if i := strings.IndexByte(p, ' '); i >= 0 {
			method, path = " ("+p[:i]+")", strings.TrimSpace(p[i+1:])
		}
		if ep.http != nil {
			out = append(out, fmt.Sprintf("%-10s %s%s%s", "HTTP", base, path, method))
		}
		if ep.ws != nil {
			out = append(out, fmt.Sprintf("%-10s ws%s%s", "WebSocket", strings.TrimPrefix(base, "http"), path))
		}
	}
	sort.Strings(out)
	return out
}
