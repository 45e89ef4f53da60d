//go:build linux

package bench

import (
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"amq/internal/cputime"
	"amq/internal/ort"
	"amq/internal/testfixture"
	"amq/onnx"
	"amq/quant"
	"amq/sim"
)

// deployModels quantizes m (input "input", calibrated on the one batch in)
// with amq's defaults and returns its fake-quant and deploy models.
func deployModels(b *testing.B, m *onnx.Model, in *onnx.Tensor) (fake, deploy *onnx.Model) {
	data, err := quant.NewTensorSource(map[string]*onnx.Tensor{"input": in}, in.Shape[0])
	if err != nil {
		b.Fatal(err)
	}
	prefix := filepath.Join(b.TempDir(), "m")
	if _, err := quant.RunFlow(m, &sim.Backend{Threads: runtime.NumCPU()}, data, prefix, quant.QuantizeOptions{BatchNum: 1, NoEval: true}); err != nil {
		b.Fatal(err)
	}
	if fake, err = onnx.LoadFile(prefix + "_fake_quant_model.onnx"); err != nil {
		b.Fatal(err)
	}
	if deploy, err = onnx.LoadFile(prefix + "_deploy_model.onnx"); err != nil {
		b.Fatal(err)
	}
	return fake, deploy
}

// processCPU returns the CPU time the process has used, all threads.
func processCPU(b *testing.B) time.Duration {
	d, err := cputime.Process()
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// timeLoop runs fn in the benchmark loop and reports, besides the wall
// time, the process's CPU time per run (cpu-ms/op), which other processes
// on a loaded machine disturb less.
func timeLoop(b *testing.B, fn func() error) {
	runtime.GC()
	if err := fn(); err != nil { // fills the pools a collection empties
		b.Fatal(err)
	}
	start := processCPU(b)
	for b.Loop() {
		if err := fn(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(processCPU(b)-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

// BenchmarkDeployResNet18 times, in one run, the ResNet-18-shaped model of
// this package (224², batch 1 and 8) against its deploy model: see
// benchDeploy.
func BenchmarkDeployResNet18(b *testing.B) {
	for _, batch := range []int{1, 8} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			benchDeploy(b, ResNet18(batch, seed), RandomInput(seed, batch, 3, 224, 224))
		})
	}
}

// BenchmarkDeployBERTLayer is BenchmarkDeployResNet18 for the BERT-base
// layer of this package (sequence 128, batch 1 and 8), whose quantized
// layers are MatMuls.
func BenchmarkDeployBERTLayer(b *testing.B) {
	const seq = 128
	for _, batch := range []int{1, 8} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			benchDeploy(b, BERTLayer(batch, seq, seed), RandomInput(seed, batch, seq, bertHidden))
		})
	}
}

// benchDeploy times, for each thread count, m as float on sim, its deploy
// model on sim (AscendQuant, int8 layers, AscendDequant: the int8 kernels;
// the log names which), and its fake-quant model on ONNX Runtime, as
// sub-benchmarks float, deploy and ort-fake. Before timing it requires the
// deploy model's output to agree with the fake-quant model's on ONNX
// Runtime (they differ only where a float sum lands on a rounding
// boundary, so the bound is loose).
func benchDeploy(b *testing.B, m *onnx.Model, in *onnx.Tensor) {
	testfixture.RequireORT(b)
	b.Logf("int8 kernel: %s", sim.IGemmKernel())
	fake, deploy := deployModels(b, m, in)
	inputs := map[string]*onnx.Tensor{"input": in}
	fakeData, err := fake.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	for _, threads := range threadCounts() {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			rt, err := ort.NewSessionFromBytes(fakeData, &ort.Options{Threads: threads})
			if err != nil {
				b.Fatal(err)
			}
			defer rt.Close()
			ref, err := rt.Run(inputs)
			if err != nil {
				b.Fatal(err)
			}
			sessions := map[string]*sim.Session{}
			for name, model := range map[string]*onnx.Model{"float": m, "deploy": deploy} {
				if sessions[name], err = sim.NewSession(model, &sim.Options{Threads: threads}); err != nil {
					b.Fatal(err)
				}
			}
			out, err := sessions["deploy"].Run(inputs)
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := testfixture.CompareToReference(out["output"], ref["output"], 0.05); err != nil {
				b.Fatalf("deploy model on sim disagrees with the fake-quant model on ONNX Runtime: %v", err)
			}
			for _, name := range []string{"float", "deploy"} {
				b.Run(name, func(b *testing.B) {
					timeLoop(b, func() error {
						_, err := sessions[name].Run(inputs)
						return err
					})
				})
			}
			b.Run("ort-fake", func(b *testing.B) {
				timeLoop(b, func() error {
					_, err := rt.Run(inputs)
					return err
				})
			})
		})
	}
}
