//go:build !unix

package benchfig

import "time"

var processStart = time.Now()

// CPUTime is, where the process's CPU time cannot be read, the wall time
// since the process started.
func CPUTime() time.Duration { return time.Since(processStart) }
