package sim

import (
	"syscall"
	"time"
)

// threadCPU is the CPU time the calling OS thread has used. On a machine
// shared with other work it times single-threaded kernels more steadily
// than the wall clock: waiting for a core is not counted.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
