package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"amq/onnx"
)

// TestConvSwappedGivesUsualBits checks that the swapped product (output
// positions on the kernel's rows) gives the bits of convTiles' usual one
// for odd channel and position counts, pads, stride 2, dilation, 1x1 and
// 1-D windows, groups, bias or none, fused Relu, batches whose positions
// share strips across images, several k blocks and several passes, on one
// and two threads, with every kernel whose row strips tile its column
// strips.
func TestConvSwappedGivesUsualBits(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	type spec struct {
		batch, c, m, group int
		in, k, s, d        []int
		pads               []int
	}
	sq := func(v int) []int { return []int{v, v} }
	specs := []spec{
		{1, 64, 64, 1, sq(7), sq(3), sq(1), sq(1), []int{1, 1, 1, 1}},  // 576 taps: three k blocks
		{1, 40, 70, 1, sq(14), sq(3), sq(2), sq(1), []int{1, 1, 1, 1}}, // stride 2, channels not a whole strip
		{3, 16, 36, 1, []int{9, 11}, sq(3), sq(1), sq(1), []int{2, 1, 0, 2}},
		{2, 24, 48, 2, sq(7), sq(3), sq(1), sq(1), []int{1, 1, 1, 1}},        // groups
		{8, 32, 64, 1, sq(14), sq(1), sq(2), sq(1), []int{0, 0, 0, 0}},       // 1x1 stride 2 at batch 8
		{2, 96, 40, 1, sq(5), sq(1), sq(1), sq(1), []int{0, 0, 0, 0}},        // pointwise
		{1, 20, 33, 1, []int{19}, []int{3}, []int{1}, []int{2}, []int{2, 1}}, // 1-D, dilated
		{2, 6, 9, 3, sq(6), sq(2), sq(1), sq(1), []int{0, 1, 1, 0}},
		{1, 8, 40, 1, []int{20, 5}, sq(3), []int{3, 1}, sq(1), []int{1, 1, 1, 1}}, // strips over three rows: packed in Go
	}
	saved, savedMax, savedKern := convSwapMinGain, convSwapMaxC, activeKernel
	defer func() { convSwapMinGain, convSwapMaxC, activeKernel = saved, savedMax, savedKern }()
	goStrips := 0 // strips of 8 the AVX-512 kernel's runs pack in Go
	for _, kern := range availableKernels() {
		if kern.nr%kern.mr != 0 {
			continue
		}
		activeKernel = kern
		for si, sp := range specs {
			for _, withBias := range []bool{false, true} {
				for _, relu := range []bool{false, true} {
					cg := sp.c / sp.group
					taps := onnx.NumElems(sp.k)
					x := onnx.NewTensor(append([]int{sp.batch, sp.c}, sp.in...), randFloats(r, sp.batch*sp.c*onnx.NumElems(sp.in)))
					w := onnx.NewTensor(append([]int{sp.m, cg}, sp.k...), randFloats(r, sp.m*cg*taps))
					in := []*onnx.Tensor{x, w}
					if withBias {
						in = append(in, onnx.NewTensor([]int{sp.m}, randFloats(r, sp.m)))
					}
					n := node("Conv", map[string]any{"pads": ints64(sp.pads), "strides": ints64(sp.s), "dilations": ints64(sp.d), "group": sp.group}, "x", "w", "b")
					attrs, err := readWindowAttrs(n)
					if err != nil {
						t.Fatal(err)
					}
					for _, threads := range []int{1, 2} {
						// Passes of one strip of the kernel's columns,
						// then as many as the bound allows.
						for _, maxA := range []int{1, savedMax} {
							name := fmt.Sprintf("%s spec %d bias %v relu %v threads %d max %d", kern.name, si, withBias, relu, threads, maxA)
							convSwapMaxC = maxA
							run := func(gain float64) ([]float32, bool) {
								convSwapMinGain = gain
								// As buildConv makes it for an initializer W.
								cn := &convNode{w: attrs, group: sp.group, relu: relu, implicit: new(atomic.Pointer[implicitPlan]),
									cache: new(atomic.Pointer[convWeights]), i8: new(igemmWeights), swapped: new(swapCache)}
								fn := cn.run
								out, err := fn(&runCtx{threads: threads}, in)
								if err != nil {
									t.Fatalf("%s: %v", name, err)
								}
								// Run twice: the second run takes the
								// packed W^T from the first.
								again, err := fn(&runCtx{threads: threads}, in)
								if err != nil {
									t.Fatalf("%s: %v", name, err)
								}
								if i := firstBitDiff(out[0].Floats(), again[0].Floats()); i >= 0 {
									t.Fatalf("%s: y[%d] differs between two runs", name, i)
								}
								return out[0].Floats(), cn.swapped.weights.Load() != nil
							}
							want, usedSwap := run(math.Inf(1))
							if usedSwap {
								t.Fatalf("%s: the swapped product ran with an infinite minimum gain", name)
							}
							got, usedSwap := run(0)
							if !usedSwap {
								t.Fatalf("%s: the convolution did not take the swapped product", name)
							}
							if i := firstBitDiff(got, want); i >= 0 {
								t.Fatalf("%s: y[%d] = %g swapped, %g usual", name, i, got[i], want[i])
							}
							if kern.mr == 8 {
								g, err := (&convNode{w: attrs, group: sp.group}).convShapes(x, w, nil)
								if err != nil {
									t.Fatal(err)
								}
								goStrips += newSwapPlan(g, sp.batch, sp.c, cg, kern.mr).slow
							}
						}
					}
				}
			}
		}
	}
	if swapRowsFast && goStrips == 0 {
		t.Error("no strip of positions was packed in Go: that path went untested")
	}
}

