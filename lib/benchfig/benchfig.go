// Package benchfig collects the headline figures benchmarks measure and
// prints them once, after the run, as "figure <name> <value> <unit>"
// lines that `make bench` gathers.
package benchfig

import (
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"testing"
)

var (
	mu      sync.Mutex
	figures = map[string]string{}
)

// Record sets a figure; a later call for the same name (a benchmark run
// again with a larger b.N) replaces the earlier value.
func Record(name string, value float64, unit string) {
	mu.Lock()
	defer mu.Unlock()
	figures[name] = fmt.Sprintf("figure %s %.4g %s", name, value, unit)
}

// Print writes the recorded figures, sorted by name.
func Print(w io.Writer) {
	mu.Lock()
	defer mu.Unlock()
	names := make([]string, 0, len(figures))
	for n := range figures {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintln(w, figures[n])
	}
}

// Main runs the tests and benchmarks of a package and then prints its
// figures: os.Exit(benchfig.Main(m)) from TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	Print(os.Stdout)
	return code
}
