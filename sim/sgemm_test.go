package sim

import (
	"math"
	"math/rand/v2"
	"testing"
)

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

func TestSgemmKernelsMatchDefinition(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
	for _, kern := range availableKernels() {
		c := []float32{float32(math.NaN()), float32(math.Inf(1))}
		sgemmWith(kern, 1, 2, 1, 1, matrix{data: []float32{2}, ld: 1}, matrix{data: []float32{3, 4}, ld: 2}, 0, c, 2, 1)
		if c[0] != 6 || c[1] != 8 {
			t.Errorf("%s: got %v, want [6 8]", kern.name, c)
		}
	}
}
