package sim

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGemvVecMatchesKernels: for every assembly kernel it stands in for,
// gemvVec gives the bits sgemm gives a single row of A with that kernel,
// block of k by block, with signed zeros, infinities and NaN among the
// operands and C, for n around strips and groups of four strips.
func TestGemvVecMatchesKernels(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(41, 42))
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
	fill := func(n int) []float32 {
		s := randFloats(r, n)
		for i := range s {
			if r.IntN(50) == 0 {
				s[i] = special[r.IntN(len(special))]
			}
		}
		return s
	}
	tested := 0
	for _, kern := range availableKernels() {
		if !gemvFor(kern) {
			continue
		}
		tested++
		nr := kern.nr
		for _, sh := range [][2]int{{1, 1}, {7, 15}, {256, 16}, {257, 17}, {300, 33}, {40, 64}, {513, 100}, {64, 129}, {3, 1000}} {
			k, n := sh[0], sh[1]
			a, b, c := fill(k), fill(k*n), fill(n)
			want := append([]float32(nil), c...)
			sgemmWith(kern, 1, n, k, 1, matrix{data: a, ld: k}, matrix{data: b, ld: n}, 1, want, n, 1)
			packed := make([]float32, (n+nr-1)/nr*nr*k)
			packB(packed, matrix{data: b, ld: n}, 0, 0, k, n, nr)
			got := append([]float32(nil), c...)
			for pc := 0; pc < k; pc += gemmKC {
				kc := min(gemmKC, k-pc)
				if !gemvVec(kern, a[pc:pc+kc], packed[pc*nr:], nr*k, got) {
					t.Fatalf("%s: gemvVec refused a kernel gemvFor accepts", kern.name)
				}
			}
			if i := sameBits(got, want); i >= 0 {
				t.Fatalf("%s k %d n %d: c[%d] = %v, sgemm gives %v", kern.name, k, n, i, got[i], want[i])
			}
		}
	}
	if tested == 0 {
		t.Skip("no GEMV kernel for this machine's GEMM kernels")
	}
}
