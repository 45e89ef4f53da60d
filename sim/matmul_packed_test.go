package sim

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"amq/onnx"
)

// linearModel is y = x·W (+ bias), with W and the bias initializers when
// constant, else graph inputs (which MatMul neither packs nor fuses).
func linearModel(k, n int, withBias, constant bool, w, bias []float32) *onnx.Model {
	g := &onnx.Graph{
		Nodes:        []*onnx.Node{{Name: "mm", OpType: "MatMul", Inputs: []string{"x", "W"}, Outputs: []string{"p"}}},
		Initializers: map[string]*onnx.Tensor{},
		Inputs:       []*onnx.ValueInfo{{Name: "x", DType: onnx.Float}},
		Outputs:      []*onnx.ValueInfo{{Name: "y", DType: onnx.Float}},
	}
	if withBias {
		g.Nodes = append(g.Nodes, &onnx.Node{Name: "add", OpType: "Add", Inputs: []string{"p", "bias"}, Outputs: []string{"y"}})
	} else {
		g.Nodes[0].Outputs[0] = "y"
	}
	consts := map[string]*onnx.Tensor{"W": onnx.NewTensor([]int{k, n}, w), "bias": onnx.NewTensor([]int{n}, bias)}
	for name, t := range consts {
		if name == "bias" && !withBias {
			continue
		}
		if constant {
			t.Name = name
			g.Initializers[name] = t
		} else {
			g.Inputs = append(g.Inputs, &onnx.ValueInfo{Name: name, DType: onnx.Float})
		}
	}
	return &onnx.Model{Opsets: map[string]int64{"": 13}, Graph: g}
}

// TestMatMulPackedWeightsSameBits: a MatMul whose weight is a constant
// packs it once and gives the bits of the MatMul that reads it as an
// input, with and without a fused bias, on shapes around the kernels'
// tiles and blocks (k above gemmKC, m above gemmMC and directB, n not a
// multiple of nr), with one and two threads, on several runs.
func TestMatMulPackedWeightsSameBits(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(16, 16))
	for _, sh := range [][4]int{{1, 1, 1, 1}, {1, 7, 5, 3}, {2, 64, 96, 40}, {1, 130, 300, 77}, {3, 50, 260, 33}, {1, 250, 64, 700}, {2, 9, 0, 5}} {
		batch, m, k, n := sh[0], sh[1], sh[2], sh[3]
		x, w, bias := randFloats(r, batch*m*k), randFloats(r, k*n), randFloats(r, n)
		for _, withBias := range []bool{false, true} {
			for _, threads := range []int{1, 2} {
				name := fmt.Sprintf("%v bias %v threads %d", sh, withBias, threads)
				packed, err := NewSession(linearModel(k, n, withBias, true, w, bias), &Options{Threads: threads})
				if err != nil {
					t.Fatal(err)
				}
				plain, err := NewSession(linearModel(k, n, withBias, false, w, bias), &Options{Threads: threads})
				if err != nil {
					t.Fatal(err)
				}
				in := map[string]*onnx.Tensor{"x": onnx.NewTensor([]int{batch, m, k}, x)}
				plainIn := map[string]*onnx.Tensor{"x": in["x"], "W": onnx.NewTensor([]int{k, n}, w)}
				if withBias {
					plainIn["bias"] = onnx.NewTensor([]int{n}, bias)
				}
				want, err := plain.Run(plainIn)
				if err != nil {
					t.Fatal(err)
				}
				for run := range 2 {
					got, err := packed.Run(in)
					if err != nil {
						t.Fatal(err)
					}
					g, wv := got["y"].Data.([]float32), want["y"].Data.([]float32)
					if len(g) != len(wv) {
						t.Fatalf("%s: %d values, want %d", name, len(g), len(wv))
					}
					if i := sameBits(g, wv); i >= 0 {
						t.Fatalf("%s run %d: element %d is %v, the unpacked MatMul gives %v", name, run, i, g[i], wv[i])
					}
				}
			}
		}
	}
}
