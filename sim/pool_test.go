package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"amq/onnx"
)

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

// TestPoolMatchesDefinition checks MaxPool (values and indices) and
// AveragePool on random 1-D to 3-D windows, with ceil_mode,
// count_include_pad and MaxPool's dilations, against refPool.
func TestPoolMatchesDefinition(t *testing.T) {
	t.Parallel()
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

// TestAveragePoolSameBitsAsDefinition checks AveragePool bit for bit
// against refPool, whose float64 sums take each window's taps in the same
// order, on random 1-D to 3-D windows with pads, ceil_mode,
// count_include_pad and dilations, rows long enough for the four-output
// groups, on float32 and float64 inputs.
func TestAveragePoolSameBitsAsDefinition(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(61, 62))
	for range 200 {
		nd := 1 + r.IntN(3)
		n, c := 1+r.IntN(2), 1+r.IntN(3)
		var in, k, s, d, pb, pe []int
		for i := range nd {
			kk, dd := 1+r.IntN(3), 1+r.IntN(2)
			extra := r.IntN(6)
			if i == nd-1 {
				extra = r.IntN(30)
			}
			in = append(in, (kk-1)*dd+1+extra)
			k, s, d = append(k, kk), append(s, 1+r.IntN(3)), append(d, dd)
			pb, pe = append(pb, r.IntN(kk)), append(pe, r.IntN(kk))
		}
		ceil, includePad := r.IntN(2) == 1, r.IntN(2) == 1
		x := randFloats(r, n*c*onnx.NumElems(in))
		want, _, shape := refPool(toF64(x), n, c, in, k, s, d, pb, pe, ceil, false, includePad)
		attrs := map[string]any{"kernel_shape": ints64(k), "strides": ints64(s), "dilations": ints64(d),
			"pads": ints64(append(append([]int(nil), pb...), pe...)), "ceil_mode": boolInt(ceil), "count_include_pad": boolInt(includePad)}
		desc := fmt.Sprintf("in=%v k=%v s=%v d=%v pads=%v/%v ceil=%v cip=%v", in, k, s, d, pb, pe, ceil, includePad)
		for _, xt := range []*onnx.Tensor{onnx.NewTensor(append([]int{n, c}, in...), x), onnx.NewTensor(append([]int{n, c}, in...), toF64(x))} {
			out, err := runOp(t, 19, node("AveragePool", attrs, "x"), nil, xt)
			if err != nil {
				t.Fatalf("%s: %v", desc, err)
			}
			if fmt.Sprint(out[0].Shape) != fmt.Sprint(shape) {
				t.Fatalf("%s: shape %v, want %v", desc, out[0].Shape, shape)
			}
			for i, w := range want {
				switch got := out[0].Data.(type) {
				case []float32:
					if math.Float32bits(got[i]) != math.Float32bits(float32(w)) {
						t.Fatalf("%s FLOAT: y[%d] = %v, want %v", desc, i, got[i], float32(w))
					}
				case []float64:
					if math.Float64bits(got[i]) != math.Float64bits(w) {
						t.Fatalf("%s DOUBLE: y[%d] = %v, want %v", desc, i, got[i], w)
					}
				}
			}
		}
	}
}

