package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"amq/onnx"
)

// convReluModel is x -> Conv(W, B initializers) -> Relu -> y, the pattern
// Session fuses, with the Conv output named "conv".
func convReluModel(sp convSpec, autoPad string, w, bias []float32) *onnx.Model {
	conv := node("Conv", sp.attrs(autoPad, false), "x", "W", "B")
	conv.Name, conv.Outputs = "conv", []string{"conv"}
	relu := &onnx.Node{Name: "relu", OpType: "Relu", Inputs: []string{"conv"}, Outputs: []string{"y"}}
	g := &onnx.Graph{
		Nodes: []*onnx.Node{conv, relu},
		Initializers: map[string]*onnx.Tensor{
			"W": onnx.NewTensor(append([]int{sp.m, sp.c / sp.group}, sp.k...), w),
			"B": onnx.NewTensor([]int{sp.m}, bias),
		},
		Inputs:  []*onnx.ValueInfo{{Name: "x", DType: onnx.Float}},
		Outputs: []*onnx.ValueInfo{{Name: "y", DType: onnx.Float}},
	}
	for name, t := range g.Initializers {
		t.Name = name
	}
	return &onnx.Model{Opsets: map[string]int64{"": 13}, Graph: g}
}

// TestConvReluFused runs Conv+Relu sessions (which fuse the pair and keep
// the packed weights between runs) on random shapes and on shapes larger
// than the GEMM's blocks, and compares them with Conv by its definition:
// y must be relu(conv) on every run, and fetching the Conv output must
// return it before the Relu.
func TestConvReluFused(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 8))
	var specs []convSpec
	var pads []string
	for range 40 {
		sp, autoPad := randomConvSpec(r, false)
		specs, pads = append(specs, sp), append(pads, autoPad)
	}
	// Several k blocks (k = 300 and 360 > gemmKC), m not a multiple of any
	// kernel's mr, m above gemmMC, and grouped.
	big := []convSpec{
		{n: 1, c: 300, m: 20, group: 1, in: []int{9, 7}, k: []int{1, 1}, s: []int{1, 1}, d: []int{1, 1}, padB: []int{0, 0}, padE: []int{0, 0}},
		{n: 2, c: 40, m: 130, group: 1, in: []int{12, 11}, k: []int{3, 3}, s: []int{1, 1}, d: []int{1, 1}, padB: []int{1, 1}, padE: []int{1, 1}},
		{n: 1, c: 64, m: 48, group: 2, in: []int{15, 15}, k: []int{3, 3}, s: []int{2, 2}, d: []int{1, 1}, padB: []int{1, 1}, padE: []int{0, 0}},
	}
	for _, sp := range big {
		specs, pads = append(specs, sp), append(pads, "NOTSET")
	}
	for i, sp := range specs {
		x := randFloats(r, sp.n*sp.c*onnx.NumElems(sp.in))
		w := randFloats(r, sp.m*sp.c/sp.group*onnx.NumElems(sp.k))
		bias := randFloats(r, sp.m)
		want, shape := refConv(sp, toF64(x), toF64(w), toF64(bias))
		wantRelu := make([]float64, len(want))
		for j, v := range want {
			wantRelu[j] = math.Max(v, 0)
		}
		m := convReluModel(sp, pads[i], w, bias)
		for _, threads := range []int{1, 2} {
			s, err := NewSession(m, &Options{Threads: threads})
			if err != nil {
				t.Fatalf("case %d: %v", i, err)
			}
			if s.steps[0].fused == nil {
				t.Fatalf("case %d: Conv+Relu was not fused", i)
			}
			in := map[string]*onnx.Tensor{"x": onnx.NewTensor(append([]int{sp.n, sp.c}, sp.in...), x)}
			for run := 0; run < 2; run++ { // the second run reuses the packed weights
				out, err := s.Run(in)
				if err != nil {
					t.Fatalf("case %d: %v", i, err)
				}
				y := out["y"]
				if fmt.Sprint(y.Shape) != fmt.Sprint(shape) {
					t.Fatalf("case %d: shape %v, want %v", i, y.Shape, shape)
				}
				if j := closeTo(y.Floats(), wantRelu, 1e-5, 1e-5); j >= 0 {
					t.Fatalf("case %d %+v threads %d run %d: y[%d] = %g, want %g", i, sp, threads, run, j, y.Floats()[j], wantRelu[j])
				}
				if _, ok := out["conv"]; ok {
					t.Fatalf("case %d: the Conv output was returned without being fetched", i)
				}
			}
			out, err := s.Run(in, "conv")
			if err != nil {
				t.Fatalf("case %d: %v", i, err)
			}
			if j := closeTo(out["conv"].Floats(), want, 1e-5, 1e-5); j >= 0 {
				t.Fatalf("case %d threads %d: fetched conv[%d] = %g, want %g (before Relu)", i, threads, j, out["conv"].Floats()[j], want[j])
			}
			if j := closeTo(out["y"].Floats(), wantRelu, 1e-5, 1e-5); j >= 0 {
				t.Fatalf("case %d threads %d: y[%d] = %g with conv fetched, want %g", i, threads, j, out["y"].Floats()[j], wantRelu[j])
			}
		}
	}
}

