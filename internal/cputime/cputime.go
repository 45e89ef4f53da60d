// Package cputime reads the CPU time a thread or the whole process has
// used. Benchmarks report it beside wall time because, on a machine shared
// with other work, time spent waiting for a core is not counted in it.
package cputime

import "time"

// Thread returns the CPU time (user and system) the calling OS thread has
// used. The caller pins its goroutine with runtime.LockOSThread for the
// difference of two readings to mean anything.
func Thread() (time.Duration, error) { return read(rusageThread) }

// Process returns the CPU time (user and system) all threads of the
// process have used.
func Process() (time.Duration, error) { return read(rusageSelf) }
