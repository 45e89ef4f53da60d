package sim

import (
	"math"
	"math/rand/v2"
	"testing"
)

// vecTestValues are float32s with every special case a lane can meet.
func vecTestValues(r *rand.Rand, n int) []float32 {
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), math.MaxFloat32, math.SmallestNonzeroFloat32, 6, 3}
	x := make([]float32, n)
	for i := range x {
		if r.IntN(4) == 0 {
			x[i] = special[r.IntN(len(special))]
		} else {
			x[i] = float32(r.NormFloat64() * 4)
		}
	}
	return x
}

func sameBits(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) && !(a[i] != a[i] && b[i] != b[i]) {
			return i
		}
	}
	return -1
}

// TestVectorKernelsEqualGoLoops: the vector kernels of the elementwise
// operators (arithmetic in every broadcast layout, Clip, the depthwise
// convolution's multiply-add) give the Go loops' results bit for bit,
// NaN, infinities and signed zeros included, for every row length
// around the kernels' blocks of 8 and 32.
func TestVectorKernelsEqualGoLoops(t *testing.T) {
	t.Parallel()
	if !haveVec {
		t.Skip("no vector kernels on this machine or build")
	}
	r := rand.New(rand.NewPCG(10, 10))
	for _, n := range []int{16, 17, 20, 31, 32, 33, 39, 40, 64, 71, 100, 257} {
		a, b := vecTestValues(r, n), vecTestValues(r, n)
		for op := opAdd; op <= opDiv; op++ {
			for _, lay := range [][2]int{{n, n}, {n, 1}, {1, n}} {
				as, bs := a[:lay[0]], b[:lay[1]]
				got, want := make([]float32, n), make([]float32, n)
				arithRow(op, got, as, bs)
				arithRowGo(op, want, as, bs)
				if i := sameBits(got, want); i >= 0 {
					t.Errorf("op %d, n %d, layout %v: element %d is %v, Go gives %v", op, n, lay, i, got[i], want[i])
				}
			}
		}
		for _, bounds := range [][2]float32{{0, 6}, {-1, 1}, {2, -2}, {float32(math.Inf(-1)), 0}} {
			got := make([]float32, n)
			k := clipF32(got, a, bounds[0], bounds[1])
			if n >= vecMin && k != n&^7 || n < vecMin && k != 0 {
				t.Fatalf("clip did %d of %d", k, n)
			}
			for i := k; i < n; i++ {
				got[i] = clipGo(a[i], bounds[0], bounds[1])
			}
			want := make([]float32, n)
			for i, v := range a {
				want[i] = clipGo(v, bounds[0], bounds[1])
			}
			if i := sameBits(got, want); i >= 0 {
				t.Errorf("clip %v, n %d: element %d is %v, Go gives %v", bounds, n, i, got[i], want[i])
			}
		}
		got, want := append([]float32(nil), b...), append([]float32(nil), b...)
		axpy(got, a, 0.37)
		for i, v := range a {
			want[i] += 0.37 * v
		}
		if i := sameBits(got, want); i >= 0 {
			t.Errorf("axpy, n %d: element %d is %v, Go gives %v", n, i, got[i], want[i])
		}
	}
}

// arithRowGo is arithRow without the vector kernels.
func arithRowGo(op arithOp, o, a, b []float32) {
	// Rows shorter than vecMin never reach the kernels.
	for i := range o {
		x, y := a[0], b[0]
		if len(a) > 1 {
			x = a[i]
		}
		if len(b) > 1 {
			y = b[i]
		}
		arithRow(op, o[i:i+1], []float32{x}, []float32{y})
	}
}

// clipGo is Clip's Go loop for one element.
func clipGo(v, lo, hi float32) float32 {
	if v < lo {
		v = lo
	}
	if v > hi {
		v = hi
	}
	return v
}

