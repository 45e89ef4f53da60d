//go:build unix

package quant

import (
	"syscall"
	"time"
)

// processCPUTime is the user and system CPU time of this process so far,
// every thread included.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
