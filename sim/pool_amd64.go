//go:build !purego

package sim

import "golang.org/x/sys/cpu"

//go:noescape
func maxPoolRowAVX512(o, src *float32, n, ld, rows, k, stride int)

//go:noescape
func maxPoolRowAVX2(o, src *float32, n, ld, rows, k, stride int)

// maxRowKernels are the assembly kernels of maxRowVec this CPU runs,
// fastest last.
func maxRowKernels() []func(o, src *float32, n, ld, rows, k, stride int) {
	var ks []func(o, src *float32, n, ld, rows, k, stride int)
	if !haveVec {
		return nil
	}
	if hasAVX2 {
		ks = append(ks, maxPoolRowAVX2)
	}
	if hasAVX512 && cpu.X86.HasBMI2 {
		ks = append(ks, maxPoolRowAVX512)
	}
	return ks
}

// maxRowAsm is maxRowVec's kernel, nil without one.
var maxRowAsm = func() func(o, src *float32, n, ld, rows, k, stride int) {
	if ks := maxRowKernels(); len(ks) > 0 {
		return ks[len(ks)-1]
	}
	return nil
}()

// maxRowVec sets o[i] to the maximum, in maxPool's order and with its
// treatment of NaN and signed zeros, of the taps src[r*ld + i*stride + t]
// for rows r < rows and t < k, with AVX-512 or AVX2 (pool_amd64.s); it
// reports false, doing nothing, where neither is available or stride is
// not 1 or 2.
func maxRowVec(o, src []float32, ld, rows, k, stride int) bool {
	return maxRowWith(maxRowAsm, o, src, ld, rows, k, stride)
}

// maxRowWith is maxRowVec with the kernel fn.
func maxRowWith(fn func(o, src *float32, n, ld, rows, k, stride int), o, src []float32, ld, rows, k, stride int) bool {
	if fn == nil || stride < 1 || stride > 2 || len(o) == 0 || rows < 1 || k < 1 {
		return false
	}
	_ = src[(rows-1)*ld+(len(o)-1)*stride+k-1]
	fn(&o[0], &src[0], len(o), ld, rows, k, stride)
	return true
}
