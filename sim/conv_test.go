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

// convSpec is a Conv or ConvTranspose configuration with its resolved pads.
type convSpec struct {
	n, c, m, group  int
	in, k, s, d     []int
	padB, padE, opd []int
	outShape        []int // ConvTranspose with output_shape
}

// refConv is Conv by its definition, in float64: every output position
// sums x * w over the taps that land inside the input.
func refConv(sp convSpec, x, w, bias []float64) ([]float64, []int) {
	nd := len(sp.in)
	out := make([]int, nd)
	for i := range out {
		out[i] = (sp.in[i]+sp.padB[i]+sp.padE[i]-(sp.k[i]-1)*sp.d[i]-1)/sp.s[i] + 1
	}
	cg, mg := sp.c/sp.group, sp.m/sp.group
	y := make([]float64, sp.n*sp.m*onnx.NumElems(out))
	xs := append([]int{sp.n, sp.c}, sp.in...)
	ws := append([]int{sp.m, cg}, sp.k...)
	ipos := make([]int, nd)
	o := 0
	for b := 0; b < sp.n; b++ {
		for mo := 0; mo < sp.m; mo++ {
			forIndex(out, func(op []int) {
				var s float64
				if bias != nil {
					s = bias[mo]
				}
				for ci := 0; ci < cg; ci++ {
					forIndex(sp.k, func(kp []int) {
						for j := range kp {
							ipos[j] = op[j]*sp.s[j] - sp.padB[j] + kp[j]*sp.d[j]
							if ipos[j] < 0 || ipos[j] >= sp.in[j] {
								return
							}
						}
						xi := flatIndex(append([]int{b, mo/mg*cg + ci}, ipos...), xs)
						wi := flatIndex(append([]int{mo, ci}, kp...), ws)
						s += x[xi] * w[wi]
					})
				}
				y[o] = s
				o++
			})
		}
	}
	return y, append([]int{sp.n, sp.m}, out...)
}

// samePads is the ONNX auto_pad rule for Conv, written out per axis.
func samePads(in, k, s, d int, upper bool) (b, e int) {
	out := (in + s - 1) / s
	total := (out-1)*s + (k-1)*d + 1 - in
	if total < 0 {
		total = 0
	}
	if upper {
		return total / 2, total - total/2
	}
	return total - total/2, total / 2
}

// randomConvSpec draws a Conv configuration with 1 to 3 spatial axes.
func randomConvSpec(r *rand.Rand, transposed bool) (convSpec, string) {
	nd := 1 + r.IntN(3)
	sp := convSpec{n: 1 + r.IntN(2)}
	switch r.IntN(4) {
	case 0: // depthwise, maybe with a multiplier
		sp.group = 2 + r.IntN(4)
		sp.c = sp.group
		sp.m = sp.group * (1 + r.IntN(2))
	case 1:
		sp.group = 2 + r.IntN(2)
		sp.c = sp.group * (1 + r.IntN(3))
		sp.m = sp.group * (1 + r.IntN(3))
	default:
		sp.group = 1
		sp.c = 1 + r.IntN(7)
		sp.m = 1 + r.IntN(9)
	}
	autoPad := "NOTSET"
	if !transposed {
		autoPad = []string{"NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"}[r.IntN(5)]
	}
	for i := 0; i < nd; i++ {
		maxIn := []int{20, 11, 6}[nd-1]
		k := 1 + r.IntN(3)
		d := 1 + r.IntN(2)
		s := 1 + r.IntN(3)
		in := (k-1)*d + 1 + r.IntN(maxIn)
		pb, pe := r.IntN(k), r.IntN(k)
		op := 0
		if transposed {
			op = r.IntN(max(s, d))
		}
		switch autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			pb, pe = samePads(in, k, s, d, autoPad == "SAME_UPPER")
		case "VALID":
			pb, pe = 0, 0
		}
		sp.in, sp.k, sp.s, sp.d = append(sp.in, in), append(sp.k, k), append(sp.s, s), append(sp.d, d)
		sp.padB, sp.padE, sp.opd = append(sp.padB, pb), append(sp.padE, pe), append(sp.opd, op)
	}
	return sp, autoPad
}