// TestMaxPoolStorageOrder checks column-major indices on a 2-D plane:
// the index of (h, w) is h + w*H.
func TestMaxPoolStorageOrder(t *testing.T) {
	t.Parallel()
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

// TestMaxPool2DMatchesGeneric compares the fast float32 MaxPool path with
// the generic one (itself checked against the definition in
// TestPoolMatchesDefinition) bit for bit, on random 1-D and 2-D geometries and on
// ResNet's stem pool, with NaN and signed zeros among the inputs: the fast
// path must visit each window's taps in the same order.
func TestMaxPool2DMatchesGeneric(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(21, 22))
	type spec struct {
		in, k, s, pb, pe []int
		ceil             bool
	}
	specs := []spec{{in: []int{112, 112}, k: []int{3, 3}, s: []int{2, 2}, pb: []int{1, 1}, pe: []int{1, 1}},
		// Rows of several vectors of 16 outputs with tails, for maxRowVec.
		{in: []int{5, 57}, k: []int{3, 3}, s: []int{1, 1}, pb: []int{1, 1}, pe: []int{1, 1}},
		{in: []int{9, 113}, k: []int{3, 3}, s: []int{2, 2}, pb: []int{1, 1}, pe: []int{0, 1}, ceil: true},
		{in: []int{4, 66}, k: []int{2, 2}, s: []int{2, 2}, pb: []int{0, 0}, pe: []int{0, 0}},
		{in: []int{6, 70}, k: []int{5, 5}, s: []int{1, 2}, pb: []int{2, 2}, pe: []int{2, 2}},
		{in: []int{101}, k: []int{3}, s: []int{2}, pb: []int{1}, pe: []int{1}, ceil: true},
		{in: []int{3, 35}, k: []int{1, 4}, s: []int{1, 1}, pb: []int{0, 3}, pe: []int{0, 0}},
	}
	for range 300 {
		nd := 1 + r.IntN(2)
		var sp spec
		for range nd {
			k := 1 + r.IntN(4)
			sp.k, sp.s = append(sp.k, k), append(sp.s, 1+r.IntN(3))
			sp.in = append(sp.in, k+r.IntN(12))
			sp.pb, sp.pe = append(sp.pb, r.IntN(k)), append(sp.pe, r.IntN(k))
		}
		sp.ceil = r.IntN(2) == 1
		specs = append(specs, sp)
	}
	special := []float32{float32(math.NaN()), 0, float32(math.Copysign(0, -1)), float32(math.Inf(-1))}
	for _, sp := range specs {
		n, c := 1+r.IntN(2), 1+r.IntN(3)
		x := randFloats(r, n*c*onnx.NumElems(sp.in))
		for i := range x {
			if r.IntN(8) == 0 {
				x[i] = special[r.IntN(len(special))]
			}
		}
		attrs := map[string]any{"kernel_shape": ints64(sp.k), "strides": ints64(sp.s),
			"pads": ints64(append(append([]int(nil), sp.pb...), sp.pe...)), "ceil_mode": boolInt(sp.ceil)}
		desc := fmt.Sprintf("in=%v k=%v s=%v pads=%v/%v ceil=%v", sp.in, sp.k, sp.s, sp.pb, sp.pe, sp.ceil)
		xt := onnx.NewTensor(append([]int{n, c}, sp.in...), x)
		fast, err := runOp(t, 12, node("MaxPool", attrs, "x"), nil, xt)
		if err != nil {
			t.Fatalf("%s: %v", desc, err)
		}
		p, err := readPool(node("MaxPool", attrs, "x"))
		if err != nil {
			t.Fatal(err)
		}
		g, err := p.geometry(xt)
		if err != nil {
			t.Fatal(err)
		}
		generic, err := maxPool(&runCtx{threads: 1}, p, g, xt, x)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(fast[0].Shape) != fmt.Sprint(generic[0].Shape) {
			t.Fatalf("%s: shape %v, want %v", desc, fast[0].Shape, generic[0].Shape)
		}
		got, want := fast[0].Floats(), generic[0].Floats()
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
				t.Fatalf("%s: y[%d] = %v, generic path %v", desc, i, got[i], want[i])
			}
		}
	}
}

// TestPoolRejectsBadInput checks that malformed pooling nodes and inputs
// give errors.
func TestPoolRejectsBadInput(t *testing.T) {
	t.Parallel()
	checkRejects(t, []rejectCase{
		{"maxpool no kernel", node("MaxPool", nil, "x"), nil, true},
		{"maxpool storage_order", node("MaxPool", map[string]any{"kernel_shape": []int64{2}, "storage_order": 2}, "x"), nil, true},
		{"averagepool dilations before 19", node("AveragePool", map[string]any{"kernel_shape": []int64{2}, "dilations": []int64{2}}, "x"), nil, true},
		{"maxpool rank", node("MaxPool", map[string]any{"kernel_shape": []int64{2, 2}}, "x"), []*onnx.Tensor{f32Zeros(1, 1, 5)}, false},
		{"maxpool pad as large as window", node("MaxPool", map[string]any{"kernel_shape": []int64{2}, "pads": []int64{2, 0}}, "x"), []*onnx.Tensor{f32Zeros(1, 1, 5)}, false},
		{"averagepool int", node("AveragePool", map[string]any{"kernel_shape": []int64{2}}, "x"), []*onnx.Tensor{i8Zeros(1, 1, 5)}, false},
		{"globalpool rank", node("GlobalAveragePool", nil, "x"), []*onnx.Tensor{f32Zeros(2, 3)}, false},
	})
}

