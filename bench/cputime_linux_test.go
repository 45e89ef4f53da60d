package bench

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"amq/internal/cputime"
	"amq/internal/ort"
	"amq/internal/testfixture"
	"amq/onnx"
	"amq/sim"
)

// threadCPU is the CPU time the calling OS thread has used.
func threadCPU(tb testing.TB) time.Duration {
	d, err := cputime.Thread()
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// BenchmarkResNet18CPUTime compares sim and ONNX Runtime on one thread by
// the CPU time of the thread that runs both, alternating, and reports the
// fastest run of each and their ratio (sim-cpu-ms, ort-cpu-ms, sim/ort).
// With one thread both compute on the caller's thread, so the figures do
// not count the time other processes take from it: on a loaded machine
// they are what BenchmarkResNet18's wall times cannot be.
func BenchmarkResNet18CPUTime(b *testing.B) {
	testfixture.RequireORT(b)
	for _, batch := range []int{1, 8} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			m := ResNet18(batch, seed)
			inputs := map[string]*onnx.Tensor{"input": RandomInput(seed, batch, 3, 224, 224)}
			data, err := m.Marshal()
			if err != nil {
				b.Fatal(err)
			}
			rt, err := ort.NewSessionFromBytes(data, &ort.Options{Threads: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer rt.Close()
			ss, err := sim.NewSession(m, &sim.Options{Threads: 1})
			if err != nil {
				b.Fatal(err)
			}
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			timed := func(run func(map[string]*onnx.Tensor, ...string) (map[string]*onnx.Tensor, error)) time.Duration {
				t0 := threadCPU(b)
				if _, err := run(inputs); err != nil {
					b.Fatal(err)
				}
				return threadCPU(b) - t0
			}
			timed(ss.Run) // prepares the session's weights and buffers
			timed(rt.Run)
			simBest, ortBest := time.Duration(1<<62), time.Duration(1<<62)
			for b.Loop() {
				simBest = min(simBest, timed(ss.Run))
				ortBest = min(ortBest, timed(rt.Run))
			}
			if ortBest < simBest/100 {
				b.Fatalf("ONNX Runtime used %v of this thread's CPU for a run: it did not compute on the calling thread", ortBest)
			}
			b.ReportMetric(simBest.Seconds()*1e3, "sim-cpu-ms")
			b.ReportMetric(ortBest.Seconds()*1e3, "ort-cpu-ms")
			b.ReportMetric(float64(simBest)/float64(ortBest), "sim/ort")
		})
	}
}
