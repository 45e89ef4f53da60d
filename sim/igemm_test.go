package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"amq/onnx"
)

// forEachIKernel runs fn with each int8 kernel this machine has as the
// active one. The tests calling it are not parallel: the active kernel is
// global.
func forEachIKernel(t *testing.T, fn func(t *testing.T)) {
	ks := availableIKernels()
	if len(ks) == 0 {
		t.Skip("no int8 kernel on this machine or build: deploy layers use the exact float path, which the other tests check")
	}
	saved := activeIKernel
	defer func() { activeIKernel = saved }()
	for _, k := range ks {
		activeIKernel = k
		t.Run(k.name, fn)
	}
}

// edgeInt32 replaces each value of v by one within 2^16 of an end of
// int32, so that sums added to it leave int32.
func edgeInt32(r *rand.Rand, v []int32) {
	for i := range v {
		v[i] = math.MaxInt32 - int32(r.IntN(1<<16))
		if r.IntN(2) == 0 {
			v[i] = -v[i]
		}
	}
}

// randomIGemmConvSpec draws a Conv wider than randomConvSpec's, so that
// the int8 kernels see several strips of rows and columns, k not a whole
// number of words, and every window shape.
func randomIGemmConvSpec(r *rand.Rand) (convSpec, string) {
	sp, autoPad := randomConvSpec(r, false)
	if r.IntN(3) > 0 {
		sp.group = 1 + r.IntN(2)
		sp.c = sp.group * (1 + r.IntN(24))
		sp.m = sp.group * (1 + r.IntN(24))
	}
	return sp, autoPad
}

// TestIGemmConvMatchesDefinition checks the int8 Conv on every int8
// kernel against Conv by its definition in float64 (exact integers), for
// random windows, groups and offsets (both ends of int8 among them), with
// and without a fused Relu, with biases that make sums saturate.
func TestIGemmConvMatchesDefinition(t *testing.T) {
	forEachIKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(31, 32))
		for iter := 0; iter < 80; iter++ {
			sp, autoPad := randomIGemmConvSpec(r)
			offset := []int{-128, 127, r.IntN(256) - 128}[iter%3]
			x := randInt8(r, sp.n*sp.c*onnx.NumElems(sp.in))
			wshape := append([]int{sp.m, sp.c / sp.group}, sp.k...)
			w := randInt8(r, onnx.NumElems(wshape))
			// Every fourth case, biases near the ends of int32: sums leave
			// int32 and saturate (the Go epilogue instead of the kernel's).
			bias := randInt32(r, sp.m, 1<<20)
			if iter%4 == 3 {
				edgeInt32(r, bias)
			}
			xf, wf, bf := intRef(x, offset, w, bias)
			want, shape := refConv(sp, xf, wf, bf)
			relu := iter%2 == 1
			for i, v := range want {
				want[i] = min(max(v, math.MinInt32), math.MaxInt32)
				if relu {
					want[i] = max(want[i], 0)
				}
			}
			n := node("Conv", sp.attrs(autoPad, false), "x", "w", "b")
			g := &onnx.Graph{Nodes: []*onnx.Node{quantProducer(offset), n}}
			bc := &buildCtx{opset: 11, graph: g}
			fn, err := buildConv(bc, n)
			if err != nil {
				t.Fatal(err)
			}
			if relu {
				fn = bc.fusable(&onnx.Node{OpType: "Relu"})
			}
			out, err := fn(&runCtx{threads: 2}, []*onnx.Tensor{onnx.NewTensor(append([]int{sp.n, sp.c}, sp.in...), x),
				onnx.NewTensor(wshape, w), onnx.NewTensor([]int{sp.m}, bias)})
			if err != nil {
				t.Fatalf("case %d %+v: %v", iter, sp, err)
			}
			if fmt.Sprint(out[0].Shape) != fmt.Sprint(shape) {
				t.Fatalf("case %d: shape %v, want %v", iter, out[0].Shape, shape)
			}
			if i := exactInt32(out[0], want); i >= 0 {
				t.Fatalf("case %d %+v offset %d relu %v: y[%d] = %v, want %v", iter, sp, offset, relu, i, out[0].Data.([]int32)[i], want[i])
			}
		}
	})
}

