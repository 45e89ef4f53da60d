package sim

import "sync/atomic"

// A float Gemm whose B is a constant (a classifier's fc weight, usually
// stored transposed: transB = 1) packs B once per session into the strips
// the micro-kernel reads, as MatMul does (matmul_packed.go). Packing a
// transposed B is a scatter with a stride of nr; redone on every run it
// cost ResNet-18's fc layer (1 x 512 by 512 x 1000) twenty times its
// arithmetic. The bits are sgemm's: C is scaled by beta first, then the
// same kernel adds alpha·A·B over the same k blocks.

// packedGemmWeight returns the k x n matrix b packed for the active
// kernel, from the cache when it holds that data already.
func packedGemmWeight(cache *atomic.Pointer[packedB], b matrix, k, n int) *packedB {
	kern := activeKernel
	if p := cache.Load(); p != nil && p.src == &b.data[0] && p.k == k && p.n == n && p.kern == kern.name {
		return p
	}
	nr := kern.nr
	data := weightFloats((n+nr-1)/nr*nr*k, func(d []float32) { packB(d, b, 0, 0, k, n, nr) })
	p := &packedB{kern: kern.name, k: k, n: n, src: &b.data[0], data: data}
	// Concurrent first runs may both pack; either result is the same.
	cache.Store(p)
	return p
}

// gemm computes y = alpha·A·B + beta·y for A m x k (a matrix view) and
// the packed B, y m x n with row stride n: sgemm's result, bit for bit.
// The workers split the columns, in whole strips, or the rows when there
// are enough of them for every worker.
func (p *packedB) gemm(m int, alpha float32, a matrix, beta float32, y []float32, threads int) {
	kern := activeKernel
	k, n, mr, nr := p.k, p.n, kern.mr, kern.nr
	if m <= 0 || n <= 0 {
		return
	}
	if beta != 1 {
		for i := range m {
			row := y[i*n : (i+1)*n]
			if beta == 0 {
				clear(row)
				continue
			}
			for j := range row {
				row[j] *= beta
			}
		}
	}
	if k <= 0 || alpha == 0 {
		return
	}
	if m == 1 && gemvFor(kern) {
		p.gemv(alpha, a, y, threads)
		return
	}
	band := func(i0, i1, j0, j1 int) {
		as := a
		if a.trans {
			as.data = a.data[i0:]
		} else {
			as.data = a.data[i0*a.ld:]
		}
		b := matrix{data: p.data[j0*k:], strips: true}
		sgemmSerial(kern, i1-i0, j1-j0, k, alpha, as, nil, 0, b, y[i0*n+j0:], n, nil)
	}
	splitBands(m, n, k, mr, nr, threads, band)
}

// gemv is gemm for a single row of A (m = 1), with gemvVec: it adds
// alpha·A·B to y block of k by block, as sgemmSerial does, reading each
// packed strip of B once. The workers split the columns in whole strips.
func (p *packedB) gemv(alpha float32, a matrix, y []float32, threads int) {
	kern := activeKernel
	k, n, nr := p.k, p.n, kern.nr
	// The row, scaled as packA scales it; alpha 1 leaves every value as
	// it is (but a signaling NaN, which the FMA quiets anyway).
	row := a.data[:k]
	if a.trans && a.ld != 1 || alpha != 1 {
		buf := f32Scratch.get(k)
		defer f32Scratch.put(buf)
		row = *buf
		step := 1 // A is 1 x k
		if a.trans {
			step = a.ld
		}
		for i := range row {
			row[i] = alpha * a.data[i*step]
		}
	}
	band := func(j0, j1 int) {
		for pc := 0; pc < k; pc += gemmKC {
			kc := min(gemmKC, k-pc)
			gemvVec(kern, row[pc:pc+kc], p.data[j0*k+pc*nr:], nr*k, y[j0:j1])
		}
	}
	// Split only when each worker gets a few hundred kilobytes of B.
	threads = max(1, min(threads, n*k/(1<<16)))
	if threads == 1 {
		band(0, n)
		return
	}
	parallelFor(threads, (n+nr-1)/nr, 1, func(lo, hi int) { band(lo*nr, min(hi*nr, n)) })
}
