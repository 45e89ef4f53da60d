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
	for _, sh := range [][3]int{{3, 1, 1}, {4, 7, 1}, {2, 33, 1}, {5, 128, 1}, {19, 7, 1}, {17, 128, 1}, {9, softmaxGroupMax + 3, 1}, {2, 9, 3}, {3, 17, 20}, {1, 5, 64}} {
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

// TestScaleToF32EqualsDivision: softmax's division by the sum, done as a
// multiplication by its reciprocal where that rounds the same, gives
// float32(e / s) bit for bit: quotients at and next to float32 halfway
// points, zeros, float64 denormals, quotients in float32's denormal
// range, NaN, and lengths around the kernel's blocks of 8.
func TestScaleToF32EqualsDivision(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(49, 50))
	for _, s := range []float64{1, 1.5, 3, 7.000001, 128.37, 1e6, 1e300, math.MaxFloat64} {
		var e []float64
		for range 3000 {
			switch r.IntN(8) {
			case 0:
				// Near a halfway point between two float32 quotients.
				f := float32(r.Float64())
				mid := (float64(f) + float64(math.Nextafter32(f, 2))) / 2
				v := mid * s
				for range r.IntN(4) {
					v = math.Nextafter(v, math.Inf(2*r.IntN(2)-1))
				}
				e = append(e, v)
			case 1:
				e = append(e, []float64{0, 5e-324, 1e-310, 1e-39 * s, 1e-45 * s, 3e-38 * s, math.NaN()}[r.IntN(7)])
			default:
				e = append(e, r.Float64()*s)
			}
		}
		for _, n := range []int{1, 7, 8, 9, 17, len(e)} {
			want := make([]float32, n)
			for i, v := range e[:n] {
				want[i] = float32(v / s)
			}
			got := make([]float32, n)
			k := scaleToF32Vec(got, e[:n], s)
			for i, v := range e[k:n] {
				got[k+i] = float32(v / s)
			}
			if i := sameBits(got, want); i >= 0 {
				t.Fatalf("s=%v n=%d: float32(%v/s) = %v, division gives %v", s, n, e[i], got[i], want[i])
			}
		}
	}
}
