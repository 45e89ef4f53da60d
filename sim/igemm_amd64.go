//go:build !purego

package sim

import (
	"os"

	"golang.org/x/sys/cpu"
)

// The int8 micro-kernels in assembly (igemm_amd64.s, written by
// make_igemm_amd64.py). The wrappers check the bounds the assembly relies
// on.

//go:generate python3 make_igemm_amd64.py

//go:noescape
func igemmVNNI8x32(kg int, a, b *uint32, ldb int, c *int32, ldc int, corr *int32, relu int)

//go:noescape
func igemmVNNI8x32U(kg int, a, b *uint32, ldb int, c *int32, ldc int, corr *int32, relu int)

//go:noescape
func igemmAVX2x6x16(kg int, a, b *uint32, ldb int, c *int32, ldc int, corr *int32, relu int)

//go:noescape
func igemmAVX2x6x16U(kg int, a, b *uint32, ldb int, c *int32, ldc int, corr *int32, relu int)

// igemmAsm wraps an assembly kernel of an mr×nr tile whose corrections
// are ncorr values (mr per row, or nr per column).
func igemmAsm(mr, nr, ncorr int, f func(kg int, a, b *uint32, ldb int, c *int32, ldc int, corr *int32, relu int)) igemmFunc {
	return func(kg int, a, b []uint32, ldb int, c []int32, ldc int, corr []int32, relu bool) {
		_ = c[(mr-1)*ldc+nr-1]
		var cp *int32
		if corr != nil {
			_ = corr[ncorr-1]
			cp = &corr[0]
		}
		r := 0
		if relu {
			r = 1
		}
		if kg == 0 {
			var zero [1]uint32
			f(0, &zero[0], &zero[0], 0, &c[0], ldc, cp, r)
			return
		}
		_, _ = a[kg*mr-1], b[(kg-1)*ldb+nr-1]
		f(kg, &a[0], &b[0], ldb, &c[0], ldc, cp, r)
	}
}

var (
	vnniKernel = &igemmKernel{name: "vnni_8x32", mr: 8, nr: 32, g: 4,
		fn: igemmAsm(8, 32, 8, igemmVNNI8x32), fnU: igemmAsm(8, 32, 32, igemmVNNI8x32U)}
	avx2IKernel = &igemmKernel{name: "avx2_6x16", mr: 6, nr: 16, g: 2,
		fn: igemmAsm(6, 16, 6, igemmAVX2x6x16), fnU: igemmAsm(6, 16, 16, igemmAVX2x6x16U)}
)

// availableIKernels lists the int8 kernels this machine can run, fastest
// last.
func availableIKernels() []*igemmKernel {
	var ks []*igemmKernel
	if cpu.X86.HasAVX2 {
		ks = append(ks, avx2IKernel)
	}
	if hasAVX512 && cpu.X86.HasAVX512VNNI {
		ks = append(ks, vnniKernel)
	}
	return ks
}

func init() {
	ks := availableIKernels()
	if len(ks) > 0 {
		activeIKernel = ks[len(ks)-1]
	}
	// AMQ_SIM_IGEMM names the int8 kernel to use instead, or "exact" for
	// the float path, to compare them.
	if want := os.Getenv("AMQ_SIM_IGEMM"); want != "" {
		activeIKernel = nil
		for _, k := range ks {
			if k.name == want {
				activeIKernel = k
			}
		}
	}
}

//go:noescape
func quantRoundAVX512(y *int8, x *float32, n int, scale, offset float32)

//go:noescape
func dequantAVX512(y *float32, x *int32, n int, scale float32, mode int)

// ascendAVX512 selects the AVX-512 routines of AscendQuant and
// AscendDequant over the AVX2 ones (tests clear it to check those).
var ascendAVX512 = hasAVX512

//go:noescape
func quantRoundAVX2(y *int8, x *float32, n int, scale, offset float32)

//go:noescape
func dequantAVX2(y *float32, x *int32, s *float32, n int, scale float32, mode int)

// quantRoundVec does AscendQuant with round_mode Round on the longest
// prefix of x it can (whole vectors, on AVX-512 or AVX2) and returns its
// length.
func quantRoundVec(y []int8, x []float32, scale, offset float32) int {
	switch {
	case ascendAVX512 && len(x) >= 16:
		n := len(x) &^ 15
		_ = y[n-1]
		quantRoundAVX512(&y[0], &x[0], n, scale, offset)
		return n
	case cpu.X86.HasAVX2 && len(x) >= 32:
		n := len(x) &^ 31
		_ = y[n-1]
		quantRoundAVX2(&y[0], &x[0], n, scale, offset)
		return n
	}
	return 0
}

// dequantVec does AscendDequant with one finite scale (mode 0 plain, 1
// relu_flag, 2 a fused Relu node) on the longest prefix of x it can and
// returns its length.
func dequantVec(y []float32, x []int32, scale float32, mode int) int {
	switch {
	case ascendAVX512 && len(x) >= 16:
		n := len(x) &^ 15
		_ = y[n-1]
		dequantAVX512(&y[0], &x[0], n, scale, mode)
		return n
	case cpu.X86.HasAVX2 && len(x) >= 8:
		n := len(x) &^ 7
		_ = y[n-1]
		dequantAVX2(&y[0], &x[0], nil, n, scale, mode)
		return n
	}
	return 0
}

//go:noescape
func dequantColsAVX512(y *float32, x *int32, s *float32, n int, mode int)

// dequantColsVec is dequantVec with scale s[i] for x[i] (all finite), on
// the longest prefix it can; it returns the prefix's length.
func dequantColsVec(y []float32, x []int32, s []float32, mode int) int {
	switch {
	case ascendAVX512 && len(x) >= 16:
		n := len(x) &^ 15
		_, _ = y[n-1], s[n-1]
		dequantColsAVX512(&y[0], &x[0], &s[0], n, mode)
		return n
	case cpu.X86.HasAVX2 && len(x) >= 8:
		n := len(x) &^ 7
		_, _ = y[n-1], s[n-1]
		dequantAVX2(&y[0], &x[0], &s[0], n, 0, mode)
		return n
	}
	return 0
}
