package bench

import (
	"fmt"
	"math"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"amq/internal/ort"
	"amq/internal/testfixture"
	"amq/onnx"
	"amq/sim"
)

// seed fixes the random weights and inputs so that runs are reproducible.
const seed = 20240601

// tolerance bounds sim's deviation from ONNX Runtime, relative to the
// output's scale, for a run to count as correct.
const tolerance = 1e-3

// threadCounts are the settings benchmarked: one core, and all of them.
func threadCounts() []int {
	if n := runtime.NumCPU(); n > 1 {
		return []int{1, n}
	}
	return []int{1}
}

// sampleHeap collects garbage, then samples the Go heap (live and not yet
// collected objects) every 200µs; the returned function stops and returns
// the largest growth over the starting heap, i.e. what one run needs on top
// of the loaded model (activations and their garbage, plus any one-time
// preparation sim does on a session's first run). It measures the check
// run rather than the timed loop, so sampling does not disturb the timings.
func sampleHeap() (stop func() uint64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	done := make(chan struct{})
	result := make(chan uint64)
	base := read()
	go func() {
		peak := base
		tick := time.NewTicker(200 * time.Microsecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				peak = max(peak, read())
			case <-done:
				result <- max(peak, read()) - base
				return
			}
		}
	}()
	return func() uint64 {
		close(done)
		return <-result
	}
}

// benchModel times m on sim and on ONNX Runtime for each thread count, as
// sub-benchmarks threads=<n>/sim and threads=<n>/ort. Before timing, it
// runs both once and requires sim's output to match ONNX Runtime's, so that
// the timings compare correct runs.
func benchModel(b *testing.B, m *onnx.Model, in *onnx.Tensor) {
	testfixture.RequireORT(b)
	data, err := m.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	flops, err := FLOPs(m, map[string][]int{"input": in.Shape})
	if err != nil {
		b.Fatal(err)
	}
	// rate reports GFLOP/s and, when the per-core peak is known, the
	// fraction of the cores' peak the run reached.
	rate := func(b *testing.B, threads int) {
		gflops := flops * float64(b.N) / b.Elapsed().Seconds() / 1e9
		b.ReportMetric(gflops, "GFLOP/s")
		if p := peakGFLOPS(); p > 0 {
			b.ReportMetric(gflops/(p*float64(threads)), "of-peak")
		}
	}
	inputs := map[string]*onnx.Tensor{"input": in}
	for _, threads := range threadCounts() {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			rt, err := ort.NewSessionFromBytes(data, &ort.Options{Threads: threads})
			if err != nil {
				b.Fatal(err)
			}
			defer rt.Close()
			ref, err := rt.Run(inputs)
			if err != nil {
				b.Fatal(err)
			}
			// A sim failure fails only the sim sub-benchmark, so that ONNX
			// Runtime's time is still reported.
			var maxErr, limit float64
			var peak uint64
			ss, simErr := sim.NewSession(m, &sim.Options{Threads: threads})
			if simErr == nil {
				var out map[string]*onnx.Tensor
				stop := sampleHeap()
				out, simErr = ss.Run(inputs)
				peak = stop()
				if simErr == nil {
					if maxErr, limit, simErr = testfixture.CompareToReference(out["output"], ref["output"], tolerance); simErr != nil {
						simErr = fmt.Errorf("sim disagrees with ONNX Runtime: %w", simErr)
					}
				}
			}
			b.Run("sim", func(b *testing.B) {
				if simErr != nil {
					b.Fatal(simErr)
				}
				b.Logf("sim vs ONNX Runtime: max abs error %.3g (limit %.3g)", maxErr, limit)
				runtime.GC()
				// One run after the collection refills the kernels'
				// scratch pools, which it empties, so that the loop
				// measures the steady state.
				if _, err := ss.Run(inputs); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := ss.Run(inputs); err != nil {
						b.Fatal(err)
					}
				}
				// After the loop: starting it resets reported metrics.
				b.ReportMetric(float64(peak)/(1<<20), "run-heap-MB")
				rate(b, threads)
			})
			b.Run("ort", func(b *testing.B) {
				runtime.GC() // so that collecting sim's garbage is not timed here
				b.ReportAllocs()
				for b.Loop() {
					if _, err := rt.Run(inputs); err != nil {
						b.Fatal(err)
					}
				}
				rate(b, threads)
			})
		})
	}
}

