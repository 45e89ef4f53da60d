package sim

import "unsafe"

// Vector kernels for the elementwise float32 loops that dominate models of
// small convolutions (PaddleOCR's PP-LCNet: broadcast Mul/Add/Div,
// HardSwish's Clip, depthwise convolutions): Go does not vectorize them.
// An architecture file may provide vector versions (vec_amd64.go); each
// computes exactly what the Go loop computes, element for element, so the
// result does not depend on the machine. The pure-Go loops stay for the
// rest (other types, short rows, the tail of a row, the purego tag).

// asF32 returns s as a []float32 when T is float32.
func asF32[T any](s []T) ([]float32, bool) {
	var z T
	if _, ok := any(z).(float32); !ok {
		return nil, false
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(s))), len(s)), true
}

// vecMin is the shortest row worth a vector kernel's call.
const vecMin = 32

// arithVec computes the head of a float32 arithRow (o = a op b, a and b of
// len(o) elements or one) with a vector kernel and returns how many
// elements it did: a multiple of 8, or 0.
func arithVec(op arithOp, o, a, b []float32) int {
	if len(o) < vecMin || !haveVec {
		return 0
	}
	n := len(o) &^ 7
	return arithVecN(op, o, a, b, n)
}

// axpy adds s*x[i] to o[i] (len(x) = len(o)), a multiply then an add per
// element.
func axpy(o, x []float32, s float32) {
	x = x[:len(o)]
	if len(o) >= 16 && axpyWide(o, x, s) {
		return
	}
	k := 0
	if len(o) >= vecMin && haveVec {
		k = len(o) &^ 7
		axpyVec(o[:k], x[:k], s)
	}
	for j, v := range x[k:] {
		o[k+j] += float32(s * v)
	}
}

// clipF32 writes x clamped to [lo, hi] into o (missing bounds are ±Inf)
// and returns how many elements it did, as arithVec does.
func clipF32(o, x []float32, lo, hi float32) int {
	if len(o) < vecMin || !haveVec {
		return 0
	}
	n := len(o) &^ 7
	clipVec(o[:n], x[:n], lo, hi)
	return n
}
