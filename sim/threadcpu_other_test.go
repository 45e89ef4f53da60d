//go:build !linux

package sim

import "time"

// threadCPU is 0 where the thread's CPU time is not read.
func threadCPU() time.Duration { return 0 }
