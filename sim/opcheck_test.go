package sim

import (
	"math"
	"math/rand/v2"
	"testing"

	"amq/onnx"
)

// Shared tools of the operator tests: building and running one node,
// random inputs, comparison with float64 references, walks over
// multi-indices, the int8 deploy setup and tables of inputs to reject.

// runOp builds node n (with the nodes before it in the graph, e.g. an
// AscendQuant producer) through sim's registry and runs it on in.
func runOp(t *testing.T, opset int64, n *onnx.Node, before []*onnx.Node, in ...*onnx.Tensor) ([]*onnx.Tensor, error) {
	t.Helper()
	b, ok := registry[n.OpType]
	if !ok {
		t.Fatalf("%s is not registered", n.OpType)
	}
	g := &onnx.Graph{Nodes: append(append([]*onnx.Node(nil), before...), n)}
	fn, err := b(&buildCtx{opset: opset, graph: g}, n)
	if err != nil {
		return nil, err
	}
	return fn(&runCtx{threads: 2}, in)
}

// node returns a node of type op with the given attributes and inputs and
// one output, y.
func node(op string, attrs map[string]any, inputs ...string) *onnx.Node {
	n := &onnx.Node{Name: op + "_test", OpType: op, Inputs: inputs, Outputs: []string{"y"}}
	for k, v := range attrs {
		n.SetAttr(k, v)
	}
	return n
}

// ints64 converts v for an ints attribute.
func ints64(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

// boolInt is 1 for true and 0 for false, as flag attributes want.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// randFloats returns n values uniform in [-1, 1).
func randFloats(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = r.Float32()*2 - 1
	}
	return v
}

// randInt8 returns n values uniform over all of int8.
func randInt8(r *rand.Rand, n int) []int8 {
	v := make([]int8, n)
	for i := range v {
		v[i] = int8(r.IntN(256) - 128)
	}
	return v
}

// randInt32 returns n values uniform in [-bound, bound].
func randInt32(r *rand.Rand, n, bound int) []int32 {
	v := make([]int32, n)
	for i := range v {
		v[i] = int32(r.IntN(2*bound+1) - bound)
	}
	return v
}

// toF64 converts v to float64, keeping nil.
func toF64(v []float32) []float64 {
	if v == nil {
		return nil
	}
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// closeTo reports the first index where got and want differ by more than
// atol + rtol*|want|, or -1.
func closeTo(got []float32, want []float64, rtol, atol float64) int {
	if len(got) != len(want) {
		return 0
	}
	for i := range got {
		g := float64(got[i])
		if math.IsNaN(g) || math.Abs(g-want[i]) > atol+rtol*math.Abs(want[i]) {
			return i
		}
	}
	return -1
}

// exactInt32 reports the first index where the int32 tensor got differs
// from want, 0 when got is not int32 or has another length, or -1.
func exactInt32(got *onnx.Tensor, want []float64) int {
	g, ok := got.Data.([]int32)
	if !ok || len(g) != len(want) {
		return 0
	}
	for i := range g {
		if float64(g[i]) != want[i] {
			return i
		}
	}
	return -1
}

// forIndex calls fn with every multi-index of shape in row-major order.
func forIndex(shape []int, fn func(idx []int)) {
	idx := make([]int, len(shape))
	for _, d := range shape {
		if d == 0 {
			return
		}
	}
	for {
		fn(idx)
		i := len(shape) - 1
		for ; i >= 0; i-- {
			idx[i]++
			if idx[i] < shape[i] {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return
		}
	}
}

// flatIndex is the row-major flat position of idx in shape.
func flatIndex(idx, shape []int) int {
	f := 0
	for i, v := range idx {
		f = f*shape[i] + v
	}
	return f
}

// quantProducer is an AscendQuant node writing "x" with the given offset,
// the producer the int8 layers read their activation offset from.
func quantProducer(offset int) *onnx.Node {
	q := node("AscendQuant", map[string]any{"scale": float32(1), "offset": float32(offset), "sqrt_mode": 0, "round_mode": "Round", "dst_type": "INT8"}, "xf")
	q.Outputs = []string{"x"}
	return q
}

// intRef converts the int8 activation minus its offset and the int8
// weight to float64; float64 holds every partial sum of these exactly.
func intRef(x []int8, offset int, w []int8, bias []int32) (xf, wf, bf []float64) {
	for _, v := range x {
		xf = append(xf, float64(int(v)-offset))
	}
	for _, v := range w {
		wf = append(wf, float64(v))
	}
	for _, v := range bias {
		bf = append(bf, float64(v))
	}
	return
}

// f32Zeros and i8Zeros make zero tensors of a shape, the inputs of the
// rejection tables.
func f32Zeros(shape ...int) *onnx.Tensor {
	return onnx.NewTensor(shape, make([]float32, onnx.NumElems(shape)))
}

func i8Zeros(shape ...int) *onnx.Tensor {
	return onnx.NewTensor(shape, make([]int8, onnx.NumElems(shape)))
}

// rejectCase is a malformed node or input that sim must refuse.
type rejectCase struct {
	name  string
	n     *onnx.Node
	in    []*onnx.Tensor
	build bool // the error comes from the builder
}

// checkRejects checks that every case gives an error (not a panic or a
// wrong answer), from the builder or from the run as the case says.
func checkRejects(t *testing.T, cases []rejectCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := registry[tc.n.OpType]
			fn, err := b(&buildCtx{opset: 13, graph: &onnx.Graph{Nodes: []*onnx.Node{tc.n}}}, tc.n)
			if tc.build {
				if err == nil {
					t.Fatal("the builder accepted the node")
				}
				return
			}
			if err != nil {
				t.Fatalf("builder: %v", err)
			}
			if _, err := fn(&runCtx{threads: 2}, tc.in); err == nil {
				t.Fatal("no error")
			} else {
				t.Log(err)
			}
		})
	}
}
