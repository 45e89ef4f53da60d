package bench

import (
	"fmt"
	"math"
	"testing"

	"amq/internal/ort"
	"amq/internal/testfixture"
	"amq/onnx"
	"amq/sim"
)

// resNet18Op is one operator of ResNet-18 alone: the stem MaxPool (3x3,
// stride 2, pad 1 on 64x112x112) or the fc Gemm ([batch, 512] by a
// constant [1000, 512] with transB = 1, plus a bias).
func resNet18Op(op string, batch int) (*onnx.Model, *onnx.Tensor) {
	b := newBuilder("resnet18-"+op, seed)
	if op == "maxpool" {
		b.node("/maxpool/MaxPool", "MaxPool", map[string]any{
			"kernel_shape": []int64{3, 3}, "strides": []int64{2, 2}, "pads": []int64{1, 1, 1, 1},
		}, "input")
		b.g.Nodes[0].Outputs[0] = "output"
		return b.model(13, "input", []int{batch, 64, 112, 112}, "output", []int{batch, 64, 56, 56}), RandomInput(seed, batch, 64, 112, 112)
	}
	w := b.normal("fc.weight", 1/math.Sqrt(512), 1000, 512)
	bias := b.normal("fc.bias", 0.01, 1000)
	b.node("/fc/Gemm", "Gemm", map[string]any{"alpha": float32(1), "beta": float32(1), "transB": int64(1)}, "input", w, bias)
	b.g.Nodes[0].Outputs[0] = "output"
	return b.model(13, "input", []int{batch, 512}, "output", []int{batch, 1000}), RandomInput(seed, batch, 512)
}

// BenchmarkResNet18Ops times ResNet-18's stem MaxPool and fc Gemm alone on
// sim and on ONNX Runtime, at batch 1 and 8 and each thread count, as
// sub-benchmarks <op>/batch=<n>/threads=<n>/{sim,ort}, after checking
// that sim's output matches ONNX Runtime's (MaxPool's bit for bit).
func BenchmarkResNet18Ops(b *testing.B) {
	testfixture.RequireORT(b)
	for _, op := range []string{"maxpool", "fc"} {
		for _, batch := range []int{1, 8} {
			m, in := resNet18Op(op, batch)
			data, err := m.Marshal()
			if err != nil {
				b.Fatal(err)
			}
			inputs := map[string]*onnx.Tensor{"input": in}
			for _, threads := range threadCounts() {
				b.Run(fmt.Sprintf("%s/batch=%d/threads=%d", op, batch, threads), func(b *testing.B) {
					rt, err := ort.NewSessionFromBytes(data, &ort.Options{Threads: threads})
					if err != nil {
						b.Fatal(err)
					}
					defer rt.Close()
					ss, err := sim.NewSession(m, &sim.Options{Threads: threads})
					if err != nil {
						b.Fatal(err)
					}
					ref, err := rt.Run(inputs)
					if err != nil {
						b.Fatal(err)
					}
					out, err := ss.Run(inputs)
					if err != nil {
						b.Fatal(err)
					}
					tol := tolerance
					if op == "maxpool" {
						tol = 0
					}
					if _, _, err := testfixture.CompareToReference(out["output"], ref["output"], tol); err != nil {
						b.Fatalf("sim disagrees with ONNX Runtime: %v", err)
					}
					for _, r := range []struct {
						name string
						run  func(map[string]*onnx.Tensor, ...string) (map[string]*onnx.Tensor, error)
					}{{"sim", ss.Run}, {"ort", rt.Run}} {
						b.Run(r.name, func(b *testing.B) {
							for b.Loop() {
								if _, err := r.run(inputs); err != nil {
									b.Fatal(err)
								}
							}
						})
					}
				})
			}
		}
	}
}
