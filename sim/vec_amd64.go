//go:build !purego

package sim

import (
	"math"
	"os"
	"unsafe"
)

// AVX2 elementwise kernels (vec_amd64.s, written by make_vec_amd64.py);
// n is a multiple of 8.

//go:generate python3 make_vec_amd64.py

//go:noescape
func vecAddVV(o, a, b *float32, n int)

//go:noescape
func vecAddVS(o, a, b *float32, n int)

//go:noescape
func vecAddSV(o, a, b *float32, n int)

//go:noescape
func vecSubVV(o, a, b *float32, n int)

//go:noescape
func vecSubVS(o, a, b *float32, n int)

//go:noescape
func vecSubSV(o, a, b *float32, n int)

//go:noescape
func vecMulVV(o, a, b *float32, n int)

//go:noescape
func vecMulVS(o, a, b *float32, n int)

//go:noescape
func vecMulSV(o, a, b *float32, n int)

//go:noescape
func vecDivVV(o, a, b *float32, n int)

//go:noescape
func vecDivVS(o, a, b *float32, n int)

//go:noescape
func vecDivSV(o, a, b *float32, n int)

//go:noescape
func vecAxpy(o, x *float32, s float32, n int)

//go:noescape
func vecClip(o, x *float32, lo, hi float32, n int)

//go:noescape
func erfVecAVX512(f *float64, n int, series *float64, taylor *float64)

// erfVec replaces each x in f by erf32(x), eight at a time with AVX-512.
func erfVec(f []float64) {
	n := len(f) &^ 7
	if hasAVX512 && haveVec && n > 0 {
		erfVecAVX512(&f[0], n, &erfSeries[0], &erfTaylor[0][0])
		f = f[n:]
	}
	for i, v := range f {
		f[i] = erf32(v)
	}
}

//go:noescape
func vecMaxTapsAVX512(o, taps *float32, n, stride, first int)

// maxTapsVec sets o[i] to taps[i*stride] when first, else to
// greater(taps[i*stride], o[i]), with AVX-512; it reports false, doing
// nothing, where that is not available. taps must hold (len(o)-1)*stride+1
// values.
func maxTapsVec(o, taps []float32, stride int, first bool) bool {
	if !hasAVX512 || !haveVec || len(o) < 16 {
		return false
	}
	_ = taps[(len(o)-1)*stride]
	f := 0
	if first {
		f = 1
	}
	vecMaxTapsAVX512(&o[0], &taps[0], len(o), stride, f)
	return true
}

//go:noescape
func vecReluAVX512(s *float32, n int)

// reluVec applies Relu to the longest prefix of s that is a multiple of 16
// values with AVX-512 and returns its length (0 without AVX-512).
func reluVec(s []float32) int {
	n := len(s) &^ 15
	if !hasAVX512 || !haveVec || n == 0 {
		return 0
	}
	vecReluAVX512(&s[0], n)
	return n
}

// haveVec reports whether the vector kernels run here; AMQ_SIM_GEMM=go2x4
// (the pure-Go GEMM) turns them off too, to compare with pure Go.
var haveVec = hasAVX2 && os.Getenv("AMQ_SIM_GEMM") != goKernel.name

// vecArith are the kernels by operator and layout: a and b vectors, b a
// scalar, a a scalar.
// An array, not a map: broadcast rows can be short (a per-channel operand
// over rows of 40 values), and a map lookup per row cost as much as them.
var vecArith = [...][3]func(o, a, b *float32, n int){
	opAdd: {vecAddVV, vecAddVS, vecAddSV},
	opSub: {vecSubVV, vecSubVS, vecSubSV},
	opMul: {vecMulVV, vecMulVS, vecMulSV},
	opDiv: {vecDivVV, vecDivVS, vecDivSV},
}

func arithVecN(op arithOp, o, a, b []float32, n int) int {
	if op < 0 || int(op) >= len(vecArith) {
		return 0
	}
	fns := vecArith[op]
	va, vb := len(a) == len(o), len(b) == len(o)
	var layout int
	switch {
	case va && vb:
		layout = 0
	case va:
		layout = 1
	case vb:
		layout = 2
	default:
		return 0
	}
	fns[layout](&o[0], &a[0], &b[0], n)
	return n
}

func axpyVec(o, x []float32, s float32) { vecAxpy(&o[0], &x[0], s, len(o)) }

//go:noescape
func vecAxpyAVX512(o, x *float32, s float32, n int)

