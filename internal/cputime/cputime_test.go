package cputime

import (
	"runtime"
	"testing"
)

// TestThreadCountsOnlyWorkOnIt spins the calling thread and checks that its
// CPU time and the process's grow by at least some of the work, and that
// the thread's reading never exceeds the process's.
func TestThreadCountsOnlyWorkOnIt(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("CPU time is read on Linux only")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0, err := Thread()
	if err != nil {
		t.Fatal(err)
	}
	p0, err := Process()
	if err != nil {
		t.Fatal(err)
	}
	x := uint64(1)
	for i := 0; i < 100_000_000; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	t1, _ := Thread()
	p1, _ := Process()
	if t1-t0 <= 0 || p1-p0 < t1-t0 {
		t.Errorf("thread %v, process %v after a busy loop (x=%d): want thread > 0 and process ≥ thread", t1-t0, p1-p0, x)
	}
	if t1 > p1 {
		t.Errorf("thread total %v exceeds the process's %v", t1, p1)
	}
}