// attrs returns the node attributes of sp, with autoPad instead of pads
// unless it is NOTSET.
func (sp convSpec) attrs(autoPad string, transposed bool) map[string]any {
	a := map[string]any{
		"strides":      ints64(sp.s),
		"dilations":    ints64(sp.d),
		"group":        sp.group,
		"kernel_shape": ints64(sp.k),
	}
	if autoPad == "NOTSET" {
		a["pads"] = ints64(append(append([]int(nil), sp.padB...), sp.padE...))
	} else {
		a["auto_pad"] = autoPad
	}
	if transposed {
		a["output_padding"] = ints64(sp.opd)
	}
	return a
}

// TestConvFloatMatchesDefinition checks the float Conv on random 1-D to
// 3-D configurations (groups, depthwise, strides, dilations, auto_pad)
// against refConv.
func TestConvFloatMatchesDefinition(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	for iter := 0; iter < 150; iter++ {
		sp, autoPad := randomConvSpec(r, false)
		x := randFloats(r, sp.n*sp.c*onnx.NumElems(sp.in))
		w := randFloats(r, sp.m*sp.c/sp.group*onnx.NumElems(sp.k))
		var bias []float32
		in := []*onnx.Tensor{
			onnx.NewTensor(append([]int{sp.n, sp.c}, sp.in...), x),
			onnx.NewTensor(append([]int{sp.m, sp.c / sp.group}, sp.k...), w),
		}
		if iter%2 == 0 {
			bias = randFloats(r, sp.m)
			in = append(in, onnx.NewTensor([]int{sp.m}, bias))
		}
		want, shape := refConv(sp, toF64(x), toF64(w), toF64(bias))
		n := node("Conv", sp.attrs(autoPad, false), "x", "w", "b")
		out, err := runOp(t, 13, n, nil, in...)
		if err != nil {
			t.Fatalf("case %d %+v %s: %v", iter, sp, autoPad, err)
		}
		if fmt.Sprint(out[0].Shape) != fmt.Sprint(shape) {
			t.Fatalf("case %d %+v %s: shape %v, want %v", iter, sp, autoPad, out[0].Shape, shape)
		}
		if i := closeTo(out[0].Floats(), want, 1e-5, 1e-5); i >= 0 {
			t.Fatalf("case %d %+v %s: y[%d] = %g, want %g", iter, sp, autoPad, i, out[0].Floats()[i], want[i])
		}
	}
}

// TestConvInt8ExactSums checks the int8 Conv and ConvTranspose of deploy
// models, offsets and groups included, against exact sums.
func TestConvInt8ExactSums(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 8))
	for iter := 0; iter < 120; iter++ {
		transposed := iter%2 == 1
		sp, autoPad := randomConvSpec(r, transposed)
		offset := r.IntN(256) - 128
		if iter%5 == 0 {
			offset = -128 // AMCT's offset after a ReLU
		}
		x := randInt8(r, sp.n*sp.c*onnx.NumElems(sp.in))
		wshape := append([]int{sp.m, sp.c / sp.group}, sp.k...)
		if transposed {
			wshape = append([]int{sp.c, sp.m / sp.group}, sp.k...)
		}
		w := randInt8(r, onnx.NumElems(wshape))
		bias := randInt32(r, sp.m, 1<<20)
		xf, wf, bf := intRef(x, offset, w, bias)
		var want []float64
		var shape []int
		op := "Conv"
		if transposed {
			op = "ConvTranspose"
			autoPad = "NOTSET"
			want, shape = refConvTranspose(sp, xf, wf, bf)
		} else {
			want, shape = refConv(sp, xf, wf, bf)
		}
		n := node(op, sp.attrs(autoPad, transposed), "x", "w", "b")
		out, err := runOp(t, 11, n, []*onnx.Node{quantProducer(offset)},
			onnx.NewTensor(append([]int{sp.n, sp.c}, sp.in...), x), onnx.NewTensor(wshape, w), onnx.NewTensor([]int{sp.m}, bias))
		if err != nil {
			t.Fatalf("%s case %d %+v: %v", op, iter, sp, err)
		}
		if fmt.Sprint(out[0].Shape) != fmt.Sprint(shape) {
			t.Fatalf("%s case %d: shape %v, want %v", op, iter, out[0].Shape, shape)
		}
		if i := exactInt32(out[0], want); i >= 0 {
			t.Fatalf("%s case %d %+v offset %d: y[%d] = %v, want %v", op, iter, sp, offset, i, out[0].Data.([]int32)[i], want[i])
		}
	}
}

