//go:build !purego

package sim

//go:noescape
func swapRowsAVX512(dst, src *float32, offs *int, idx *int32, kc, off2 int)

// swapRowsFast reports whether swapRows8 has assembly: AVX-512.
var swapRowsFast = hasAVX512

// swapRows8 writes kc rows of a strip of 8 rows of X^T into dst: row p
// holds, for i = 0..7, element idx[i] of the 16 floats at src[offs[p]:]
// followed by the 16 at src[off2+offs[p]:]. The caller has checked that
// both windows lie in src for every offs[p] and every index is below 32.
func swapRows8(dst, src []float32, offs []int, idx *[16]int32, kc, off2 int) {
	if kc == 0 {
		return
	}
	_, _ = dst[8*kc-1], offs[kc-1]
	swapRowsAVX512(&dst[0], &src[0], &offs[0], &idx[0], kc, off2)
}

//go:noescape
func swapRowsOneAVX512(dst, src *float32, woff *int, shift *int32, idx *int32, kc int)

// swapRowsOne writes kc rows of a strip of 8 rows of X^T into dst: row p
// holds, for i = 0..7, element idx[i]+shift[p] of the 16 floats at
// src[woff[p]:]. The caller has checked that the window lies in src for
// every woff[p] and every index plus shift is below 16.
func swapRowsOne(dst, src []float32, woff []int, shift []int32, idx *[16]int32, kc int) {
	if kc == 0 {
		return
	}
	_, _, _ = dst[8*kc-1], woff[kc-1], shift[kc-1]
	swapRowsOneAVX512(&dst[0], &src[0], &woff[0], &shift[0], &idx[0], kc)
}

//go:noescape
func transpose8AVX(dst *float32, ldd int, src *float32, lds, blocks int)

// transpose8Fast reports whether transpose8 has assembly: AVX2.
var transpose8Fast = hasAVX2

// transpose8 writes the 8 rows of src (row stride lds), cols values
// each (a multiple of 8), transposed into dst (row stride ldd):
// dst[c*ldd+r] = src[r*lds+c].
func transpose8(dst []float32, ldd int, src []float32, lds, cols int) {
	if cols == 0 {
		return
	}
	_, _ = dst[(cols-1)*ldd+7], src[7*lds+cols-1]
	transpose8AVX(&dst[0], ldd, &src[0], lds, cols/8)
}
