package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"amq/onnx"
)

// TestGemmBroadcastsC checks the float Gemm with alpha and beta against
// naiveGemm for every shape of C that broadcasts to [M, N], and that a C
// that does not is refused.
func TestGemmBroadcastsC(t *testing.T) {
	t.Parallel()
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

// TestGemmMatMulInt8ExactSums checks the int8 Gemm (with transposes and
// bias) and the int8 MatMul of deploy models against exact sums.
func TestGemmMatMulInt8ExactSums(t *testing.T) {
	t.Parallel()
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

// TestGemmRejectsBadInput checks that malformed Gemm inputs give errors.
func TestGemmRejectsBadInput(t *testing.T) {
	t.Parallel()
	checkRejects(t, []rejectCase{
		{"gemm inner", node("Gemm", nil, "a", "b"), []*onnx.Tensor{f32Zeros(2, 3), f32Zeros(4, 5)}, false},
		{"gemm rank", node("Gemm", nil, "a", "b"), []*onnx.Tensor{f32Zeros(2, 3, 1), f32Zeros(3, 5)}, false},
		{"gemm int8 alpha", node("Gemm", map[string]any{"alpha": float32(2)}, "a", "b"), []*onnx.Tensor{i8Zeros(2, 3), i8Zeros(3, 5)}, false},
	})
}

// gemmModel is y = Gemm(x, W, bias) with the given attributes, W and the
// bias initializers when constant, else graph inputs (not packed).
func gemmModel(wShape, biasShape []int, attrs map[string]any, constant bool, w, bias []float32) *onnx.Model {
	n := node("Gemm", attrs, "x", "W", "bias")
	g := &onnx.Graph{
		Nodes:        []*onnx.Node{n},
		Initializers: map[string]*onnx.Tensor{},
		Inputs:       []*onnx.ValueInfo{{Name: "x", DType: onnx.Float}},
		Outputs:      []*onnx.ValueInfo{{Name: "y", DType: onnx.Float}},
	}
	consts := map[string]*onnx.Tensor{"W": onnx.NewTensor(wShape, w), "bias": onnx.NewTensor(biasShape, bias)}
	for _, name := range []string{"W", "bias"} {
		if constant {
			consts[name].Name = name
			g.Initializers[name] = consts[name]
		} else {
			g.Inputs = append(g.Inputs, &onnx.ValueInfo{Name: name, DType: onnx.Float})
		}
	}
	return &onnx.Model{Opsets: map[string]int64{"": 13}, Graph: g}
}

// TestGemmPackedWeightsSameBits: a float Gemm whose B is a constant packs
// it once and gives the bits of the Gemm that reads it as an input, with
// either transpose, alpha and beta (0 too), a bias per column, per row or
// per element, on shapes around the kernels' tiles and blocks (the fc of
// ResNet-18 at batch 1 and 8, k above gemmKC, m enough for a row split, n
// not a multiple of nr), with one and two threads, on several runs.
func TestGemmPackedWeightsSameBits(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(21, 22))
	type attrs struct {
		transA, transB int
		alpha, beta    float32
	}
	shapes := [][3]int{{1, 512, 1000}, {8, 512, 1000}, {1, 1, 1}, {3, 7, 5}, {9, 300, 33}, {70, 260, 70}, {2, 40, 100},
		// One row of A (gemv): k over blocks, n around strips of 32 and
		// groups of four strips.
		{1, 300, 33}, {1, 257, 129}, {1, 40, 100}, {1, 700, 97}, {1, 64, 32}, {1, 5, 160}, {1, 3, 2000}}
	for _, sh := range shapes {
		m, k, n := sh[0], sh[1], sh[2]
		for i, at := range []attrs{{0, 1, 1, 1}, {0, 0, 1, 1}, {1, 1, 1.5, -0.25}, {1, 0, -2, 0}, {0, 1, 0.5, 2}} {
			biasShape := [][]int{{n}, {m, 1}, {m, n}, {1}, {1, n}}[i]
			x, bias := randFloats(r, m*k), randFloats(r, onnx.NumElems(biasShape))
			w := randFloats(r, k*n)
			if i == 0 {
				// Signed zeros, infinities and NaN: the sums must meet
				// them in the same order.
				special := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
				for _, s := range [][]float32{x, w, bias} {
					for j := range s {
						if r.IntN(40) == 0 {
							s[j] = special[r.IntN(len(special))]
						}
					}
				}
			}
			xShape, wShape := []int{m, k}, []int{k, n}
			if at.transA == 1 {
				xShape = []int{k, m}
			}
			if at.transB == 1 {
				wShape = []int{n, k}
			}
			a := map[string]any{"transA": at.transA, "transB": at.transB, "alpha": at.alpha, "beta": at.beta}
			for _, threads := range []int{1, 2} {
				name := fmt.Sprintf("%v %+v threads %d", sh, at, threads)
				packed, err := NewSession(gemmModel(wShape, biasShape, a, true, w, bias), &Options{Threads: threads})
				if err != nil {
					t.Fatal(err)
				}
				plain, err := NewSession(gemmModel(wShape, biasShape, a, false, w, bias), &Options{Threads: threads})
				if err != nil {
					t.Fatal(err)
				}
				in := map[string]*onnx.Tensor{"x": onnx.NewTensor(xShape, x)}
				want, err := plain.Run(map[string]*onnx.Tensor{"x": in["x"], "W": onnx.NewTensor(wShape, w), "bias": onnx.NewTensor(biasShape, bias)})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				for run := range 2 {
					got, err := packed.Run(in)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					g, wv := got["y"].Floats(), want["y"].Floats()
					if len(g) != m*n || len(wv) != m*n {
						t.Fatalf("%s: %d and %d values, want %d", name, len(g), len(wv), m*n)
					}
					if i := sameBits(g, wv); i >= 0 {
						t.Fatalf("%s run %d: element %d is %v, the unpacked Gemm gives %v", name, run, i, g[i], wv[i])
					}
				}
			}
		}
	}
}

// BenchmarkGemmFC runs ResNet-18's classifier, Gemm of [batch, 512] by a
// constant [1000, 512] weight with transB = 1 plus a bias, in a session.
func BenchmarkGemmFC(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	w, bias := randFloats(r, 1000*512), randFloats(r, 1000)
	for _, batch := range []int{1, 8} {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("batch=%d/threads=%d", batch, threads), func(b *testing.B) {
				m := gemmModel([]int{1000, 512}, []int{1000}, map[string]any{"transB": 1}, true, w, bias)
				benchSession(b, m, threads, "x", onnx.NewTensor([]int{batch, 512}, randFloats(r, batch*512)))
			})
		}
	}
}
