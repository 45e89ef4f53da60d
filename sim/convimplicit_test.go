package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
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

// TestImplicitTapsReadPaddedInput checks the implicit plan's geometry
// against the definition of a convolution: for every kept output (oh, ow)
// of every channel and every tap (kh, kw), the phase planes at the tap's
// B row offset plus column oh*wq + ow hold the zero-padded input at
// (oh*sh + kh*dh, ow*sw + kw*dw). Rows share their padding, so this
// fails when a row is too narrow for its reads, when the zeros after a
// plane's last row are missing, or when an offset is off by a row. For
// 1x1 to 7x7 kernels, symmetric, uneven and no padding (either side the
// wider), strides 1 to 3, dilations, odd and even sizes.
func TestImplicitTapsReadPaddedInput(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	type spec struct {
		h, w, kh, kw int
		pads         []int64
		s, d         []int64
	}
	specs := []spec{
		{12, 12, 1, 1, []int64{1, 0, 0, 2}, nil, nil},
		{9, 10, 1, 1, []int64{0, 1, 1, 0}, nil, []int64{2, 2}},
		{10, 9, 2, 2, []int64{0, 0, 1, 1}, nil, nil},
		{11, 13, 2, 2, []int64{1, 1, 0, 0}, []int64{2, 2}, nil},
		{14, 14, 3, 3, []int64{1, 1, 1, 1}, nil, nil},
		{13, 17, 3, 3, []int64{0, 2, 2, 0}, nil, nil},
		{13, 17, 3, 3, []int64{2, 0, 0, 2}, nil, nil},
		{15, 16, 3, 3, []int64{1, 1, 1, 1}, []int64{2, 2}, nil},
		{15, 15, 3, 3, []int64{0, 0, 1, 1}, []int64{2, 2}, nil},
		{12, 20, 3, 3, []int64{2, 2, 2, 2}, nil, []int64{2, 2}},
		{16, 19, 3, 3, []int64{2, 1, 3, 2}, []int64{2, 2}, []int64{2, 3}},
		{14, 15, 4, 4, []int64{1, 2, 2, 1}, nil, nil},
		{17, 18, 4, 3, []int64{2, 1, 1, 0}, []int64{3, 2}, nil},
		{16, 16, 5, 5, []int64{2, 2, 2, 2}, nil, nil},
		{13, 21, 5, 5, []int64{2, 1, 0, 2}, []int64{2, 3}, nil},
		{12, 12, 6, 6, []int64{2, 3, 3, 2}, nil, nil},
		{20, 20, 7, 7, []int64{3, 3, 3, 3}, nil, nil},
		{23, 22, 7, 7, []int64{3, 3, 3, 3}, []int64{2, 2}, nil},
		{21, 25, 7, 5, []int64{1, 3, 4, 0}, []int64{2, 1}, []int64{1, 2}},
	}
	var narrower []int // the specs whose rows are narrower than the padded plane's
	for si, sp := range specs {
		g := convGeom(t, sp.h, sp.w, sp.kh, sp.kw, sp.pads, sp.s, sp.d)
		const channels = 3
		cn := &convNode{implicit: new(atomic.Pointer[implicitPlan])}
		kern := microKernel{nr: 1 << 20, packRows: func([]float32, []float32, []int, int) {}}
		plan := cn.implicitPlan(g, channels, kern)
		if plan == nil {
			t.Fatalf("spec %d: no implicit plan", si)
		}
		if plan.wq < (plan.wp+g.s[2]-1)/g.s[2] {
			narrower = append(narrower, si)
		}
		x := randFloats(r, channels*g.inN)
		for i := range x {
			x[i] += 2 // never zero, so that no read of padding passes for an input
		}
		// Whatever lies past the planes reaches only dropped columns:
		// make it fail any kept read.
		planes := make([]float32, channels*plan.cs+plan.wq)
		fill(planes, -1)
		phasePlanes(planes, x, g, plan, channels, 0, 1)
		for c := range channels {
			for kh := range g.k[1] {
				for kw := range g.k[2] {
					off := plan.offs[(c*g.k[1]+kh)*g.k[2]+kw]
					for oh := range g.out[1] {
						for ow := range g.out[2] {
							ih := oh*g.s[1] + kh*g.d[1] - g.padB[1]
							iw := ow*g.s[2] + kw*g.d[2] - g.padB[2]
							var want float32
							if ih >= 0 && ih < sp.h && iw >= 0 && iw < sp.w {
								want = x[c*g.inN+ih*sp.w+iw]
							}
							if got := planes[off+oh*plan.wq+ow]; got != want {
								t.Fatalf("spec %d (wq %d, pn %d): channel %d tap (%d, %d) output (%d, %d) reads %g, want %g",
									si, plan.wq, plan.pn, c, kh, kw, oh, ow, got, want)
							}
						}
					}
				}
			}
		}
	}
	// Rows with zeros on both sides of every column phase's reads have
	// some to share; 1x1 kernels read no padding beside a row, and rows
	// padded on one side only or whose stride-2 phases read a single
	// zero have nothing to share.
	if want := []int{4, 9, 10, 11, 13, 15, 16, 17}; !slices.Equal(narrower, want) {
		t.Fatalf("rows shared their padding in specs %v, want %v", narrower, want)
	}
}
