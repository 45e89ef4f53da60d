package sim

import (
	"fmt"
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