// TestErfVecGivesErf32Bits checks the vector erf against erf32 bit for bit
// on float32 inputs: every exponent, both signs, the pieces' edges, zeros,
// infinities and NaN.
func TestErfVecGivesErf32Bits(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var xs []float64
	for range 1 << 18 {
		xs = append(xs, float64(math.Float32frombits(r.Uint32())))
	}
	for range 1 << 18 {
		xs = append(xs, float64(float32(r.Float64()*14-7)))
	}
	for _, v := range []float64{0, math.Copysign(0, -1), erfSplit, math.Nextafter(erfSplit, 0), erfOne, math.Nextafter(erfOne, 0), -erfOne, math.Inf(1), math.Inf(-1), math.NaN(), 1e-40, -1e-40} {
		xs = append(xs, v)
	}
	for i := range 64 {
		xs = append(xs, float64(float32(erfCentre(i)-0.5/erfPerUnit)))
	}
	got := append([]float64(nil), xs...)
	erfVec(got)
	for i, x := range xs {
		want := erf32(x)
		if math.Float64bits(got[i]) != math.Float64bits(want) {
			t.Fatalf("erfVec(%v) = %v (%#x), erf32 gives %v (%#x)", x, got[i], math.Float64bits(got[i]), want, math.Float64bits(want))
		}
	}
}

// TestMaxTapsVecGivesGreater checks max pooling's vector row against the Go
// loop bit for bit, with NaN, signed zeros and equal values among the taps
// and the running maxima, for several strides and lengths with tails.
func TestMaxTapsVecGivesGreater(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	specials := []float32{float32(math.NaN()), 0, float32(math.Copysign(0, -1)), 1, -1, float32(math.Inf(-1))}
	pick := func() float32 {
		if r.IntN(4) == 0 {
			return specials[r.IntN(len(specials))]
		}
		return float32(r.NormFloat64())
	}
	for _, stride := range []int{1, 2, 3} {
		for _, n := range []int{16, 17, 31, 50} {
			taps := make([]float32, (n-1)*stride+1)
			for i := range taps {
				taps[i] = pick()
			}
			for _, first := range []bool{true, false} {
				want := make([]float32, n)
				for i := range want {
					want[i] = pick()
				}
				got := append([]float32(nil), want...)
				done := maxTapsVec(got, taps, stride, first)
				for i := range want {
					if !done {
						// No AVX-512 here: o must be left to the Go loop.
						continue
					}
					if first {
						want[i] = taps[i*stride]
					} else {
						want[i] = greater(taps[i*stride], want[i])
					}
				}
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("stride %d n %d first %v: o[%d] = %v (%#x), want %v (%#x)", stride, n, first, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
					}
				}
			}
		}
	}
}

// TestReluInPlaceKeepsGoMax checks Relu, vector part and tail, against
// Go's max(v, 0) bit for bit: NaN stays, -0 becomes +0.
func TestReluInPlaceKeepsGoMax(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	specials := []float32{float32(math.NaN()), 0, float32(math.Copysign(0, -1)), float32(math.Inf(-1)), float32(math.Inf(1))}
	s := make([]float32, 77)
	for i := range s {
		s[i] = float32(r.NormFloat64())
		if i%5 == 0 {
			s[i] = specials[i/5%len(specials)]
		}
	}
	got := append([]float32(nil), s...)
	reluInPlace(got)
	for i, v := range s {
		if want := max(v, 0); math.Float32bits(got[i]) != math.Float32bits(want) {
			t.Fatalf("relu(%v) = %v (%#x), want %v (%#x)", v, got[i], math.Float32bits(got[i]), want, math.Float32bits(want))
		}
	}
}