// TestConvInt8OffsetFromProducer checks that the offset comes from the
// AscendQuant producer only and that padding stands for real zero: a
// 3x3 all-ones kernel over a constant input q with offset o gives
// (q-o) * (number of taps inside the input).
func TestConvInt8OffsetFromProducer(t *testing.T) {
	t.Parallel()
	x := make([]int8, 9)
	for i := range x {
		x[i] = 10
	}
	w := make([]int8, 9)
	for i := range w {
		w[i] = 1
	}
	in := []*onnx.Tensor{onnx.NewTensor([]int{1, 1, 3, 3}, x), onnx.NewTensor([]int{1, 1, 3, 3}, w)}
	attrs := map[string]any{"pads": []int64{1, 1, 1, 1}}
	taps := []int32{4, 6, 4, 6, 9, 6, 4, 6, 4}
	for _, tc := range []struct {
		before []*onnx.Node
		offset int32
	}{
		{[]*onnx.Node{quantProducer(-3)}, -3},
		{nil, 0},
		{[]*onnx.Node{func() *onnx.Node { n := node("Relu", nil, "xf"); n.Outputs = []string{"x"}; return n }()}, 0},
	} {
		out, err := runOp(t, 11, node("Conv", attrs, "x", "w"), tc.before, in...)
		if err != nil {
			t.Fatal(err)
		}
		got := out[0].Data.([]int32)
		for i, n := range taps {
			if got[i] != (10-tc.offset)*n {
				t.Fatalf("offset %d: y = %v, want (10-offset)*%v", tc.offset, got, taps)
			}
		}
	}
	q := quantProducer(0)
	q.SetAttr("offset", float32(2.5))
	if _, err := runOp(t, 11, node("Conv", nil, "x", "w"), []*onnx.Node{q}, in...); err == nil {
		t.Error("a fractional AscendQuant offset was accepted")
	}
}

// TestDeployConvSession runs AscendQuant -> int8 Conv in a Session, the
// way a deploy model arrives, with the offset stored as a float and as an
// int attribute, against an independent quantize-and-convolve reference.
func TestDeployConvSession(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(19, 20))
	sp := convSpec{n: 1, c: 3, m: 4, group: 1, in: []int{6, 5}, k: []int{3, 3}, s: []int{2, 1}, d: []int{1, 1}, padB: []int{1, 1}, padE: []int{1, 1}}
	xf := randFloats(r, 3*6*5)
	w := randInt8(r, 4*3*9)
	bias := randInt32(r, 4, 5000)
	const scale = float32(40)
	for _, offsetAttr := range []any{float32(-9), int64(-9)} {
		q := &onnx.Node{Name: "quant", OpType: "AscendQuant", Inputs: []string{"xf"}, Outputs: []string{"x"}}
		q.SetAttr("scale", scale)
		q.SetAttr("offset", offsetAttr)
		q.SetAttr("round_mode", "Round")
		conv := node("Conv", map[string]any{"pads": []int64{1, 1, 1, 1}, "strides": []int64{2, 1}}, "x", "w", "b")
		m := &onnx.Model{Opsets: map[string]int64{"": 11}, Graph: &onnx.Graph{
			Nodes:   []*onnx.Node{q, conv},
			Inputs:  []*onnx.ValueInfo{{Name: "xf", DType: onnx.Float}},
			Outputs: []*onnx.ValueInfo{{Name: "y"}},
			Initializers: map[string]*onnx.Tensor{
				"w": onnx.NewTensor([]int{4, 3, 3, 3}, w),
				"b": onnx.NewTensor([]int{4}, bias),
			},
		}}
		s, err := NewSession(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Run(map[string]*onnx.Tensor{"xf": onnx.NewTensor([]int{1, 3, 6, 5}, xf)})
		if err != nil {
			t.Fatal(err)
		}
		xq := make([]int8, len(xf))
		for i, v := range xf {
			xq[i] = int8(max(-128, min(127, math.RoundToEven(float64(float32(v*scale)+float32(-9))))))
		}
		xr, wr, br := intRef(xq, -9, w, bias)
		want, shape := refConv(sp, xr, wr, br)
		if fmt.Sprint(out["y"].Shape) != fmt.Sprint(shape) {
			t.Fatalf("offset %T: shape %v, want %v", offsetAttr, out["y"].Shape, shape)
		}
		if i := exactInt32(out["y"], want); i >= 0 {
			t.Fatalf("offset %T: y[%d] = %d, want %v", offsetAttr, i, out["y"].Data.([]int32)[i], want[i])
		}
	}
}

