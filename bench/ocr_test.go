package bench

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"amq/internal/ort"
	"amq/internal/testfixture"
	"amq/onnx"
	"amq/sim"
)

// BenchmarkOCRRecognizer times PaddleOCR's PP-OCRv4 recognizer (the model
// of BenchmarkFlow's ppocr-rec case, batch 8 of 3x48x320 text lines) on sim
// and on ONNX Runtime at 1 and 2 threads, alternating the two within one
// loop, and reports the fastest run of each by wall time (sim-ms, ort-ms)
// and by the process's CPU time (sim-cpu-ms, ort-cpu-ms), with their
// ratios. CPU time does not count the time other processes take from this
// one, so it is the steadier figure on a loaded machine.
func BenchmarkOCRRecognizer(b *testing.B) {
	testfixture.RequireORT(b)
	path := filepath.Join(ocrModels(), "ch_PP-OCRv4_rec_infer.onnx")
	if _, err := os.Stat(path); err != nil {
		b.Skipf("%v: run scripts/fetch-ocr-models.sh", err)
	}
	m, err := onnx.LoadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	// With -cpuprofile, sim labels samples by operator for pprof -tags.
	if f := flag.Lookup("test.cpuprofile"); f != nil && f.Value.String() != "" {
		sim.LabelProfiles(true)
		defer sim.LabelProfiles(false)
	}
	const batch = 8
	inputs := map[string]*onnx.Tensor{m.Graph.Inputs[0].Name: RandomInput(seed, batch, 3, 48, 320)}
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			rt, err := ort.NewSession(path, &ort.Options{Threads: threads})
			if err != nil {
				b.Fatal(err)
			}
			defer rt.Close()
			ss, err := sim.NewSession(m, &sim.Options{Threads: threads})
			if err != nil {
				b.Fatal(err)
			}
			type run func(map[string]*onnx.Tensor, ...string) (map[string]*onnx.Tensor, error)
			timed := func(r run) (wall, cpu time.Duration) {
				t0, c0 := time.Now(), processCPU(b)
				if _, err := r(inputs); err != nil {
					b.Fatal(err)
				}
				return time.Since(t0), processCPU(b) - c0
			}
			timed(ss.Run) // prepares the session's weights and buffers
			timed(rt.Run)
			runtime.GC()
			const never = time.Duration(1 << 62)
			simWall, simCPU, ortWall, ortCPU := never, never, never, never
			for b.Loop() {
				w, c := timed(ss.Run)
				simWall, simCPU = min(simWall, w), min(simCPU, c)
				w, c = timed(rt.Run)
				ortWall, ortCPU = min(ortWall, w), min(ortCPU, c)
			}
			ms := func(d time.Duration) float64 { return d.Seconds() * 1e3 }
			b.ReportMetric(ms(simWall), "sim-ms")
			b.ReportMetric(ms(ortWall), "ort-ms")
			b.ReportMetric(ms(simCPU), "sim-cpu-ms")
			b.ReportMetric(ms(ortCPU), "ort-cpu-ms")
			b.ReportMetric(float64(simWall)/float64(ortWall), "sim/ort")
			b.ReportMetric(float64(simCPU)/float64(ortCPU), "sim/ort-cpu")
		})
	}
}