// BenchmarkResNet18 times ResNet-18 (224x224) at batch 1 and 8.
func BenchmarkResNet18(b *testing.B) {
	for _, batch := range []int{1, 8} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			benchModel(b, ResNet18(batch, seed), RandomInput(seed, batch, 3, 224, 224))
		})
	}
}

// BenchmarkBERTLayer times one BERT-base encoder layer at sequence length 128.
func BenchmarkBERTLayer(b *testing.B) {
	const seq = 128
	for _, batch := range []int{1, 8} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			benchModel(b, BERTLayer(batch, seq, seed), RandomInput(seed, batch, seq, bertHidden))
		})
	}
}

// TestBenchmarkModelsRunWithIntendedSizes checks that the benchmark models are valid ONNX with the
// intended sizes: ONNX Runtime loads and runs them, with finite outputs of
// the expected shape, and the parameter counts are those of ResNet-18
// (torchvision's 11,689,512 minus the 2·4,800 BatchNorm parameters plus the
// 4,800 conv biases they fold into) and of a BERT-base layer.
func TestBenchmarkModelsRunWithIntendedSizes(t *testing.T) {
	testfixture.RequireORT(t)
	cases := []struct {
		name   string
		m      *onnx.Model
		in     *onnx.Tensor
		out    []int
		params int
	}{
		{"resnet18", ResNet18(1, seed), RandomInput(seed, 1, 3, 224, 224), []int{1, 1000}, 11689512 - 2*4800 + 4800},
		{"bert", BERTLayer(1, 16, seed), RandomInput(seed, 1, 16, bertHidden), []int{1, 16, bertHidden},
			4*(768*768+768) + 768*3072 + 3072 + 3072*768 + 768 + 4*768},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			params := 0
			for _, init := range c.m.Graph.Initializers {
				if init.DType == onnx.Float && init.Rank() > 0 { // not the scalar constants
					params += init.Len()
				}
			}
			if params != c.params {
				t.Errorf("%d float parameters, want %d", params, c.params)
			}
			s, err := ort.NewSessionFromModel(c.m, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			out, err := s.Run(map[string]*onnx.Tensor{"input": c.in})
			if err != nil {
				t.Fatal(err)
			}
			y := out["output"]
			if fmt.Sprint(y.Shape) != fmt.Sprint(c.out) {
				t.Fatalf("output shape %v, want %v", y.Shape, c.out)
			}
			var sumSq float64
			for _, v := range y.Floats() {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("output has non-finite value %v", v)
				}
				sumSq += float64(v) * float64(v)
			}
			// A broken graph (e.g. all-zero activations) would give a
			// degenerate output; random weights give a spread one.
			if rms := math.Sqrt(sumSq / float64(y.Len())); rms < 1e-3 || rms > 1e3 {
				t.Errorf("output RMS %.3g is degenerate", rms)
			}
		})
	}
}

// TestFLOPsCountsMultiplyAdds checks the FLOP count behind the benchmarks'
// GFLOP/s against independent figures: torchvision's table gives
// ResNet-18 1.81 GFLOPS (multiply-adds) per 224x224 image, and a BERT-base
// layer at sequence s does 4·768² + 2·768·3072 multiply-adds per token
// plus 2·s·768 per token in attention.
func TestFLOPsCountsMultiplyAdds(t *testing.T) {
	r, err := FLOPs(ResNet18(2, seed), map[string][]int{"input": {2, 3, 224, 224}})
	if err != nil {
		t.Fatal(err)
	}
	if macs := r / 2 / 2; math.Abs(macs-1.81e9) > 0.01e9 {
		t.Errorf("ResNet-18: %.4g multiply-adds per image, want 1.81e9", macs)
	}
	const seq = 128
	bert, err := FLOPs(BERTLayer(1, seq, seed), map[string][]int{"input": {1, seq, bertHidden}})
	if err != nil {
		t.Fatal(err)
	}
	want := float64(seq) * (4*768*768 + 2*768*3072 + 2*seq*768)
	if bert/2 != want {
		t.Errorf("BERT layer: %.6g multiply-adds, want %.6g", bert/2, want)
	}
}