// axpyWide does all of axpy (len(x) >= len(o) > 0) with AVX-512, the last
// partial vector under a mask; it reports false where that is not
// available.
func axpyWide(o, x []float32, s float32) bool {
	if !hasAVX512 || !haveVec {
		return false
	}
	_ = x[len(o)-1]
	vecAxpyAVX512(&o[0], &x[0], s, len(o))
	return true
}

func clipVec(o, x []float32, lo, hi float32) { vecClip(&o[0], &x[0], lo, hi, len(o)) }

//go:noescape
func vecExpAVX512(dst, src *float64, n int) int

//go:noescape
func vecExpAVX2(dst, src *float64, n int) int

// expVec sets dst[i] to math.Exp(src[i]), the same bits, eight or four
// values at a time with AVX-512 or AVX2; len(dst) >= len(src).
func expVec(dst, src []float64) {
	dst = dst[:len(src)]
	n, hard := 0, 0
	switch {
	case !haveVec:
	case hasAVX512:
		if n = len(src) &^ 7; n > 0 {
			hard = vecExpAVX512(&dst[0], &src[0], n)
		}
	default:
		if n = len(src) &^ 3; n > 0 {
			hard = vecExpAVX2(&dst[0], &src[0], n)
		}
	}
	if hard != 0 {
		for i, v := range src[:n] {
			if !expEasy(v) {
				dst[i] = math.Exp(v)
			}
		}
	}
	for i, v := range src[n:] {
		dst[n+i] = math.Exp(v)
	}
}

// expEasy reports whether the vector kernels compute exp(v) themselves:
// the range where math.Exp's result is a normal number, and below -746,
// where it is 0 (make_vec_amd64.py).
func expEasy(v float64) bool { return v >= -708 && v <= 709 || v < -746 }

//go:noescape
func vecSoftmaxExpAVX512(dst *float64, src *float32, m float64, n int) int

//go:noescape
func vecMaxAVX512(x *float32, n int) (m float32, nan int)

//go:noescape
func vecDivToF32AVX512(o *float32, e *float64, s float64, n int)

// rowMaxVec returns the maximum of the longest prefix of x that is a
// multiple of 16 values long, whether the prefix holds a NaN (the maximum
// is then undefined) and its length: 0 without AVX-512.
func rowMaxVec(x []float32) (m float32, nan bool, n int) {
	n = len(x) &^ 15
	if !hasAVX512 || !haveVec || n == 0 {
		return 0, false, 0
	}
	m, bad := vecMaxAVX512(&x[0], n)
	return m, bad != 0, n
}

// expShiftVec sets e[i] = math.Exp(float64(x[i]) - m), math.Exp's bits,
// for the longest prefix of x that is a multiple of 8 values long and
// returns its length: 0 without AVX-512.
func expShiftVec(e []float64, x []float32, m float64) int {
	n := len(x) &^ 7
	if !hasAVX512 || !haveVec || n == 0 {
		return 0
	}
	_ = e[n-1]
	if vecSoftmaxExpAVX512(&e[0], &x[0], m, n) != 0 {
		for i, v := range x[:n] {
			if d := float64(v) - m; !expEasy(d) {
				e[i] = math.Exp(d)
			}
		}
	}
	return n
}

// divToF32Vec sets o[i] = float32(e[i] / s) for the longest prefix of o
// that is a multiple of 8 values long and returns its length: 0 without
// AVX-512.
func divToF32Vec(o []float32, e []float64, s float64) int {
	n := len(o) &^ 7
	if !hasAVX512 || !haveVec || n == 0 {
		return 0
	}
	_ = e[n-1]
	vecDivToF32AVX512(&o[0], &e[0], s, n)
	return n
}

//go:noescape
func vecNormAffineAVX512(o, x *float32, scale, shift *float64, mean, inv float64, n int)

// normAffineVec sets o[i] = float32((float64(x[i])-mean)*inv*scale[i] +
// shift[i]), each operation rounded as in Go, for the longest prefix of o
// that is a multiple of 8 values long, and returns its length: 0 without
// AVX-512.
func normAffineVec(o, x []float32, scale, shift []float64, mean, inv float64) int {
	n := len(o) &^ 7
	if !hasAVX512 || !haveVec || n == 0 {
		return 0
	}
	_, _, _ = x[n-1], scale[n-1], shift[n-1]
	vecNormAffineAVX512(&o[0], &x[0], &scale[0], &shift[0], mean, inv, n)
	return n
}

