package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"amq/onnx"
)

// TestMatMulBroadcastsBatchAxes checks MatMul on random batch shapes that
// broadcast as numpy.matmul does against index arithmetic.
func TestMatMulBroadcastsBatchAxes(t *testing.T) {
	t.Parallel()
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

// TestMatMulInt8SaturatesToInt32 checks the documented choice: exact int64 sums,
// clamped to int32 when they leave its range.
func TestMatMulInt8SaturatesToInt32(t *testing.T) {
	t.Parallel()
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

// TestMatMulInt8ExactBeyondFloat32 uses sums far above 2^24, where a plain
// float32 accumulation loses the low bits, to check that the int8 path
// stays exact.
func TestMatMulInt8ExactBeyondFloat32(t *testing.T) {
	t.Parallel()
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

// TestMatMulRejectsBadInput checks that MatMul operands that do not
// multiply give errors.
func TestMatMulRejectsBadInput(t *testing.T) {
	t.Parallel()
	checkRejects(t, []rejectCase{
		{"matmul inner", node("MatMul", nil, "a", "b"), []*onnx.Tensor{f32Zeros(2, 3), f32Zeros(4, 5)}, false},
		{"matmul batch", node("MatMul", nil, "a", "b"), []*onnx.Tensor{f32Zeros(2, 2, 3), f32Zeros(3, 3, 5)}, false},
		{"matmul scalar", node("MatMul", nil, "a", "b"), []*onnx.Tensor{f32Zeros(), f32Zeros(3)}, false},
	})
}