// TestReluKeepsNaN checks the fused and the standalone Relu on NaN, -0
// and infinities: NaN stays NaN, -0 becomes +0.
func TestReluKeepsNaN(t *testing.T) {
	t.Parallel()
	in := []float32{float32(math.NaN()), float32(math.Copysign(0, -1)), float32(math.Inf(-1)), float32(math.Inf(1)), -2, 3}
	fused := append([]float32(nil), in...)
	reluInPlace(fused)
	out, err := runOp(t, 13, node("Relu", nil, "x"), nil, onnx.NewTensor([]int{len(in)}, in))
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]float32{"fused": fused, "Relu": out[0].Floats()} {
		if !math.IsNaN(float64(got[0])) {
			t.Errorf("%s: relu(NaN) = %v", name, got[0])
		}
		if got[1] != 0 || math.Signbit(float64(got[1])) {
			t.Errorf("%s: relu(-0) = %v, want +0", name, got[1])
		}
		if got[2] != 0 || !math.IsInf(float64(got[3]), 1) || got[4] != 0 || got[5] != 3 {
			t.Errorf("%s: relu(-Inf, +Inf, -2, 3) = %v", name, got[2:])
		}
	}
}

// TestMatMulAddFused checks the MatMul+bias fusion against a GEMM by its
// definition, with the bias as either Add operand, on a 3-D activation
// (a Linear layer) and on a bias that does not span the rows (a [1]
// vector, which the fused form hands to the Add on its own); and that
// Add+Relu fuses, and fetching the sum returns it before the Relu.
func TestMatMulAddFused(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(9, 10))
	const bs, m, k, n = 2, 5, 37, 19
	x := randFloats(r, bs*m*k)
	w := randFloats(r, k*n)
	want := naiveGemm(bs*m, n, k, 1, x, false, w, false, 0, make([]float32, bs*m*n))
	for _, c := range []struct {
		name     string
		biasLen  int
		biasLast bool
	}{{"bias second", n, true}, {"bias first", n, false}, {"scalar-like bias", 1, true}} {
		t.Run(c.name, func(t *testing.T) {
			bias := randFloats(r, c.biasLen)
			add := &onnx.Node{Name: "add", OpType: "Add", Inputs: []string{"mm", "bias"}, Outputs: []string{"sum"}}
			if !c.biasLast {
				add.Inputs = []string{"bias", "mm"}
			}
			g := &onnx.Graph{
				Nodes: []*onnx.Node{
					{Name: "mm", OpType: "MatMul", Inputs: []string{"x", "W"}, Outputs: []string{"mm"}},
					add,
					{Name: "relu", OpType: "Relu", Inputs: []string{"sum"}, Outputs: []string{"y"}},
				},
				Initializers: map[string]*onnx.Tensor{"W": onnx.NewTensor([]int{k, n}, w), "bias": onnx.NewTensor([]int{c.biasLen}, bias)},
				Inputs:       []*onnx.ValueInfo{{Name: "x", DType: onnx.Float}},
				Outputs:      []*onnx.ValueInfo{{Name: "y", DType: onnx.Float}},
			}
			s, err := NewSession(&onnx.Model{Opsets: map[string]int64{"": 13}, Graph: g}, &Options{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			if s.steps[0].fused == nil || s.steps[1].fused == nil {
				t.Fatalf("MatMul+Add fused %v, Add+Relu fused %v", s.steps[0].fused != nil, s.steps[1].fused != nil)
			}
			sum := make([]float64, len(want))
			relu := make([]float64, len(want))
			for i, v := range want {
				// float32 rounding of the product first, as the unfused
				// graph has it, then the float32 Add.
				sum[i] = float64(float32(v) + bias[(i%n)%c.biasLen])
				relu[i] = math.Max(sum[i], 0)
			}
			in := map[string]*onnx.Tensor{"x": onnx.NewTensor([]int{bs, m, k}, x)}
			out, err := s.Run(in)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(out["y"].Shape) != fmt.Sprint([]int{bs, m, n}) {
				t.Fatalf("shape %v", out["y"].Shape)
			}
			if j := closeTo(out["y"].Floats(), relu, 1e-5, 1e-5); j >= 0 {
				t.Fatalf("y[%d] = %g, want %g", j, out["y"].Floats()[j], relu[j])
			}
			out, err = s.Run(in, "mm", "sum")
			if err != nil {
				t.Fatal(err)
			}
			if j := closeTo(out["mm"].Floats(), want, 1e-5, 1e-5); j >= 0 {
				t.Fatalf("fetched mm[%d] = %g, want %g", j, out["mm"].Floats()[j], want[j])
			}
			if j := closeTo(out["sum"].Floats(), sum, 1e-5, 1e-5); j >= 0 {
				t.Fatalf("fetched sum[%d] = %g, want %g (before the Relu)", j, out["sum"].Floats()[j], sum[j])
			}
			if j := closeTo(out["y"].Floats(), relu, 1e-5, 1e-5); j >= 0 {
				t.Fatalf("y[%d] = %g with mm fetched, want %g", j, out["y"].Floats()[j], relu[j])
			}
		})
	}
}
