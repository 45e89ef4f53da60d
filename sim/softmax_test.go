package sim

import (
	"math"
	"math/rand/v2"
	"testing"
)

// softmaxScalarExp is the softmax of each of the outer x inner columns of x
// viewed as [outer, mid, inner], one math.Exp per element, float64 sums
// in order: what the kernels must equal bit for bit.
func softmaxScalarExp(x []float32, outer, mid, inner int, logOut bool) []float32 {
	o := make([]float32, len(x))
	for b := range outer {
		for j := range inner {
			at := func(k int) int { return (b*mid+k)*inner + j }
			m := math.Inf(-1)
			for k := range mid {
				m = max(m, float64(x[at(k)]))
			}
			sum := 0.0
			for k := range mid {
				sum += math.Exp(float64(x[at(k)]) - m)
			}
			for k := range mid {
				if logOut {
					o[at(k)] = float32(float64(x[at(k)]) - m - math.Log(sum))
				} else {
					o[at(k)] = float32(math.Exp(float64(x[at(k)])-m) / sum)
				}
			}
		}
	}
	return o
}

// TestSoftmaxEqualsScalarExp: softmax and log-softmax, contiguous and
// strided, with attention masks (-Inf, -1e4), rows far apart in scale
// and a few NaN, give the bits of the scalar math.Exp computation.
func TestSoftmaxEqualsScalarExp(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(13, 13))
	for _, sh := range [][3]int{{3, 1, 1}, {4, 7, 1}, {2, 33, 1}, {5, 128, 1}, {19, 7, 1}, {17, 128, 1}, {2, 9, 3}, {3, 17, 20}, {1, 5, 64}} {
		outer, mid, inner := sh[0], sh[1], sh[2]
		x := make([]float32, outer*mid*inner)
		for i := range x {
			x[i] = float32(r.NormFloat64() * 8)
			switch r.IntN(10) {
			case 0:
				x[i] = float32(math.Inf(-1))
			case 1:
				x[i] -= 1e4
			case 2:
				x[i] *= 200
			}
			if r.IntN(300) == 0 {
				x[i] = float32(math.NaN())
			}
		}
		for _, logOut := range []bool{false, true} {
			got := softmaxData(&runCtx{threads: 2}, x, outer, mid, inner, logOut)
			want := softmaxScalarExp(x, outer, mid, inner, logOut)
			if i := sameBits(got, want); i >= 0 {
				t.Errorf("shape %v log %v: element %d is %v, scalar exp gives %v", sh, logOut, i, got[i], want[i])
			}
		}
	}
}