// TestMaxRowVecGivesGreaterChain checks the vector kernels of max
// pooling's interior rows (each one this CPU runs), and maxRowGo, against
// greater applied tap by tap in maxPool's order (rows, then taps along a
// row), bit for bit and NaN payloads too, with NaN, signed zeros and ties
// among the taps, for strides 1 and 2, several rows and taps, and lengths
// around the vectors of 8 and 16 outputs and their groups of four.
func TestMaxRowVecGivesGreaterChain(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(31, 32))
	specials := []float32{math.Float32frombits(0x7fc00001), math.Float32frombits(0xffc00002), 0, float32(math.Copysign(0, -1)), 1, -1, float32(math.Inf(-1)), float32(math.Inf(1))}
	kernels := maxRowKernels()
	for _, stride := range []int{1, 2} {
		for _, n := range []int{1, 7, 8, 9, 15, 16, 17, 24, 25, 31, 32, 33, 55, 56, 64, 65, 100} {
			for _, sh := range [][2]int{{1, 1}, {1, 3}, {2, 2}, {3, 3}, {2, 5}} {
				rows, k := sh[0], sh[1]
				ld := (n-1)*stride + k + r.IntN(3)
				src := make([]float32, (rows-1)*ld+(n-1)*stride+k)
				for i := range src {
					src[i] = float32(r.IntN(5) - 2)
					if r.IntN(5) == 0 {
						src[i] = specials[r.IntN(len(specials))]
					}
				}
				want := make([]float32, n)
				for i := range n {
					best := src[i*stride]
					for row := range rows {
						for tap := range k {
							best = greater(src[row*ld+i*stride+tap], best)
						}
					}
					want[i] = best
				}
				check := func(name string, got []float32) {
					t.Helper()
					for i := range n {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s stride %d n %d rows %d k %d: o[%d] = %v (%#x), want %v (%#x)", name, stride, n, rows, k, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
						}
					}
				}
				got := make([]float32, n)
				maxRowGo(got, src, ld, rows, k, stride)
				check("maxRowGo", got)
				for ki, fn := range kernels {
					got := make([]float32, n)
					if !maxRowWith(fn, got, src, ld, rows, k, stride) {
						t.Fatalf("kernel %d refused stride %d", ki, stride)
					}
					check(fmt.Sprintf("kernel %d", ki), got)
				}
			}
		}
	}
}

// BenchmarkMaxPoolStem runs ResNet's stem MaxPool (3x3, stride 2, pad 1
// on 64x112x112) in a session, batch 1 and 8; with one thread it also
// reports the CPU time of the thread, steadier than the wall clock on a
// shared machine.
func BenchmarkMaxPoolStem(b *testing.B) {
	for _, batch := range []int{1, 8} {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("batch=%d/threads=%d", batch, threads), func(b *testing.B) {
				n := node("MaxPool", map[string]any{"kernel_shape": []int64{3, 3}, "strides": []int64{2, 2}, "pads": []int64{1, 1, 1, 1}}, "x")
				m := &onnx.Model{Opsets: map[string]int64{"": 13}, Graph: &onnx.Graph{
					Nodes:   []*onnx.Node{n},
					Inputs:  []*onnx.ValueInfo{{Name: "x", DType: onnx.Float}},
					Outputs: []*onnx.ValueInfo{{Name: "y", DType: onnx.Float}},
				}}
				benchSession(b, m, threads, "x", onnx.NewTensor([]int{batch, 64, 112, 112}, randFloats(rand.New(rand.NewPCG(1, 1)), batch*64*112*112)))
			})
		}
	}
}