// TestConvRejectsBadInput checks that malformed Conv nodes and inputs give
// errors.
func TestConvRejectsBadInput(t *testing.T) {
	t.Parallel()
	checkRejects(t, []rejectCase{
		{"conv unknown attribute", node("Conv", map[string]any{"foo": 1}, "x", "w"), nil, true},
		{"conv bad auto_pad", node("Conv", map[string]any{"auto_pad": "SAME"}, "x", "w"), nil, true},
		{"conv zero stride", node("Conv", map[string]any{"strides": []int64{0, 1}}, "x", "w"), nil, true},
		{"conv group 0", node("Conv", map[string]any{"group": 0}, "x", "w"), nil, true},
		{"conv channels", node("Conv", nil, "x", "w"), []*onnx.Tensor{f32Zeros(1, 3, 5, 5), f32Zeros(4, 2, 3, 3)}, false},
		{"conv group", node("Conv", map[string]any{"group": 2}, "x", "w"), []*onnx.Tensor{f32Zeros(1, 3, 5, 5), f32Zeros(4, 1, 3, 3)}, false},
		{"conv rank", node("Conv", nil, "x", "w"), []*onnx.Tensor{f32Zeros(1, 3, 5, 5), f32Zeros(4, 3, 3)}, false},
		{"conv kernel too big", node("Conv", nil, "x", "w"), []*onnx.Tensor{f32Zeros(1, 1, 2, 2), f32Zeros(1, 1, 3, 3)}, false},
		{"conv kernel_shape", node("Conv", map[string]any{"kernel_shape": []int64{2, 2}}, "x", "w"), []*onnx.Tensor{f32Zeros(1, 1, 5, 5), f32Zeros(1, 1, 3, 3)}, false},
		{"conv pads length", node("Conv", map[string]any{"pads": []int64{1, 1}}, "x", "w"), []*onnx.Tensor{f32Zeros(1, 1, 5, 5), f32Zeros(1, 1, 3, 3)}, false},
		{"conv bias", node("Conv", nil, "x", "w", "b"), []*onnx.Tensor{f32Zeros(1, 1, 5, 5), f32Zeros(2, 1, 3, 3), f32Zeros(3)}, false},
		{"conv 4-d spatial", node("Conv", nil, "x", "w"), []*onnx.Tensor{f32Zeros(1, 1, 2, 2, 2, 2), f32Zeros(1, 1, 1, 1, 1, 1)}, false},
		{"conv double", node("Conv", nil, "x", "w"), []*onnx.Tensor{onnx.NewTensor([]int{1, 1, 1}, []float64{1}), f32Zeros(1, 1, 1)}, false},
		{"conv int8 float weight", node("Conv", nil, "x", "w"), []*onnx.Tensor{i8Zeros(1, 1, 3), f32Zeros(1, 1, 1)}, false},
		{"conv float int8 weight", node("Conv", nil, "x", "w"), []*onnx.Tensor{f32Zeros(1, 1, 3), i8Zeros(1, 1, 1)}, false},
	})
}

