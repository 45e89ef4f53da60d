//go:build !amd64 || purego

package sim

import "math"

// Without vector kernels every elementwise loop is Go's.
const haveVec = false

func arithVecN(op arithOp, o, a, b []float32, n int) int { return 0 }

func axpyVec(o, x []float32, s float32) {}

func axpyWide(o, x []float32, s float32) bool { return false }

func clipVec(o, x []float32, lo, hi float32) {}

// erfVec replaces each x in f by erf32(x).
func erfVec(f []float64) {
	for i, v := range f {
		f[i] = erf32(v)
	}
}

func maxTapsVec(o, taps []float32, stride int, first bool) bool { return false }

func reluVec(s []float32) int { return 0 }

// expVec sets dst[i] to math.Exp(src[i]); len(dst) >= len(src).
func expVec(dst, src []float64) {
	for i, v := range src {
		dst[i] = math.Exp(v)
	}
}

func rowMaxVec(x []float32) (m float32, nan bool, n int) { return 0, false, 0 }

func expShiftVec(e []float64, x []float32, m float64) int { return 0 }

func divToF32Vec(o []float32, e []float64, s float64) int { return 0 }

func normAffineVec(o, x []float32, scale, shift []float64, mean, inv float64) int { return 0 }

func depthwiseVecOK() bool { return false }

func depthwiseTapsVec(o, x []float32, offs []int, wt []float32, bias float32, hasBias bool) {}

func erfF32Vec(o, x, ahead, aheadOut []float32) int { return 0 }

func scaleToF32Vec(o []float32, e []float64, s float64) int { return 0 }

func sumRows8Vec[T floatElem](x []T, size int, m, s *[rowGroup]float64) int { return 0 }
