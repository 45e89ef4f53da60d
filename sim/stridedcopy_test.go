package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"amq/onnx"
)

// TestTransposeBlocksEqualIndexWalk: transposes that move the last two
// dimensions by blocks of rows (BERT's [b, s, h, d] to [b, h, d, s], 2-D
// transposes with row counts around the block of 8) and others give
// y[i] = x[perm(i)] element for element, in float32 and int64, with one
// and two threads.
func TestTransposeBlocksEqualIndexWalk(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(47, 48))
	cases := []struct {
		shape []int
		perm  []int64
	}{
		{[]int{2, 9, 3, 16}, []int64{0, 2, 3, 1}},
		{[]int{1, 128, 12, 64}, []int64{0, 2, 3, 1}},
		{[]int{1, 128, 12, 64}, []int64{0, 2, 1, 3}},
		{[]int{7, 8}, []int64{1, 0}},
		{[]int{5, 17}, []int64{1, 0}},
		{[]int{23, 3}, []int64{1, 0}},
		{[]int{3, 4, 19}, []int64{2, 0, 1}},
		{[]int{3, 4, 19}, []int64{1, 2, 0}},
	}
	for _, cs := range cases {
		n := onnx.NumElems(cs.shape)
		x32, x64 := make([]float32, n), make([]int64, n)
		for i := range x32 {
			x32[i], x64[i] = float32(r.NormFloat64()), r.Int64()
		}
		// want by index arithmetic: output index o has input index in with
		// in[perm[k]] = o[k].
		outShape := make([]int, len(cs.shape))
		for k, p := range cs.perm {
			outShape[k] = cs.shape[p]
		}
		inStr := denseStrides(cs.shape)
		want32, want64 := make([]float32, n), make([]int64, n)
		idx := make([]int, len(outShape))
		for o := range n {
			rem, src := o, 0
			for k := len(outShape) - 1; k >= 0; k-- {
				idx[k] = rem % outShape[k]
				rem /= outShape[k]
			}
			for k, p := range cs.perm {
				src += idx[k] * inStr[p]
			}
			want32[o], want64[o] = x32[src], x64[src]
		}
		node := shpNode("Transpose", []string{"x"}, []string{"y"}, map[string]any{"perm": cs.perm})
		for _, threads := range []int{1, 2} {
			what := fmt.Sprintf("%v perm %v threads %d", cs.shape, cs.perm, threads)
			for _, x := range []*onnx.Tensor{onnx.NewTensor(cs.shape, x32), onnx.NewTensor(cs.shape, x64)} {
				s, err := NewSession(shpModel(13, node, map[string]*onnx.Tensor{"x": x}), &Options{Threads: threads})
				if err != nil {
					t.Fatal(err)
				}
				res, err := s.Run(map[string]*onnx.Tensor{"x": x})
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				y := res["y"]
				if !slices.Equal(y.Shape, outShape) {
					t.Fatalf("%s: shape %v, want %v", what, y.Shape, outShape)
				}
				switch d := y.Data.(type) {
				case []float32:
					if i := sameBits(d, want32); i >= 0 {
						t.Fatalf("%s: float32 element %d is %v, want %v", what, i, d[i], want32[i])
					}
				case []int64:
					if !slices.Equal(d, want64) {
						t.Fatalf("%s: int64 data differs", what)
					}
				}
			}
		}
	}
}