// TestIm2colStripsGiveTheRowMajorProduct checks that im2col packed in
// strips for the GEMM holds the row-major im2col matrix, and that the GEMM
// reading it gives the same bits as the GEMM reading the row-major one,
// for ranges that start and end inside output rows and strips.
func TestIm2colStripsGiveTheRowMajorProduct(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const ch, m = 3, 5
	for _, hw := range []int{9, 40} { // pieces under and over 16 values
		x := randFloats(r, ch*hw*hw)
		for _, stride := range []int{1, 2, 3} {
			w := windowAttrs{strides: []int{stride, stride}, pads: []int{1, 1, 1, 1}, autoPad: "NOTSET"}
			g, err := w.resolve([]int{hw, hw}, []int{3, 3})
			if err != nil {
				t.Fatal(err)
			}
			if err := g.forward(w.autoPad, false); err != nil {
				t.Fatal(err)
			}
			k := ch * g.kN
			wts := randFloats(r, m*k)
			for _, rng := range [][2]int{{0, g.outN}, {3, g.outN - 2}, {5, 6}} {
				j0, j1 := rng[0], rng[1]
				n := j1 - j0
				for _, kern := range availableKernels() {
					nr := kern.nr
					rowMajor := make([]float32, k*n)
					im2colRange(rowMajor, x, g, ch, j0, j1, 0)
					strips := make([]float32, k*((n+nr-1)/nr*nr))
					for i := range strips {
						strips[i] = float32(math.NaN()) // im2col must write every value
					}
					im2colRange(strips, x, g, ch, j0, j1, nr)
					for p := 0; p < k; p++ {
						for j := 0; j < n; j++ {
							if got, want := strips[j/nr*nr*k+p*nr+j%nr], rowMajor[p*n+j]; got != want {
								t.Fatalf("%dx%d stride %d, columns [%d, %d), %s: strip element (%d, %d) = %g, want %g", hw, hw, stride, j0, j1, kern.name, p, j, got, want)
							}
						}
					}
					want := make([]float32, m*n)
					sgemmSerial(kern, m, n, k, 1, matrix{data: wts, ld: k}, nil, 0, matrix{data: rowMajor, ld: n}, want, n, nil)
					got := make([]float32, m*n)
					sgemmSerial(kern, m, n, k, 1, matrix{data: wts, ld: k}, nil, 0, matrix{data: strips, strips: true}, got, n, nil)
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("stride %d, columns [%d, %d), %s: C[%d] = %g from strips, %g from the row-major matrix", stride, j0, j1, kern.name, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

// TestConvBatchGivesEachImagesBits checks that a batch, whose small
// layers are convolved with the images side by side as one matrix, gives
// each image exactly the bits it gets alone, and two threads the bits of
// one (weights over half of L2 are split between threads by output
// channels), with and without bias, fused Relu and groups, for weights
// packed once and weights computed by the graph.
func TestConvBatchGivesEachImagesBits(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const batch, hw = 3, 7
	for _, cm := range [][2]int{
		{64, 24},   // 64*9 = 576 taps: three k blocks
		{128, 256}, // weights over half of L2: split into bands
	} {
		testConvBatchBits(t, r, batch, cm[0], cm[1], hw)
	}
}

func testConvBatchBits(t *testing.T, r *rand.Rand, batch, c, m, hw int) {
	for _, group := range []int{1, 2} {
		for _, withBias := range []bool{false, true} {
			for _, relu := range []bool{false, true} {
				for _, initW := range []bool{false, true} {
					x := randFloats(r, batch*c*hw*hw)
					w := onnx.NewTensor([]int{m, c / group, 3, 3}, randFloats(r, m*c/group*9))
					in := []*onnx.Tensor{onnx.NewTensor([]int{batch, c, hw, hw}, x), w}
					if withBias {
						in = append(in, onnx.NewTensor([]int{m}, randFloats(r, m)))
					}
					n := node("Conv", map[string]any{"pads": []int64{1, 1, 1, 1}, "group": group}, "x", "w", "b")
					g := &onnx.Graph{Nodes: []*onnx.Node{n}}
					if initW {
						g.Initializers = map[string]*onnx.Tensor{"w": w}
					}
					bc := &buildCtx{opset: 13, graph: g}
					fn, err := buildConv(bc, n)
					if err != nil {
						t.Fatal(err)
					}
					if relu {
						fn = bc.fusable(&onnx.Node{OpType: "Relu"})
					}
					var oneThread []float32
					for _, threads := range []int{1, 2} {
						name := fmt.Sprintf("%d to %d channels, group %d bias %v relu %v init %v threads %d", c, m, group, withBias, relu, initW, threads)
						all, err := fn(&runCtx{threads: threads}, in)
						if err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						if oneThread == nil {
							oneThread = all[0].Floats()
						} else if !slices.EqualFunc(oneThread, all[0].Floats(), func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }) {
							t.Fatalf("%s: the batch's bits differ from one thread's", name)
						}
						per := m * hw * hw
						for bi := range batch {
							one := slices.Clone(in)
							one[0] = onnx.NewTensor([]int{1, c, hw, hw}, x[bi*c*hw*hw:(bi+1)*c*hw*hw])
							alone, err := fn(&runCtx{threads: threads}, one)
							if err != nil {
								t.Fatalf("%s: %v", name, err)
							}
							got, want := all[0].Floats()[bi*per:(bi+1)*per], alone[0].Floats()
							for i := range want {
								if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
									t.Fatalf("%s: image %d y[%d] = %g in the batch, %g alone", name, bi, i, got[i], want[i])
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestConvImplicitGivesIm2colBits checks that convolutions computed
// without im2col (padded phase planes read in place) give the bits of
// im2col and GEMM, for 1x1 to 7x7 kernels, symmetric, uneven and no
// padding, strides 2 and 3 (odd sizes, a stride per axis), dilations,
// groups, bias, fused Relu, output channels that do not fill the kernel's
// rows, one and two threads, 1-D convolutions, and every kernel that
// packs strips from row offsets.
func TestConvImplicitGivesIm2colBits(t *testing.T) {
	var kerns []microKernel
	for _, k := range availableKernels() {
		if k.packRows != nil {
			kerns = append(kerns, k)
		}
	}
	if len(kerns) == 0 {
		t.Skipf("no kernel here packs strips from row offsets: convolutions take im2col")
	}
	r := rand.New(rand.NewPCG(7, 8))
	type spec struct {
		batch, c, m, group, h, w, k int
		pads, strides, dils         []int64
	}
	specs := []spec{
		{2, 64, 64, 1, 30, 30, 3, []int64{1, 1, 1, 1}, nil, nil}, // 576 taps: three k blocks
		{1, 32, 20, 1, 23, 41, 3, []int64{1, 1, 1, 1}, nil, nil},
		{3, 8, 13, 1, 33, 60, 5, []int64{2, 1, 0, 2}, nil, nil},
		{1, 12, 16, 2, 31, 31, 3, []int64{0, 0, 0, 0}, nil, nil},
		{2, 40, 24, 1, 40, 40, 1, []int64{0, 1, 0, 1}, nil, nil},
		{1, 64, 40, 1, 7, 7, 3, []int64{1, 1, 1, 1}, nil, nil}, // as many strips as im2col's ragged ones
		{1, 32, 16, 1, 14, 14, 3, []int64{1, 1, 1, 1}, nil, nil},
		{1, 3, 64, 1, 63, 63, 7, []int64{3, 3, 3, 3}, []int64{2, 2}, nil},  // the stem, odd size
		{2, 64, 72, 1, 47, 47, 3, []int64{1, 1, 1, 1}, []int64{2, 2}, nil}, // three k blocks
		{3, 8, 13, 1, 65, 61, 5, []int64{2, 1, 0, 2}, []int64{2, 3}, nil},
		{1, 12, 16, 2, 31, 30, 3, []int64{0, 1, 1, 0}, []int64{2, 2}, nil},
		{2, 16, 24, 1, 29, 61, 3, []int64{2, 2, 2, 2}, nil, []int64{2, 2}},
		{1, 16, 24, 1, 37, 71, 3, []int64{2, 1, 3, 2}, []int64{2, 2}, []int64{2, 3}},
		{2, 40, 24, 1, 51, 49, 2, []int64{0, 0, 1, 1}, []int64{2, 2}, nil},
		{1, 8, 16, 1, 21, 101, 3, []int64{1, 1, 0, 0}, []int64{2, 2}, nil}, // wide rows: permutes
		{2, 6, 16, 1, 40, 112, 7, []int64{3, 3, 3, 3}, []int64{2, 2}, nil},
		{2, 16, 24, 1, 0, 1100, 5, []int64{2, 1}, []int64{2}, nil}, // 1-D
		{1, 8, 8, 1, 0, 300, 3, []int64{2, 2}, nil, []int64{2}},
		// Rows that share their padding (sharedRows), on either side the
		// wider, and kernels of 1, 2, 4 and 6.
		{1, 16, 16, 1, 20, 21, 1, []int64{1, 0, 0, 2}, nil, nil},
		{1, 8, 16, 1, 23, 30, 2, []int64{1, 1, 0, 0}, nil, nil},
		{1, 8, 16, 1, 19, 22, 4, []int64{1, 2, 2, 1}, nil, nil},
		{1, 8, 16, 1, 17, 40, 6, []int64{2, 3, 3, 2}, nil, nil},
		{1, 16, 24, 1, 28, 28, 5, []int64{2, 2, 2, 2}, nil, nil},
		{1, 8, 16, 1, 30, 33, 3, []int64{1, 0, 2, 3}, nil, nil},
	}
	for si, sp := range specs {
		for _, withBias := range []bool{false, true} {
			for _, relu := range []bool{false, true} {
				xShape, wShape := []int{sp.batch, sp.c, sp.h, sp.w}, []int{sp.m, sp.c / sp.group, sp.k, sp.k}
				if sp.h == 0 { // 1-D
					xShape, wShape = []int{sp.batch, sp.c, sp.w}, []int{sp.m, sp.c / sp.group, sp.k}
				}
				size := func(shape []int) int {
					n := 1
					for _, d := range shape {
						n *= d
					}
					return n
				}
				x := onnx.NewTensor(xShape, randFloats(r, size(xShape)))
				w := onnx.NewTensor(wShape, randFloats(r, size(wShape)))
				in := []*onnx.Tensor{x, w}
				if withBias {
					in = append(in, onnx.NewTensor([]int{sp.m}, randFloats(r, sp.m)))
				}
				at := map[string]any{"pads": sp.pads, "group": sp.group}
				if sp.strides != nil {
					at["strides"] = sp.strides
				}
				if sp.dils != nil {
					at["dilations"] = sp.dils
				}
				n := node("Conv", at, "x", "w", "b")
				attrs, err := readWindowAttrs(n)
				if err != nil {
					t.Fatal(err)
				}
				for _, threads := range []int{1, 2} {
					name := fmt.Sprintf("spec %d bias %v relu %v threads %d", si, withBias, relu, threads)
					run := func(kern microKernel) ([]float32, bool) {
						saved := activeKernel
						activeKernel = kern
						defer func() { activeKernel = saved }()
						cn := &convNode{w: attrs, group: sp.group, relu: relu, implicit: new(atomic.Pointer[implicitPlan])}
						out, err := cn.run(&runCtx{threads: threads}, in)
						if err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						return out[0].Floats(), cn.implicit.Load() != nil
					}
					for _, kern := range kerns {
						noRows := kern
						noRows.packRows = nil
						want, _ := run(noRows)
						got, implicit := run(kern)
						if !implicit {
							t.Fatalf("%s %s: the convolution did not take the implicit path", name, kern.name)
						}
						for i := range want {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%s %s: y[%d] = %g without im2col, %g with", name, kern.name, i, got[i], want[i])
							}
						}
					}
				}
			}
		}
	}
}