// firstBitDiff is the first index where a and b differ in bits, or -1.
func firstBitDiff(a, b []float32) int {
	if len(a) != len(b) {
		return 0
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// TestConvSwapTakesResNetsSmallLayers checks which of ResNet-18's layers
// take the swapped product with the AVX-512 kernel's 8x32 tiles: the 3x3
// ones with 7x7 and 14x14 outputs at batch 1, whose positions fill 77% and
// 87.5% of the kernel's columns, and the 7x7 ones at batch 8 (392
// positions in 13 strips of 32, 94%), but not the 1x1 downsamples nor the
// layers with more positions.
func TestConvSwapTakesResNetsSmallLayers(t *testing.T) {
	if !hasAVX512Kernel() {
		t.Skip("no AVX-512 kernel on this machine: its strip packing is assembly")
	}
	kern := microKernel{mr: 8, nr: 32, name: "8x32"}
	for _, tc := range []struct {
		batch, cin, cout, k, s, hw int
		want                       bool
	}{
		{1, 512, 512, 3, 1, 7, true},
		{1, 256, 256, 3, 1, 14, true},
		{1, 256, 512, 3, 2, 14, true},
		{1, 128, 256, 3, 2, 28, true},
		{1, 256, 512, 1, 2, 14, false},
		{1, 128, 256, 1, 2, 28, false},
		{1, 128, 128, 3, 1, 28, false},
		{1, 64, 64, 3, 1, 56, false},
		{8, 512, 512, 3, 1, 7, true},
		{8, 256, 256, 3, 1, 14, false},
		{8, 128, 128, 3, 1, 28, false},
	} {
		p := int64(tc.k / 2)
		n := node("Conv", map[string]any{"pads": []int64{p, p, p, p}, "strides": []int64{int64(tc.s), int64(tc.s)}}, "x", "w")
		attrs, err := readWindowAttrs(n)
		if err != nil {
			t.Fatal(err)
		}
		cn := &convNode{w: attrs, group: 1, swapped: new(swapCache)}
		x := &onnx.Tensor{Shape: []int{tc.batch, tc.cin, tc.hw, tc.hw}}
		w := &onnx.Tensor{Shape: []int{tc.cout, tc.cin, tc.k, tc.k}}
		g, err := cn.convShapes(x, w, nil)
		if err != nil {
			t.Fatal(err)
		}
		wd := make([]float32, 1)
		if got := cn.swapPlanFor(g, tc.batch, tc.cin, tc.cout, wd, kern) != nil; got != tc.want {
			t.Errorf("batch %d, %d to %d channels, %dx%d window stride %d on %dx%d: swapped %v (lane gain %.3f), want %v",
				tc.batch, tc.cin, tc.cout, tc.k, tc.k, tc.s, tc.hw, tc.hw, got, swapGain(g, tc.batch, tc.cout, kern), tc.want)
		}
	}
}

// hasAVX512Kernel reports whether the AVX-512 micro-kernel can run here.
func hasAVX512Kernel() bool {
	for _, k := range availableKernels() {
		if k.mr == 8 && k.nr == 32 {
			return swapRowsFast
		}
	}
	return false
}

// TestTransposeBlockMatchesGo checks transposeBlock, whose 8x8 blocks go
// through assembly where the machine has it, against transposeGo value
// for value, for row and column counts around multiples of 8 and strides
// wider than the block, leaving dst outside the block untouched.
func TestTransposeBlockMatchesGo(t *testing.T) {
	if !transpose8Fast {
		t.Skip("no AVX2 here: transposeBlock is transposeGo")
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, rows := range []int{1, 7, 8, 9, 16, 49, 196} {
		for _, cols := range []int{1, 8, 13, 32, 40, 256} {
			lds, ldd := cols+3, rows+5
			src := make([]float32, rows*lds)
			for i := range src {
				src[i] = r.Float32()*2 - 1
			}
			got, want := make([]float32, cols*ldd), make([]float32, cols*ldd)
			for i := range got {
				got[i], want[i] = float32(i), float32(i)
			}
			transposeBlock(got, ldd, src, lds, rows, cols)
			transposeGo(want, ldd, src, lds, rows, cols)
			if i := firstBitDiff(got, want); i >= 0 {
				t.Fatalf("%d rows, %d columns: dst[%d] = %v, want %v", rows, cols, i, got[i], want[i])
			}
		}
	}
}

// TestSwapRowsOneMatchesTwoWindows checks that the strips packed from one
// window (swapRowsOne, a load per kernel row of taps) hold the values the
// two-window permute (swapRows8) packs, for ResNet's 14x14 and 7x7
// layers (stride 1: one window; stride 2: two), a dilated and a 5-wide
// window and k blocks that start inside a kernel row.
func TestSwapRowsOneMatchesTwoWindows(t *testing.T) {
	if !swapRowsFast {
		t.Skip("no AVX-512 here: strips are packed in Go")
	}
	defer func() { swapOneWindow = true }()
	r := rand.New(rand.NewPCG(5, 6))
	ones := 0
	for _, tc := range []struct {
		c, hw, k, s, d, pad int
	}{{16, 14, 3, 1, 1, 1}, {16, 7, 3, 1, 1, 1}, {8, 14, 3, 2, 1, 1}, {8, 9, 3, 1, 2, 2}, {4, 6, 5, 1, 1, 2}, {8, 5, 3, 1, 1, 0}} {
		p := int64(tc.pad)
		n := node("Conv", map[string]any{"pads": []int64{p, p, p, p}, "strides": []int64{int64(tc.s), int64(tc.s)},
			"dilations": []int64{int64(tc.d), int64(tc.d)}}, "x", "w")
		attrs, err := readWindowAttrs(n)
		if err != nil {
			t.Fatal(err)
		}
		cn := &convNode{w: attrs, group: 1}
		g, err := cn.convShapes(&onnx.Tensor{Shape: []int{2, tc.c, tc.hw, tc.hw}}, &onnx.Tensor{Shape: []int{4, tc.c, tc.k, tc.k}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		swapOneWindow = true
		one := newSwapPlan(g, 2, tc.c, tc.c, 8)
		swapOneWindow = false
		two := newSwapPlan(g, 2, tc.c, tc.c, 8)
		xp := randFloats(r, 2*tc.c*one.pn+64)
		kdim := tc.c * g.kN
		for s := range one.strips {
			if !one.strips[s].one {
				continue
			}
			ones++
			for _, blk := range [][2]int{{0, kdim}, {1, kdim - 1}, {4, 7}} {
				pc, kc := blk[0], blk[1]-blk[0]
				got, want := make([]float32, 8*kc), make([]float32, 8*kc)
				one.pack(got, &one.strips[s], xp, pc, kc)
				two.pack(want, &two.strips[s], xp, pc, kc)
				if i := firstBitDiff(got, want); i >= 0 {
					t.Fatalf("%+v strip %d taps [%d, %d): value %d is %v, want %v", tc, s, pc, pc+kc, i, got[i], want[i])
				}
			}
		}
	}
	if ones == 0 {
		t.Fatal("no strip fit one window: swapRowsOne went untested")
	}
}