// TestExpVecIsMathExp: the vector exp gives math.Exp's bits for every
// value a softmax or sigmoid meets, and for the edges of the kernels'
// range (overflow, subnormal results, zero, NaN, infinities), at every
// length around the blocks of 4 and 8.
func TestExpVecIsMathExp(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(11, 11))
	special := []float64{0, math.Copysign(0, -1), 1, -1, math.Inf(1), math.Inf(-1), math.NaN(),
		-708, -708.0000001, 709, 709.0000001, 709.78, 709.8, -745.1, -745.2, -746, -746.0000001, -800, 1e300, -1e300,
		math.SmallestNonzeroFloat64, 1e-300, -1e-17, 88.7, -87.3, -103.97}
	for _, n := range []int{0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 100, 1000} {
		src := make([]float64, n)
		for i := range src {
			switch r.IntN(4) {
			case 0:
				src[i] = special[r.IntN(len(special))]
			case 1:
				src[i] = (r.Float64() - 0.5) * 1500
			default:
				src[i] = r.NormFloat64() * 10
			}
		}
		got := make([]float64, n)
		expVec(got, src)
		for i, v := range src {
			want := math.Exp(v)
			if math.Float64bits(got[i]) != math.Float64bits(want) && !(math.IsNaN(got[i]) && math.IsNaN(want)) {
				t.Fatalf("n %d: exp(%v) = %v, math.Exp gives %v", n, v, got[i], want)
			}
		}
	}
	// Dense sweeps of softmax's range.
	src := make([]float64, 1<<16)
	for i := range src {
		src[i] = -100 * float64(i) / float64(len(src))
	}
	got := make([]float64, len(src))
	expVec(got, src)
	for i, v := range src {
		if got[i] != math.Exp(v) {
			t.Fatalf("exp(%v) = %v, math.Exp gives %v", v, got[i], math.Exp(v))
		}
	}
}

// TestSigmoidExpEqualScalar: Sigmoid and Exp on float32 data, computed
// with the vector exp, give float32(sigmoid(x)) and float32(math.Exp(x))
// bit for bit, special values and lengths around the blocks included.
func TestSigmoidExpEqualScalar(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(14, 14))
	for _, n := range []int{1, 7, 8, 9, 255, 256, 257, 1000} {
		x := vecTestValues(r, n)
		for i := range x {
			if i%5 == 0 {
				x[i] *= 30 // beyond exp's float32 range
			}
		}
		for _, op := range []unaryOp{opSigmoid, opExp} {
			got := make([]float32, n)
			unaryRange(op, unaryParams{}, got, x)
			want := make([]float32, n)
			for i, v := range x {
				if op == opSigmoid {
					want[i] = float32(sigmoid(float64(v)))
				} else {
					want[i] = float32(math.Exp(float64(v)))
				}
			}
			if i := sameBits(got, want); i >= 0 {
				t.Errorf("op %d, n %d: f(%v) = %v, scalar gives %v", op, n, x[i], got[i], want[i])
			}
		}
	}
}

// TestNormAffineVecEqualsGo: LayerNormalization's vector affine pass
// gives the Go loop's bits, for lengths around its blocks of 8.
func TestNormAffineVecEqualsGo(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(17, 17))
	for _, n := range []int{1, 7, 8, 9, 23, 768, 771} {
		x := vecTestValues(r, n)
		sc, sh := make([]float64, n), make([]float64, n)
		for i := range sc {
			sc[i], sh[i] = float64(float32(1+r.NormFloat64()/10)), float64(float32(r.NormFloat64()/10))
		}
		mean, inv := r.NormFloat64(), 1/(0.1+r.Float64())
		got := make([]float32, n)
		k := normAffineVec(got, x, sc, sh, mean, inv)
		for i, v := range x[k:] {
			got[k+i] = float32(float64((float64(v)-mean)*inv*sc[k+i]) + sh[k+i])
		}
		want := make([]float32, n)
		for i, v := range x {
			want[i] = float32(float64((float64(v)-mean)*inv*sc[i]) + sh[i])
		}
		if i := sameBits(got, want); i >= 0 {
			t.Errorf("n %d: element %d is %v, Go gives %v", n, i, got[i], want[i])
		}
	}
}
