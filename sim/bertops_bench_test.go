package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"amq/onnx"
)

// bertOpModels are the non-GEMM nodes of a BERT-base encoder layer at
// batch b, sequence 128, each alone in a model with its input x:
// LayerNormalization over 768, GELU as torch.onnx decomposes it over
// 3072, Softmax over 12x128x128 and the attention's two Transposes.
func bertOpModels(b int) map[string]struct {
	m     *onnx.Model
	shape []int
} {
	nd := func(op string, attrs map[string]any, out string, in ...string) *onnx.Node {
		n := &onnx.Node{Name: out, OpType: op, Inputs: in, Outputs: []string{out}}
		for k, v := range attrs {
			n.SetAttr(k, v)
		}
		return n
	}
	model := func(inits map[string]*onnx.Tensor, nodes ...*onnx.Node) *onnx.Model {
		for name, t := range inits {
			t.Name = name
		}
		g := &onnx.Graph{Nodes: nodes, Initializers: inits,
			Inputs:  []*onnx.ValueInfo{{Name: "x", DType: onnx.Float}},
			Outputs: []*onnx.ValueInfo{{Name: "y", DType: onnx.Float}}}
		g.Reindex()
		return &onnx.Model{Opsets: map[string]int64{"": 17}, Graph: g}
	}
	r := rand.New(rand.NewPCG(3, 4))
	vec := func(n int) *onnx.Tensor {
		d := make([]float32, n)
		for i := range d {
			d[i] = float32(r.NormFloat64())
		}
		return onnx.NewTensor([]int{n}, d)
	}
	scalar := func(v float32) *onnx.Tensor { return onnx.NewTensor(nil, []float32{v}) }
	type entry = struct {
		m     *onnx.Model
		shape []int
	}
	return map[string]entry{
		"LayerNorm": {model(map[string]*onnx.Tensor{"s": vec(768), "bias": vec(768)},
			nd("LayerNormalization", map[string]any{"axis": int64(-1), "epsilon": float32(1e-12)}, "y", "x", "s", "bias")),
			[]int{b, 128, 768}},
		"GELU": {model(map[string]*onnx.Tensor{"sqrt2": scalar(float32(math.Sqrt2)), "one": scalar(1), "half": scalar(0.5)},
			nd("Div", nil, "t0", "x", "sqrt2"), nd("Erf", nil, "t1", "t0"), nd("Add", nil, "t2", "t1", "one"),
			nd("Mul", nil, "t3", "x", "t2"), nd("Mul", nil, "y", "t3", "half")),
			[]int{b, 128, 3072}},
		"Softmax":       {model(nil, nd("Softmax", map[string]any{"axis": int64(-1)}, "y", "x")), []int{b, 12, 128, 128}},
		"Transpose0213": {model(nil, nd("Transpose", map[string]any{"perm": []int64{0, 2, 1, 3}}, "y", "x")), []int{b, 128, 12, 64}},
		"Transpose0231": {model(nil, nd("Transpose", map[string]any{"perm": []int64{0, 2, 3, 1}}, "y", "x")), []int{b, 128, 12, 64}},
	}
}

// BenchmarkBERTOps times each non-GEMM node of a BERT encoder layer in a
// session of its own.
func BenchmarkBERTOps(b *testing.B) {
	for _, batch := range []int{1, 8} {
		ms := bertOpModels(batch)
		for _, name := range []string{"LayerNorm", "GELU", "Softmax", "Transpose0213", "Transpose0231"} {
			e := ms[name]
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/batch=%d/threads=%d", name, batch, threads), func(b *testing.B) {
					s, err := NewSession(e.m, &Options{Threads: threads})
					if err != nil {
						b.Fatal(err)
					}
					r := rand.New(rand.NewPCG(5, 6))
					d := make([]float32, onnx.NumElems(e.shape))
					for i := range d {
						d[i] = float32(r.NormFloat64() * 2)
					}
					in := map[string]*onnx.Tensor{"x": onnx.NewTensor(e.shape, d)}
					b.SetBytes(int64(4 * len(d)))
					for b.Loop() {
						if _, err := s.Run(in); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
