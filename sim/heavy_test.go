package sim

import (
	"amq/onnx"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

// randFloats returns n values uniform in [-1, 1).
func randFloats(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = r.Float32()*2 - 1
	}
	return v
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

// naiveGemm is the textbook definition, in float64.
func naiveGemm(m, n, k int, alpha float64, a []float32, transA bool, b []float32, transB bool, beta float64, c []float32) []float64 {
	out := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				av := a[i*k+p]
				if transA {
					av = a[p*m+i]
				}
				bv := b[p*n+j]
				if transB {
					bv = b[j*k+p]
				}
				s += float64(av) * float64(bv)
			}
			out[i*n+j] = alpha*s + beta*float64(c[i*n+j])
		}
	}
	return out
}

func TestSgemmKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	shapes := [][3]int{{1, 1, 1}, {1, 37, 5}, {7, 1, 9}, {6, 16, 1}, {13, 17, 19}, {8, 32, 300}, {33, 70, 257}, {121, 45, 64}, {5, 3100, 3}, {130, 9, 600}}
	for _, kern := range availableKernels() {
		for _, sh := range shapes {
			for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
				for _, threads := range []int{1, 2, 3} {
					m, n, k := sh[0], sh[1], sh[2]
					a, b, c := randFloats(r, m*k), randFloats(r, k*n), randFloats(r, m*n)
					alpha, beta := float32(0.75), float32(-0.5)
					want := naiveGemm(m, n, k, float64(alpha), a, tr[0], b, tr[1], float64(beta), c)
					am := matrix{data: a, ld: k, trans: tr[0]}
					if tr[0] {
						am.ld = m
					}
					bm := matrix{data: b, ld: n, trans: tr[1]}
					if tr[1] {
						bm.ld = k
					}
					got := append([]float32(nil), c...)
					sgemmWith(kern, m, n, k, alpha, am, bm, beta, got, n, threads)
					if i := closeTo(got, want, 1e-4, 1e-4*math.Sqrt(float64(k))); i >= 0 {
						t.Fatalf("%s m=%d n=%d k=%d trans=%v threads=%d: C[%d] = %g, want %g", kern.name, m, n, k, tr, threads, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestSgemmBetaZeroIgnoresNaN checks the BLAS rule that beta = 0 overwrites C.
func TestSgemmBetaZeroIgnoresNaN(t *testing.T) {
	for _, kern := range availableKernels() {
		c := []float32{float32(math.NaN()), float32(math.Inf(1))}
		sgemmWith(kern, 1, 2, 1, 1, matrix{data: []float32{2}, ld: 1}, matrix{data: []float32{3, 4}, ld: 2}, 0, c, 2, 1)
		if c[0] != 6 || c[1] != 8 {
			t.Errorf("%s: got %v, want [6 8]", kern.name, c)
		}
	}
}

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

func node(op string, attrs map[string]any, inputs ...string) *onnx.Node {
	n := &onnx.Node{Name: op + "_test", OpType: op, Inputs: inputs, Outputs: []string{"y"}}
	for k, v := range attrs {
		n.SetAttr(k, v)
	}
	return n
}

func ints64(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
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

func flatIndex(idx, shape []int) int {
	f := 0
	for i, v := range idx {
		f = f*shape[i] + v
	}
	return f
}

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

// refConvTranspose scatters every input value times the kernel into the
// output, the definition of the transposed convolution.
func refConvTranspose(sp convSpec, x, w, bias []float64) ([]float64, []int) {
	nd := len(sp.in)
	out := sp.outShape
	if out == nil {
		out = make([]int, nd)
		for i := range out {
			out[i] = sp.s[i]*(sp.in[i]-1) + sp.opd[i] + (sp.k[i]-1)*sp.d[i] + 1 - sp.padB[i] - sp.padE[i]
		}
	}
	cg, mg := sp.c/sp.group, sp.m/sp.group
	ys := append([]int{sp.n, sp.m}, out...)
	y := make([]float64, onnx.NumElems(ys))
	xs := append([]int{sp.n, sp.c}, sp.in...)
	ws := append([]int{sp.c, mg}, sp.k...)
	opos := make([]int, nd)
	for b := 0; b < sp.n; b++ {
		for ci := 0; ci < sp.c; ci++ {
			forIndex(sp.in, func(ip []int) {
				xv := x[flatIndex(append([]int{b, ci}, ip...), xs)]
				for mo := 0; mo < mg; mo++ {
					forIndex(sp.k, func(kp []int) {
						for j := range kp {
							opos[j] = ip[j]*sp.s[j] - sp.padB[j] + kp[j]*sp.d[j]
							if opos[j] < 0 || opos[j] >= out[j] {
								return
							}
						}
						yi := flatIndex(append([]int{b, ci/cg*mg + mo}, opos...), ys)
						y[yi] += xv * w[flatIndex(append([]int{ci, mo}, kp...), ws)]
					})
				}
			})
		}
	}
	if bias != nil {
		per := len(y) / (sp.n * sp.m)
		for i := range y {
			y[i] += bias[(i/per)%sp.m]
		}
	}
	return y, ys
}

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

func TestConvRandomFloat(t *testing.T) {
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

func TestConvTransposeRandomFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for iter := 0; iter < 150; iter++ {
		sp, _ := randomConvSpec(r, true)
		mg := sp.m / sp.group
		x := randFloats(r, sp.n*sp.c*onnx.NumElems(sp.in))
		w := randFloats(r, sp.c*mg*onnx.NumElems(sp.k))
		attrs := sp.attrs("NOTSET", true)
		if iter%3 == 0 {
			// output_shape instead of pads: the total padding follows from
			// it and the odd unit goes first (ONNX specification).
			sp.outShape = make([]int, len(sp.in))
			for i := range sp.in {
				full := sp.s[i]*(sp.in[i]-1) + sp.opd[i] + (sp.k[i]-1)*sp.d[i] + 1
				sp.outShape[i] = max(1, full-r.IntN(3))
				total := max(0, full-sp.outShape[i])
				sp.padB[i], sp.padE[i] = total-total/2, total/2
			}
			delete(attrs, "pads")
			attrs["output_shape"] = ints64(sp.outShape)
		}
		bias := randFloats(r, sp.m)
		in := []*onnx.Tensor{
			onnx.NewTensor(append([]int{sp.n, sp.c}, sp.in...), x),
			onnx.NewTensor(append([]int{sp.c, mg}, sp.k...), w),
			onnx.NewTensor([]int{sp.m}, bias),
		}
		want, shape := refConvTranspose(sp, toF64(x), toF64(w), toF64(bias))
		out, err := runOp(t, 13, node("ConvTranspose", attrs, "x", "w", "b"), nil, in...)
		if err != nil {
			t.Fatalf("case %d %+v: %v", iter, sp, err)
		}
		if fmt.Sprint(out[0].Shape) != fmt.Sprint(shape) {
			t.Fatalf("case %d %+v: shape %v, want %v", iter, sp, out[0].Shape, shape)
		}
		if i := closeTo(out[0].Floats(), want, 1e-5, 1e-5); i >= 0 {
			t.Fatalf("case %d %+v: y[%d] = %g, want %g", iter, sp, i, out[0].Floats()[i], want[i])
		}
	}
}

// randInt8 returns n values uniform over all of int8.
func randInt8(r *rand.Rand, n int) []int8 {
	v := make([]int8, n)
	for i := range v {
		v[i] = int8(r.IntN(256) - 128)
	}
	return v
}

func randInt32(r *rand.Rand, n, bound int) []int32 {
	v := make([]int32, n)
	for i := range v {
		v[i] = int32(r.IntN(2*bound+1) - bound)
	}
	return v
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

func TestConvInt8Exact(t *testing.T) {
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

func TestGemmMatMulInt8Exact(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for iter := 0; iter < 60; iter++ {
		m, k, n := 1+r.IntN(20), 1+r.IntN(300), 1+r.IntN(40)
		offset := r.IntN(256) - 128
		transA, transB := r.IntN(2) == 1, r.IntN(2) == 1
		a, b := randInt8(r, m*k), randInt8(r, k*n)
		bias := randInt32(r, n, 1<<24)
		af, bf, cf := intRef(a, offset, b, bias)
		want := make([]float64, m*n)
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				s := cf[j]
				for p := 0; p < k; p++ {
					av, bv := af[i*k+p], bf[p*n+j]
					if transA {
						av = af[p*m+i]
					}
					if transB {
						bv = bf[j*k+p]
					}
					s += av * bv
				}
				want[i*n+j] = s
			}
		}
		ashape, bshape := []int{m, k}, []int{k, n}
		if transA {
			ashape = []int{k, m}
		}
		if transB {
			bshape = []int{n, k}
		}
		attrs := map[string]any{"transA": boolInt(transA), "transB": boolInt(transB)}
		out, err := runOp(t, 11, node("Gemm", attrs, "x", "w", "c"), []*onnx.Node{quantProducer(offset)},
			onnx.NewTensor(ashape, a), onnx.NewTensor(bshape, b), onnx.NewTensor([]int{n}, bias))
		if err != nil {
			t.Fatal(err)
		}
		if i := exactInt32(out[0], want); i >= 0 {
			t.Fatalf("Gemm m=%d k=%d n=%d trans=%v,%v offset %d: y[%d] = %v, want %v", m, k, n, transA, transB, offset, i, out[0].Data.([]int32)[i], want[i])
		}
		if transA || transB {
			continue
		}
		// MatMul on a [2, m, k] activation and the [k, n] weight: the same
		// sums without the bias, for both batch items.
		a2 := append(append([]int8(nil), a...), a...)
		out, err = runOp(t, 11, node("MatMul", nil, "x", "w"), []*onnx.Node{quantProducer(offset)},
			onnx.NewTensor([]int{2, m, k}, a2), onnx.NewTensor([]int{k, n}, b))
		if err != nil {
			t.Fatal(err)
		}
		want2 := make([]float64, 0, 2*m*n)
		for _, half := range []int{0, 1} {
			_ = half
			for i, v := range want {
				want2 = append(want2, v-cf[i%n])
			}
		}
		if i := exactInt32(out[0], want2); i >= 0 || fmt.Sprint(out[0].Shape) != fmt.Sprint([]int{2, m, n}) {
			t.Fatalf("MatMul m=%d k=%d n=%d offset %d: shape %v, mismatch at %d", m, k, n, offset, out[0].Shape, i)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestInt8Saturates checks the documented choice: exact int64 sums,
// clamped to int32 when they leave its range.
func TestInt8Saturates(t *testing.T) {
	k := 70000
	a := make([]int8, k)
	b := make([]int8, k)
	for i := range a {
		a[i], b[i] = 127, -128
	}
	out, err := runOp(t, 11, node("MatMul", nil, "x", "w"), []*onnx.Node{quantProducer(-128)},
		onnx.NewTensor([]int{1, k}, a), onnx.NewTensor([]int{k, 1}, b))
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Data.([]int32)[0]; got != math.MinInt32 {
		t.Errorf("sum of %d products of 255*-128 = %d, want saturation to %d", k, got, math.MinInt32)
	}
}

// TestHeavyTorch compares with outputs PyTorch computed for the same
// inputs (testdata/make_heavy_torch.py wrote them).
func TestHeavyTorch(t *testing.T) {
	raw, err := os.ReadFile("testdata/heavy_torch.json")
	if err != nil {
		t.Fatal(err)
	}
	type jt struct {
		Shape []int     `json:"shape"`
		Data  []float64 `json:"data"`
	}
	var file struct {
		Cases []struct {
			Name    string         `json:"name"`
			Op      string         `json:"op"`
			Attrs   map[string]any `json:"attrs"`
			Inputs  []*jt          `json:"inputs"`
			Outputs []*jt          `json:"outputs"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Cases) < 20 {
		t.Fatalf("only %d cases in the fixture", len(file.Cases))
	}
	for _, tc := range file.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			attrs := map[string]any{}
			for k, v := range tc.Attrs {
				switch v := v.(type) {
				case float64:
					if k == "alpha" || k == "beta" {
						attrs[k] = float32(v)
					} else {
						attrs[k] = int64(v)
					}
				case []any:
					var iv []int64
					for _, x := range v {
						iv = append(iv, int64(x.(float64)))
					}
					attrs[k] = iv
				}
			}
			var in []*onnx.Tensor
			var names []string
			for i, x := range tc.Inputs {
				if x == nil {
					continue
				}
				f := make([]float32, len(x.Data))
				for j, v := range x.Data {
					f[j] = float32(v)
				}
				in = append(in, onnx.NewTensor(x.Shape, f))
				names = append(names, fmt.Sprintf("in%d", i))
			}
			n := node(tc.Op, attrs, names...)
			if len(tc.Outputs) == 2 {
				n.Outputs = []string{"y", "indices"}
			}
			out, err := runOp(t, 13, n, nil, in...)
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range tc.Outputs {
				if fmt.Sprint(out[k].Shape) != fmt.Sprint(want.Shape) {
					t.Fatalf("output %d: shape %v, PyTorch %v", k, out[k].Shape, want.Shape)
				}
				if idx, ok := out[k].Data.([]int64); ok {
					for j, v := range idx {
						if float64(v) != want.Data[j] {
							t.Fatalf("indices[%d] = %d, PyTorch %g", j, v, want.Data[j])
						}
					}
					continue
				}
				if i := closeTo(out[k].Floats(), want.Data, 1e-4, 1e-5); i >= 0 {
					t.Fatalf("output %d: y[%d] = %g, PyTorch %g", k, i, out[k].Floats()[i], want.Data[i])
				}
			}
		})
	}
}

// refPool is pooling by its definition. It returns the outputs, the
// row-major flat input index of each maximum, and the output shape.
func refPool(x []float64, n, c int, in, k, s, d, pb, pe []int, ceil, isMax, includePad bool) ([]float64, []int, []int) {
	nd := len(in)
	out := make([]int, nd)
	for i := range out {
		span := in[i] + pb[i] + pe[i] - (k[i]-1)*d[i] - 1
		out[i] = span/s[i] + 1
		if ceil && span%s[i] != 0 && out[i]*s[i] < in[i]+pb[i] {
			out[i]++
		}
	}
	var y []float64
	var arg []int
	pos := make([]int, nd)
	for p := 0; p < n*c; p++ {
		forIndex(out, func(op []int) {
			best, bestAt, sum, cnt, padded := math.Inf(-1), -1, 0.0, 0, 1
			for j := range op {
				st, cntj := op[j]*s[j]-pb[j], 0
				for t := 0; t < k[j]; t++ {
					if st+t*d[j] < in[j]+pe[j] {
						cntj++
					}
				}
				padded *= cntj
			}
			forIndex(k, func(kp []int) {
				for j := range kp {
					pos[j] = op[j]*s[j] - pb[j] + kp[j]*d[j]
					if pos[j] < 0 || pos[j] >= in[j] {
						return
					}
				}
				at := p*onnx.NumElems(in) + flatIndex(pos, in)
				v := x[at]
				if v > best {
					best, bestAt = v, at
				}
				sum += v
				cnt++
			})
			if isMax {
				y = append(y, best)
				arg = append(arg, bestAt)
			} else if includePad {
				y = append(y, sum/float64(padded))
			} else {
				y = append(y, sum/float64(cnt))
			}
		})
	}
	return y, arg, append([]int{n, c}, out...)
}

func TestPoolRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for iter := 0; iter < 200; iter++ {
		isMax := iter%2 == 0
		nd := 1 + r.IntN(3)
		n, c := 1+r.IntN(2), 1+r.IntN(3)
		var in, k, s, d, pb, pe []int
		for i := 0; i < nd; i++ {
			kk := 1 + r.IntN(3)
			dd := 1
			if isMax {
				dd = 1 + r.IntN(2)
			}
			in = append(in, (kk-1)*dd+1+r.IntN(9))
			k, s, d = append(k, kk), append(s, 1+r.IntN(3)), append(d, dd)
			pb, pe = append(pb, r.IntN(kk)), append(pe, r.IntN(kk))
		}
		ceil, includePad := r.IntN(2) == 1, r.IntN(2) == 1
		x := randFloats(r, n*c*onnx.NumElems(in))
		want, arg, shape := refPool(toF64(x), n, c, in, k, s, d, pb, pe, ceil, isMax, includePad)
		attrs := map[string]any{"kernel_shape": ints64(k), "strides": ints64(s),
			"pads": ints64(append(append([]int(nil), pb...), pe...)), "ceil_mode": boolInt(ceil)}
		op := "AveragePool"
		if isMax {
			op = "MaxPool"
			attrs["dilations"] = ints64(d)
		} else {
			attrs["count_include_pad"] = boolInt(includePad)
		}
		nn := node(op, attrs, "x")
		if isMax {
			nn.Outputs = []string{"y", "i"}
		}
		out, err := runOp(t, 12, nn, nil, onnx.NewTensor(append([]int{n, c}, in...), x))
		desc := fmt.Sprintf("%s in=%v k=%v s=%v d=%v pads=%v/%v ceil=%v cip=%v", op, in, k, s, d, pb, pe, ceil, includePad)
		if err != nil {
			t.Fatalf("%s: %v", desc, err)
		}
		if fmt.Sprint(out[0].Shape) != fmt.Sprint(shape) {
			t.Fatalf("%s: shape %v, want %v", desc, out[0].Shape, shape)
		}
		if i := closeTo(out[0].Floats(), want, 1e-6, 1e-6); i >= 0 {
			t.Fatalf("%s: y[%d] = %g, want %g", desc, i, out[0].Floats()[i], want[i])
		}
		if isMax {
			for i, v := range out[1].Int64s() {
				if int(v) != arg[i] {
					t.Fatalf("%s: indices[%d] = %d, want %d", desc, i, v, arg[i])
				}
			}
		}
	}
}

// TestMaxPoolStorageOrder checks column-major indices on a 2-D plane:
// the index of (h, w) is h + w*H.
func TestMaxPoolStorageOrder(t *testing.T) {
	x := []float32{1, 9, 3, 4, 5, 6} // [1, 1, 2, 3], maximum 9 at h=0, w=1
	nn := node("MaxPool", map[string]any{"kernel_shape": []int64{2, 3}, "storage_order": 1}, "x")
	nn.Outputs = []string{"y", "i"}
	out, err := runOp(t, 12, nn, nil, onnx.NewTensor([]int{1, 1, 2, 3}, x))
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Floats()[0] != 9 || out[1].Int64s()[0] != 0+1*2 {
		t.Errorf("got max %v at %v, want 9 at 2", out[0].Floats(), out[1].Int64s())
	}
}

func TestGemmFloatBroadcastC(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	m, k, n := 7, 19, 11
	a, b := randFloats(r, m*k), randFloats(r, k*n)
	for _, cs := range [][]int{nil, {}, {1}, {n}, {1, n}, {m, 1}, {m, n}, {1, 1}} {
		var in = []*onnx.Tensor{onnx.NewTensor([]int{m, k}, a), onnx.NewTensor([]int{k, n}, b)}
		full := make([]float32, m*n)
		if cs != nil {
			cd := randFloats(r, onnx.NumElems(cs))
			in = append(in, onnx.NewTensor(cs, cd))
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					ii, jj := i, j
					if len(cs) < 2 || cs[0] == 1 {
						ii = 0
					}
					if len(cs) == 0 || cs[len(cs)-1] == 1 {
						jj = 0
					}
					w := 1
					if len(cs) > 0 {
						w = cs[len(cs)-1]
					}
					full[i*n+j] = cd[ii*w+jj]
				}
			}
		}
		want := naiveGemm(m, n, k, 1.5, a, false, b, false, -0.25, full)
		out, err := runOp(t, 13, node("Gemm", map[string]any{"alpha": float32(1.5), "beta": float32(-0.25)}, "a", "b", "c"), nil, in...)
		if err != nil {
			t.Fatalf("C %v: %v", cs, err)
		}
		if i := closeTo(out[0].Floats(), want, 1e-5, 1e-5); i >= 0 {
			t.Fatalf("C %v: y[%d] = %g, want %g", cs, i, out[0].Floats()[i], want[i])
		}
	}
	_, err := runOp(t, 13, node("Gemm", nil, "a", "b", "c"), nil, onnx.NewTensor([]int{m, k}, a), onnx.NewTensor([]int{k, n}, b), onnx.NewTensor([]int{2, n}, make([]float32, 2*n)))
	if err == nil {
		t.Error("C [2, n] was accepted for m = 7")
	}
}

func TestMatMulBroadcastRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for iter := 0; iter < 60; iter++ {
		m, k, n := 1+r.IntN(9), 1+r.IntN(40), 1+r.IntN(9)
		// Batch shapes of rank 0..3 with dims 1 or d, broadcast against
		// each other.
		rank := r.IntN(4)
		var ab, bb, ob []int
		for i := 0; i < rank; i++ {
			d := 1 + r.IntN(3)
			da, db := d, d
			switch r.IntN(3) {
			case 0:
				da = 1
			case 1:
				db = 1
			}
			ab, bb, ob = append(ab, da), append(bb, db), append(ob, d)
		}
		if r.IntN(2) == 0 && len(bb) > 0 {
			// B with a shorter batch rank: the missing axis takes A's size.
			bb, ob = bb[1:], append([]int{ab[0]}, ob[1:]...)
		}
		as, bs := append(append([]int(nil), ab...), m, k), append(append([]int(nil), bb...), k, n)
		a, b := randFloats(r, onnx.NumElems(as)), randFloats(r, onnx.NumElems(bs))
		// Reference: numpy semantics by index arithmetic.
		want := []float64{}
		forIndex(ob, func(bi []int) {
			ia, ib := 0, 0
			for i := range bi {
				ia = ia*ab[i] + min(bi[i], ab[i]-1)
			}
			off := len(ob) - len(bb)
			for i := range bb {
				ib = ib*bb[i] + min(bi[off+i], bb[i]-1)
			}
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					var s float64
					for p := 0; p < k; p++ {
						s += float64(a[ia*m*k+i*k+p]) * float64(b[ib*k*n+p*n+j])
					}
					want = append(want, s)
				}
			}
		})
		out, err := runOp(t, 13, node("MatMul", nil, "a", "b"), nil, onnx.NewTensor(as, a), onnx.NewTensor(bs, b))
		if err != nil {
			t.Fatalf("A %v B %v: %v", as, bs, err)
		}
		if wantShape := append(append([]int(nil), ob...), m, n); fmt.Sprint(out[0].Shape) != fmt.Sprint(wantShape) {
			t.Fatalf("A %v B %v: shape %v, want %v", as, bs, out[0].Shape, wantShape)
		}
		if i := closeTo(out[0].Floats(), want, 1e-5, 1e-5); i >= 0 {
			t.Fatalf("A %v B %v: y[%d] = %g, want %g", as, bs, i, out[0].Floats()[i], want[i])
		}
	}
}

// TestInt8ExactBeyondFloat32 uses sums far above 2^24, where a plain
// float32 accumulation loses the low bits, to check that the int8 path
// stays exact.
func TestInt8ExactBeyondFloat32(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	m, k, n := 3, 3001, 37
	a, b := make([]int8, m*k), make([]int8, k*n)
	for i := range a {
		a[i] = int8(122 + r.IntN(6)) // minus offset -128: 250..255
	}
	for i := range b {
		b[i] = int8(120 + r.IntN(8))
	}
	out, err := runOp(t, 11, node("MatMul", nil, "x", "w"), []*onnx.Node{quantProducer(-128)},
		onnx.NewTensor([]int{m, k}, a), onnx.NewTensor([]int{k, n}, b))
	if err != nil {
		t.Fatal(err)
	}
	got := out[0].Data.([]int32)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var want int64
			for p := 0; p < k; p++ {
				want += int64(int(a[i*k+p])+128) * int64(b[p*n+j])
			}
			if want < 1<<26 {
				t.Fatalf("test sum %d is not beyond float32's exact range", want)
			}
			if int64(got[i*n+j]) != want {
				t.Fatalf("y[%d,%d] = %d, want %d", i, j, got[i*n+j], want)
			}
		}
	}
}

// TestHeavyRejectsBadInput checks that malformed nodes and inputs give
// errors (not panics or wrong answers).
func TestHeavyRejectsBadInput(t *testing.T) {
	f := func(shape ...int) *onnx.Tensor { return onnx.NewTensor(shape, make([]float32, onnx.NumElems(shape))) }
	i8 := func(shape ...int) *onnx.Tensor { return onnx.NewTensor(shape, make([]int8, onnx.NumElems(shape))) }
	cases := []struct {
		name  string
		n     *onnx.Node
		in    []*onnx.Tensor
		build bool // the error comes from the builder
	}{
		{"conv unknown attribute", node("Conv", map[string]any{"foo": 1}, "x", "w"), nil, true},
		{"conv bad auto_pad", node("Conv", map[string]any{"auto_pad": "SAME"}, "x", "w"), nil, true},
		{"conv zero stride", node("Conv", map[string]any{"strides": []int64{0, 1}}, "x", "w"), nil, true},
		{"conv group 0", node("Conv", map[string]any{"group": 0}, "x", "w"), nil, true},
		{"conv channels", node("Conv", nil, "x", "w"), []*onnx.Tensor{f(1, 3, 5, 5), f(4, 2, 3, 3)}, false},
		{"conv group", node("Conv", map[string]any{"group": 2}, "x", "w"), []*onnx.Tensor{f(1, 3, 5, 5), f(4, 1, 3, 3)}, false},
		{"conv rank", node("Conv", nil, "x", "w"), []*onnx.Tensor{f(1, 3, 5, 5), f(4, 3, 3)}, false},
		{"conv kernel too big", node("Conv", nil, "x", "w"), []*onnx.Tensor{f(1, 1, 2, 2), f(1, 1, 3, 3)}, false},
		{"conv kernel_shape", node("Conv", map[string]any{"kernel_shape": []int64{2, 2}}, "x", "w"), []*onnx.Tensor{f(1, 1, 5, 5), f(1, 1, 3, 3)}, false},
		{"conv pads length", node("Conv", map[string]any{"pads": []int64{1, 1}}, "x", "w"), []*onnx.Tensor{f(1, 1, 5, 5), f(1, 1, 3, 3)}, false},
		{"conv bias", node("Conv", nil, "x", "w", "b"), []*onnx.Tensor{f(1, 1, 5, 5), f(2, 1, 3, 3), f(3)}, false},
		{"conv 4-d spatial", node("Conv", nil, "x", "w"), []*onnx.Tensor{f(1, 1, 2, 2, 2, 2), f(1, 1, 1, 1, 1, 1)}, false},
		{"conv double", node("Conv", nil, "x", "w"), []*onnx.Tensor{onnx.NewTensor([]int{1, 1, 1}, []float64{1}), f(1, 1, 1)}, false},
		{"conv int8 float weight", node("Conv", nil, "x", "w"), []*onnx.Tensor{i8(1, 1, 3), f(1, 1, 1)}, false},
		{"conv float int8 weight", node("Conv", nil, "x", "w"), []*onnx.Tensor{f(1, 1, 3), i8(1, 1, 1)}, false},
		{"convtranspose channels", node("ConvTranspose", nil, "x", "w"), []*onnx.Tensor{f(1, 3, 5), f(2, 1, 3)}, false},
		{"convtranspose output_shape", node("ConvTranspose", map[string]any{"output_shape": []int64{4, 4, 4}}, "x", "w"), []*onnx.Tensor{f(1, 1, 5, 5), f(1, 1, 3, 3)}, false},
		{"gemm inner", node("Gemm", nil, "a", "b"), []*onnx.Tensor{f(2, 3), f(4, 5)}, false},
		{"gemm rank", node("Gemm", nil, "a", "b"), []*onnx.Tensor{f(2, 3, 1), f(3, 5)}, false},
		{"gemm int8 alpha", node("Gemm", map[string]any{"alpha": float32(2)}, "a", "b"), []*onnx.Tensor{i8(2, 3), i8(3, 5)}, false},
		{"matmul inner", node("MatMul", nil, "a", "b"), []*onnx.Tensor{f(2, 3), f(4, 5)}, false},
		{"matmul batch", node("MatMul", nil, "a", "b"), []*onnx.Tensor{f(2, 2, 3), f(3, 3, 5)}, false},
		{"matmul scalar", node("MatMul", nil, "a", "b"), []*onnx.Tensor{f(), f(3)}, false},
		{"maxpool no kernel", node("MaxPool", nil, "x"), nil, true},
		{"maxpool storage_order", node("MaxPool", map[string]any{"kernel_shape": []int64{2}, "storage_order": 2}, "x"), nil, true},
		{"averagepool dilations before 19", node("AveragePool", map[string]any{"kernel_shape": []int64{2}, "dilations": []int64{2}}, "x"), nil, true},
		{"maxpool rank", node("MaxPool", map[string]any{"kernel_shape": []int64{2, 2}}, "x"), []*onnx.Tensor{f(1, 1, 5)}, false},
		{"maxpool pad as large as window", node("MaxPool", map[string]any{"kernel_shape": []int64{2}, "pads": []int64{2, 0}}, "x"), []*onnx.Tensor{f(1, 1, 5)}, false},
		{"averagepool int", node("AveragePool", map[string]any{"kernel_shape": []int64{2}}, "x"), []*onnx.Tensor{i8(1, 1, 5)}, false},
		{"globalpool rank", node("GlobalAveragePool", nil, "x"), []*onnx.Tensor{f(2, 3)}, false},
	}
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

// TestDeployConvSession runs AscendQuant -> int8 Conv in a Session, the
// way a deploy model arrives, with the offset stored as a float and as an
// int attribute, against an independent quantize-and-convolve reference.
func TestDeployConvSession(t *testing.T) {
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