// TestIGemmGemmMatMulMatchDefinition checks the int8 Gemm (B plain and
// transposed, C per column, per element and scalar) and MatMul (one
// matrix, and a batch of rows against one weight) on every int8 kernel
// against sums in float64, with k deep enough for several words, extreme
// values in every operand, and C that makes sums saturate.
func TestIGemmGemmMatMulMatchDefinition(t *testing.T) {
	forEachIKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(33, 34))
		for iter := 0; iter < 40; iter++ {
			m, k, n := 1+r.IntN(70), 1+r.IntN(700), 1+r.IntN(100)
			offset := []int{-128, 127, r.IntN(256) - 128}[iter%3]
			transB := iter%2 == 1
			a, b := randInt8(r, m*k), randInt8(r, k*n)
			if iter%5 == 0 { // the largest products
				for i := range a {
					a[i] = 127
				}
				for i := range b {
					b[i] = -128
				}
			}
			cshape := [][]int{{n}, {m, n}, {1}}[iter%3]
			// Every fourth case, C near the ends of int32: sums saturate.
			bias := randInt32(r, onnx.NumElems(cshape), 1<<24)
			if iter%4 == 3 {
				edgeInt32(r, bias)
			}
			af, bf, cf := intRef(a, offset, b, bias)
			want := make([]float64, m*n)
			plain := make([]float64, m*n)
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					var s float64
					for p := 0; p < k; p++ {
						bv := bf[p*n+j]
						if transB {
							bv = bf[j*k+p]
						}
						s += af[i*k+p] * bv
					}
					plain[i*n+j] = s
					want[i*n+j] = s + cf[(i*n+j)%len(cf)]
					if len(cshape) == 1 && cshape[0] == n {
						want[i*n+j] = s + cf[j]
					}
					want[i*n+j] = min(max(want[i*n+j], math.MinInt32), math.MaxInt32)
				}
			}
			bshape := []int{k, n}
			if transB {
				bshape = []int{n, k}
			}
			out, err := runOp(t, 11, node("Gemm", map[string]any{"transB": boolInt(transB)}, "x", "w", "c"), []*onnx.Node{quantProducer(offset)},
				onnx.NewTensor([]int{m, k}, a), onnx.NewTensor(bshape, b), onnx.NewTensor(cshape, bias))
			if err != nil {
				t.Fatal(err)
			}
			if i := exactInt32(out[0], want); i >= 0 {
				t.Fatalf("Gemm m=%d k=%d n=%d transB %v C %v offset %d: y[%d] = %v, want %v", m, k, n, transB, cshape, offset, i, out[0].Data.([]int32)[i], want[i])
			}
			if transB {
				continue
			}
			ashapes := [][]int{{m, k}, {1, m, k}}
			if m%2 == 0 {
				ashapes = append(ashapes, []int{2, m / 2, k})
			}
			for _, as := range ashapes {
				out, err = runOp(t, 11, node("MatMul", nil, "x", "w"), []*onnx.Node{quantProducer(offset)},
					onnx.NewTensor(as, a), onnx.NewTensor([]int{k, n}, b))
				if err != nil {
					t.Fatal(err)
				}
				if i := exactInt32(out[0], plain); i >= 0 {
					t.Fatalf("MatMul %v x [%d %d] offset %d: y[%d] = %v, want %v", as, k, n, offset, i, out[0].Data.([]int32)[i], plain[i])
				}
			}
		}
	})
}

// TestIGemmSessionKeepsPackedWeights runs a deploy Conv and MatMul whose
// weights are initializers twice in one session, on each int8 kernel, and
// requires the outputs of the exact float path every time: the second
// run uses the weights packed by the first.
func TestIGemmSessionKeepsPackedWeights(t *testing.T) {
	r := rand.New(rand.NewPCG(35, 36))
	wc, wm := randInt8(r, 40*24*9), randInt8(r, 40*30)
	bias := randInt32(r, 40, 1<<16)
	q := func(name, in, out string, offset float32) *onnx.Node {
		n := &onnx.Node{Name: name, OpType: "AscendQuant", Inputs: []string{in}, Outputs: []string{out}}
		n.SetAttr("scale", float32(50))
		n.SetAttr("offset", offset)
		return n
	}
	m := &onnx.Model{Opsets: map[string]int64{"": 11}, Graph: &onnx.Graph{
		Nodes: []*onnx.Node{
			q("q1", "xf", "x", -7),
			node("Conv", map[string]any{"pads": []int64{1, 1, 1, 1}}, "x", "wc", "b"),
			q("q2", "mf", "mq", 3),
			{Name: "mm", OpType: "MatMul", Inputs: []string{"mq", "wm"}, Outputs: []string{"z"}},
		},
		Inputs:  []*onnx.ValueInfo{{Name: "xf", DType: onnx.Float}, {Name: "mf", DType: onnx.Float}},
		Outputs: []*onnx.ValueInfo{{Name: "y"}, {Name: "z"}},
		Initializers: map[string]*onnx.Tensor{
			"wc": onnx.NewTensor([]int{40, 24, 3, 3}, wc),
			"b":  onnx.NewTensor([]int{40}, bias),
			"wm": onnx.NewTensor([]int{40, 30}, wm),
		},
	}}
	inputs := func(seed uint64) map[string]*onnx.Tensor {
		r := rand.New(rand.NewPCG(seed, 1))
		return map[string]*onnx.Tensor{
			"xf": onnx.NewTensor([]int{2, 24, 9, 11}, randFloats(r, 2*24*9*11)),
			"mf": onnx.NewTensor([]int{3, 17, 40}, randFloats(r, 3*17*40)),
		}
	}
	run := func(t *testing.T, s *Session, seed uint64) map[string]*onnx.Tensor {
		out, err := s.Run(inputs(seed))
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	saved := activeIKernel
	activeIKernel = nil
	exact, err := NewSession(m, &Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]*onnx.Tensor{run(t, exact, 1), run(t, exact, 2)}
	activeIKernel = saved
	forEachIKernel(t, func(t *testing.T) {
		s, err := NewSession(m, &Options{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		for i, seed := range []uint64{1, 2} {
			got := run(t, s, seed)
			for _, name := range []string{"y", "z"} {
				if fmt.Sprint(got[name].Data) != fmt.Sprint(want[i][name].Data) {
					t.Fatalf("run %d: %s differs from the exact path", i+1, name)
				}
			}
		}
	})
}

// BenchmarkIGemmKernel times each int8 kernel on one strip of each operand
// held in L1 (k = 576, a 3×3 layer of 64 channels), in multiply-adds per
// second: the ceiling of the convolutions' rate.
func BenchmarkIGemmKernel(b *testing.B) {
	for _, k := range availableIKernels() {
		b.Run(k.name, func(b *testing.B) {
			kg := k.kgroups(576)
			a, bb := make([]uint32, kg*k.mr), make([]uint32, kg*k.nr)
			c := make([]int32, k.mr*k.nr)
			for b.Loop() {
				k.fn(kg, a, bb, k.nr, c, k.nr, nil, false)
			}
			b.ReportMetric(float64(576*k.mr*k.nr)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
	}
}
