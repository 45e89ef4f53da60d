package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"amq/onnx"
)

// TestKeptColumnsCopiesOutputPositions checks keptColumns, with
// im2colSegsFast's pieces of 32 and 16 where the machine has them and
// with copy calls, against the definition: column q of a chunk is output
// (q/wq, q%wq) when q%wq < out2, and nothing else is written; for chunks
// that start and end inside virtual rows, rows wider than a piece, and
// dropped columns at a chunk's start.
func TestKeptColumnsCopiesOutputPositions(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	type spec struct{ rows, out1, out2, wq, j0, j1 int }
	specs := []spec{
		{3, 7, 7, 9, 0, 63},
		{2, 14, 14, 16, 5, 200},
		{4, 16, 112, 115, 100, 1000},
		{1, 5, 40, 43, 41, 215},
		{2, 3, 33, 34, 0, 102},
	}
	for si, sp := range specs {
		nw := sp.j1 - sp.j0
		outN := sp.out1 * sp.out2
		blk := randFloats(r, sp.rows*nw)
		want := make([]float32, sp.rows*outN)
		fill(want, -1)
		for i := range sp.rows {
			for q := sp.j0; q < sp.j1; q++ {
				if oh, ow := q/sp.wq, q%sp.wq; ow < sp.out2 {
					want[i*outN+oh*sp.out2+ow] = blk[i*nw+q-sp.j0]
				}
			}
		}
		for _, nr := range []int{32, 16, 0} {
			if nr > 0 && !im2colFast(nr) {
				continue
			}
			got := make([]float32, len(want))
			fill(got, -1)
			keptColumns(got, blk, sp.rows, sp.j0, sp.j1, outN, sp.out2, sp.wq, nr)
			compareBits(t, fmt.Sprintf("spec %d nr %d", si, nr), got, want)
		}
	}
}

// TestConvImplicitKeptInKernelGivesCopyBits checks that the implicit
// convolution whose kernel stores the kept columns itself (storesKept)
// gives the bits of the same kernel storing the virtual output and
// keptColumns copying them out: ResNet's 3x3 layers at 56x56, 28x28 and
// 14x14 and its 7x7 stride-2 stem, with k below and above a cache block
// (gemmKC), bias or not, Relu or not, odd channel counts, one and two
// threads.
func TestConvImplicitKeptInKernelGivesCopyBits(t *testing.T) {
	var kern microKernel
	for _, k := range availableKernels() {
		if k.storesKept && k.packRows != nil {
			kern = k
		}
	}
	if !kern.storesKept {
		t.Skip("no kernel here stores kept columns")
	}
	copyKern := kern
	copyKern.storesKept = false
	r := rand.New(rand.NewPCG(23, 24))
	type spec struct{ batch, c, m, h, k, pad, stride int }
	specs := []spec{
		{1, 16, 24, 56, 3, 1, 1}, // k = 144: one block, no scratch
		{2, 64, 16, 56, 3, 1, 1}, // k = 576: three blocks
		{1, 13, 11, 28, 3, 1, 1},
		{1, 40, 9, 28, 3, 1, 1},  // k = 360
		{1, 7, 17, 14, 3, 1, 1},  // (batches of 14x14 are merged, im2col)
		{1, 33, 40, 14, 3, 1, 1}, // k = 297
		{1, 3, 16, 64, 7, 3, 2},  // the stem's shape: k = 147
		{1, 6, 8, 63, 7, 3, 2},   // k = 294, odd size
	}
	for si, sp := range specs {
		x := onnx.NewTensor([]int{sp.batch, sp.c, sp.h, sp.h}, randFloats(r, sp.batch*sp.c*sp.h*sp.h))
		w := onnx.NewTensor([]int{sp.m, sp.c, sp.k, sp.k}, randFloats(r, sp.m*sp.c*sp.k*sp.k))
		b := onnx.NewTensor([]int{sp.m}, randFloats(r, sp.m))
		p := int64(sp.pad)
		n := node("Conv", map[string]any{"pads": []int64{p, p, p, p}, "strides": []int64{int64(sp.stride), int64(sp.stride)}}, "x", "w", "b")
		attrs, err := readWindowAttrs(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, withBias := range []bool{false, true} {
			in := []*onnx.Tensor{x, w}
			if withBias {
				in = append(in, b)
			}
			for _, relu := range []bool{false, true} {
				for _, threads := range []int{1, 2} {
					name := fmt.Sprintf("spec %d bias %v relu %v threads %d", si, withBias, relu, threads)
					run := func(k microKernel) []float32 {
						saved := activeKernel
						activeKernel = k
						defer func() { activeKernel = saved }()
						cn := &convNode{w: attrs, group: 1, relu: relu, implicit: new(atomic.Pointer[implicitPlan])}
						out, err := cn.run(&runCtx{threads: threads}, in)
						if err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						if cn.implicit.Load() == nil {
							t.Fatalf("%s: the convolution did not take the implicit path", name)
						}
						return out[0].Floats()
					}
					want, got := run(copyKern), run(kern)
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s: y[%d] = %g kept by the kernel, %g copied", name, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}
