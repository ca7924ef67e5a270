package console_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/threefactor/framework/lib/console"
	"github.com/threefactor/framework/lib/eventlog"
)

// A console over a local event log, served at console.Path: the dev
// runtime does this with the app's log and its dead-letter queues
// (a *dlq.Client as Config.DeadLetters).
func Example() {
	dir, _ := os.MkdirTemp("", "console-example")
	defer os.RemoveAll(dir)
	log, err := eventlog.OpenFileStore(dir, eventlog.FileConfig{Topology: topo})
	if err != nil {
		panic(err)
	}
	defer log.Close()
	c, err := console.New(console.Config{Log: log, Topology: topo})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	mux := http.NewServeMux()
	mux.Handle(console.Path, c)
	srv := httptest.NewServer(mux) // on 127.0.0.1: the console answers loopback only
	defer srv.Close()

	resp, err := http.Get(srv.URL + console.Path + "api/overview")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var o struct {
		App      string
		EventLog bool
	}
	_ = json.NewDecoder(resp.Body).Decode(&o)
	fmt.Println(resp.StatusCode, o.App, o.EventLog)
	// Output: 200 shop true
}
