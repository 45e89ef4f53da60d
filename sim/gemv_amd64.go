//go:build !purego

package sim

// The GEMM of a single row of A (a classifier at batch 1) with AVX-512 or
// AVX2 (gemv_amd64.s, written by make_gemv_amd64.py): the 8-row (6-row)
// kernel would compute seven (five) rows of zeros beside it.

//go:generate python3 make_gemv_amd64.py

//go:noescape
func gemvAVX512(kc int, a, b *float32, ldb int, c *float32, n int)

//go:noescape
func gemvAVX2(kc int, a, b *float32, ldb int, c *float32, n int)

// gemvVec adds to each c[j] the product of the row a (kc = len(a) deep)
// and column j of a block of B packed in strips of kern's nr columns,
// strip s at b[s*ldb:], row p of a strip at p*nr, with the bits that
// sgemmSerial gives a one-row A with kern. It reports false, doing
// nothing, when it has no vector kernel matching kern.
func gemvVec(kern microKernel, a, b []float32, ldb int, c []float32) bool {
	if !gemvFor(kern) || len(a) == 0 || len(c) == 0 {
		return false
	}
	nr := kern.nr
	strips := (len(c) + nr - 1) / nr
	_ = b[(strips-1)*ldb+nr*len(a)-1]
	if nr == avx512Kernel.nr {
		gemvAVX512(len(a), &a[0], &b[0], ldb, &c[0], len(c))
	} else {
		gemvAVX2(len(a), &a[0], &b[0], ldb, &c[0], len(c))
	}
	return true
}

// gemvFor reports whether gemvVec computes kern's bits: kern is one of
// the assembly kernels, whose sums it repeats.
func gemvFor(kern microKernel) bool {
	return hasAVX512 && kern.name == avx512Kernel.name && kern.nr == 32 ||
		hasAVX2 && kern.name == avx2Kernel.name && kern.nr == 16
}
