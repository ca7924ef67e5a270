//go:build unix

package benchfig

import (
	"syscall"
	"time"
)

// CPUTime is the CPU time the process has used so far, user and system,
// all threads (the garbage collector's included). A benchmark that sets a
// path against its baseline times both with it rather than the wall
// clock: on a shared machine another process's load then stretches
// neither figure.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic("benchfig: getrusage: " + err.Error())
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
