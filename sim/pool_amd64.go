//go:build !purego

package sim

import "golang.org/x/sys/cpu"

//go:noescape
func maxPoolRowAVX512(o, src *float32, n, ld, rows, k, stride int)

// maxRowVec sets o[i] to the maximum, in maxPool's order and with its
// treatment of NaN and signed zeros, of the taps src[r*ld + i*stride + t]
// for rows r < rows and t < k, with AVX-512 (pool_amd64.s); it reports
// false, doing nothing, where that is not available or stride is not 1
// or 2.
func maxRowVec(o, src []float32, ld, rows, k, stride int) bool {
	if !hasAVX512 || !haveVec || !cpu.X86.HasBMI2 || stride < 1 || stride > 2 || len(o) == 0 || rows < 1 || k < 1 {
		return false
	}
	_ = src[(rows-1)*ld+(len(o)-1)*stride+k-1]
	maxPoolRowAVX512(&o[0], &src[0], len(o), ld, rows, k, stride)
	return true
}
