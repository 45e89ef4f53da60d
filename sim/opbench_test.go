package sim

import (
	"runtime"
	"testing"

	"amq/onnx"
)

// benchSession times runs of model m (one input, name) in a session with
// the given threads. With one thread, which runs on the benchmark's
// goroutine, it also reports that thread's CPU time per run: steadier
// than the wall clock on a machine shared with other work.
func benchSession(b *testing.B, m *onnx.Model, threads int, name string, x *onnx.Tensor) {
	b.Helper()
	ss, err := NewSession(m, &Options{Threads: threads})
	if err != nil {
		b.Fatal(err)
	}
	in := map[string]*onnx.Tensor{name: x}
	if _, err := ss.Run(in); err != nil {
		b.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := threadCPU()
	for b.Loop() {
		if _, err := ss.Run(in); err != nil {
			b.Fatal(err)
		}
	}
	if cpu := threadCPU() - cpu0; threads == 1 && cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "ns/op-cpu")
	}
}
