package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"amq/onnx"
)

// TestPaddedIm2colGivesMergedBits checks that the merged convolutions'
// im2col from a padded copy of the input gives the bits of the im2col
// that pads piece by piece, for odd sizes, asymmetric pads of 0 to 2,
// 3x3 and 5x5 windows, batches 2 and 8 (pieces across images and strips),
// several k blocks, bias or none, fused Relu, on one and two threads.
func TestPaddedIm2colGivesMergedBits(t *testing.T) {
	if !im2colFast(32) {
		t.Skip("no AVX-512 im2col on this machine")
	}
	r := rand.New(rand.NewPCG(21, 22))
	type spec struct {
		batch, c, m int
		in, k       []int
		pads        []int
	}
	specs := []spec{
		{8, 64, 40, []int{14, 14}, []int{3, 3}, []int{1, 1, 1, 1}}, // 576 taps: three k blocks
		{2, 16, 24, []int{9, 11}, []int{3, 3}, []int{2, 1, 0, 2}},
		{8, 12, 20, []int{7, 5}, []int{5, 5}, []int{2, 0, 1, 2}},
		{2, 24, 36, []int{13, 7}, []int{5, 5}, []int{0, 2, 2, 1}}, // 600 taps
		{8, 8, 9, []int{6, 6}, []int{3, 3}, []int{0, 0, 0, 0}},
	}
	savedGain, savedOn, savedKern := convSwapMinGain, im2colPadded, activeKernel
	defer func() { convSwapMinGain, im2colPadded, activeKernel = savedGain, savedOn, savedKern }()
	convSwapMinGain = math.Inf(1) // the merged product, not the swapped one
	for _, kern := range availableKernels() {
		if kern.nr == 32 {
			activeKernel = kern
		}
	}
	for si, sp := range specs {
		taps := onnx.NumElems(sp.k)
		x := onnx.NewTensor(append([]int{sp.batch, sp.c}, sp.in...), randFloats(r, sp.batch*sp.c*onnx.NumElems(sp.in)))
		w := onnx.NewTensor(append([]int{sp.m, sp.c}, sp.k...), randFloats(r, sp.m*sp.c*taps))
		b := onnx.NewTensor([]int{sp.m}, randFloats(r, sp.m))
		n := node("Conv", map[string]any{"pads": ints64(sp.pads)}, "x", "w", "b")
		attrs, err := readWindowAttrs(n)
		if err != nil {
			t.Fatal(err)
		}
		g, err := (&convNode{w: attrs, group: 1}).convShapes(x, w, nil)
		if err != nil {
			t.Fatal(err)
		}
		if g.outN >= convMergeCols || newPaddedIm2col(&runCtx{threads: 1}, x.Floats(), g, sp.batch, sp.c, sp.c, 32) == nil {
			t.Fatalf("spec %d does not take the padded merged im2col", si)
		}
		for _, withBias := range []bool{false, true} {
			in := []*onnx.Tensor{x, w}
			if withBias {
				in = append(in, b)
			}
			for _, relu := range []bool{false, true} {
				for _, threads := range []int{1, 2} {
					name := fmt.Sprintf("spec %d bias %v relu %v threads %d", si, withBias, relu, threads)
					run := func(padded bool) []float32 {
						im2colPadded = padded
						cn := &convNode{w: attrs, group: 1, relu: relu, implicit: new(atomic.Pointer[implicitPlan]),
							cache: new(atomic.Pointer[convWeights]), i8: new(igemmWeights), swapped: new(swapCache)}
						out, err := cn.run(&runCtx{threads: threads}, in)
						if err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						return out[0].Floats()
					}
					want, got := run(false), run(true)
					if i := firstBitDiff(got, want); i >= 0 {
						t.Fatalf("%s: y[%d] = %g padded, %g piece by piece", name, i, got[i], want[i])
					}
				}
			}
		}
	}
}