//go:noescape
func vecDepthwiseTapsAVX512(o, x *float32, offs *int, wt *float32, k, n int, bias float32, hasBias int)

// depthwiseVecOK reports whether depthwiseTapsVec runs here.
func depthwiseVecOK() bool { return hasAVX512 && haveVec }

// depthwiseTapsVec sets o[j] = ((0 + wt[0]*x[offs[0]+j]) +
// wt[1]*x[offs[1]+j]) + ..., each product rounded, then adds bias when
// hasBias, with AVX-512 (depthwiseVecOK); len(wt) = len(offs) and every
// x[offs[t]+j] for j < len(o) must exist.
func depthwiseTapsVec(o, x []float32, offs []int, wt []float32, bias float32, hasBias bool) {
	if len(o) == 0 {
		return
	}
	wt = wt[:len(offs)]
	for _, off := range offs {
		_ = x[off : off+len(o)]
	}
	if len(offs) == 0 { // the kernel takes at least one tap
		fill(o, 0)
		if hasBias {
			addScalar(o, bias)
		}
		return
	}
	vecDepthwiseTapsAVX512(&o[0], unsafe.SliceData(x), &offs[0], &wt[0], len(offs), len(o), bias, btoi(hasBias))
}

//go:noescape
func erfF32AVX512(o, x *float32, n int, series, taylor *float64, ahead, aheadOut *float32)

// erfF32Vec sets o[i] = float32(erf32(float64(x[i]))) for the longest
// prefix of o that is a multiple of 8 values long, with AVX-512, and
// returns its length: 0 without AVX-512. o may be x. When ahead and
// aheadOut hold as many values, the kernel prefetches them as it goes,
// aheadOut to be written.
func erfF32Vec(o, x, ahead, aheadOut []float32) int {
	n := len(o) &^ 7
	if !hasAVX512 || !haveVec || n == 0 {
		return 0
	}
	_ = x[n-1]
	pf, pfOut := &x[0], &o[0] // already in cache: prefetching them does nothing
	if len(ahead) >= n {
		pf = &ahead[0]
	}
	if len(aheadOut) >= n {
		pfOut = &aheadOut[0]
	}
	erfF32AVX512(&o[0], &x[0], n, &erfSeries[0], &erfTaylor[0][0], pf, pfOut)
	return n
}

//go:noescape
func vecScaleToF32AVX512(o *float32, e *float64, s, r float64, n int)

// scaleToF32Vec is divToF32Vec multiplying by 1/s where that gives the
// quotient's float32 (vecScaleToF32AVX512), for s in [1, MaxFloat64]:
// a softmax's sum, which its largest term, exp(0), makes at least 1.
func scaleToF32Vec(o []float32, e []float64, s float64) int {
	n := len(o) &^ 7
	if !hasAVX512 || !haveVec || n == 0 || !(s >= 1 && s <= math.MaxFloat64) {
		return divToF32Vec(o, e, s)
	}
	_ = e[n-1]
	vecScaleToF32AVX512(&o[0], &e[0], s, 1/s, n)
	return n
}

//go:noescape
func vecSumRows8F32AVX512(x *float32, stride, n int, m, s *float64)

//go:noescape
func vecSqDevRows8F32AVX512(x *float32, stride, n int, m, s *float64)

//go:noescape
func vecSumRows8F64AVX512(x *float64, stride, n int, s *float64)

// sumRows8Vec sets s[k] to the left-to-right sum of the first n values of
// row k of x (eight rows of size values), as float64, or with m of
// float64(d*d), d = float64(v) - m[k], for the longest n that is a
// multiple of 8, with AVX-512, and returns n: 0 without AVX-512.
func sumRows8Vec[T floatElem](x []T, size int, m, s *[rowGroup]float64) int {
	n := size &^ 7
	if !hasAVX512 || !haveVec || n == 0 {
		return 0
	}
	_ = x[(rowGroup-1)*size+n-1]
	switch d := any(x).(type) {
	case []float32:
		if m != nil {
			vecSqDevRows8F32AVX512(&d[0], size, n, &m[0], &s[0])
		} else {
			vecSumRows8F32AVX512(&d[0], size, n, nil, &s[0])
		}
	case []float64:
		if m != nil {
			return 0
		}
		vecSumRows8F64AVX512(&d[0], size, n, &s[0])
	}
	return n
}
