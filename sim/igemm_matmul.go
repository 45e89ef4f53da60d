package sim

import "amq/onnx"

// The int8 Gemm and MatMul of deploy models on the int8 kernels
// (igemm.go): the activation's rows are the rows operand (unsigned bytes
// u = q + 128), the weight's columns the columns operand (signed).

// igemmBlockBytes is about how much packed weight a tile's columns take:
// it stays in L2 while every strip of rows passes over it.
const igemmBlockBytes = 128 << 10

// igemmBandRows is how many rows a tile takes: a strip of them stays in
// L1 while it passes over the tile's columns.
const igemmBandRows = 64

// gemmInt8 computes the int8 product of A (m×k, int8 from AscendQuant with
// activation offset) and the int8 weight B (k×n, or n×k when transB),
// (A not transposed: transA makes it report false),
// plus the optional int32 bias C read at i·rs + j·cs, saturated to int32,
// with the active int8 kernel. It reports false, computing nothing, when
// there is no kernel, the sums are too deep for it, or the operands are
// not int8 (and int32 for C): the exact path then runs, and reports type
// errors. cache keeps the packed weight when B is an initializer (may be
// nil).
func gemmInt8(c *runCtx, a, b, bias *onnx.Tensor, rs, cs, m, n, k int, transA, transB bool, offset int, cache *igemmWeights) ([]int32, bool) {
	kern := activeIKernel
	if kern == nil || transA || k == 0 || k > igemmMaxK || m == 0 || n == 0 {
		return nil, false
	}
	aq, okA := a.Data.([]int8)
	bq, okB := b.Data.([]int8)
	var cd []int32
	okC := true
	if bias != nil {
		cd, okC = bias.Data.([]int32)
	}
	if !okA || !okB || !okC || len(aq) < m*k || len(bq) < k*n {
		return nil, false
	}
	ldk, ldn := n, 1
	if transB {
		ldk, ldn = 1, k
	}
	kg := kern.kgroups(k)
	colStrips := (n + kern.nr - 1) / kern.nr
	pw := cache.get(kern, bq, k, n, transB, func() *igemmPacked {
		words := make([]uint32, colStrips*kg*kern.nr)
		sums := kern.packCols(words, bq, k, n, ldk, ldn)
		return &igemmPacked{words: [][]uint32{words}, sums: [][]int32{sums}}
	})
	gm := &int8Gemm{kern: kern, m: m, n: n, kg: kg, z: int64(128 + offset), b: pw.words[0], sums: pw.sums[0],
		c: cd, rs: rs, cs: cs, y: make([]int32, m*n)}
	rowStrips := (m + kern.mr - 1) / kern.mr
	ab := wordScratch.get(rowStrips * kg * kern.mr)
	defer wordScratch.put(ab)
	gm.a = *ab
	stripWords := kg * kern.mr
	parallelFor(c.threads, rowStrips, max(1, 4096/max(1, k)), func(lo, hi int) {
		rows := min(m, hi*kern.mr) - lo*kern.mr
		kern.packRows(gm.a[lo*stripWords:hi*stripWords], aq[lo*kern.mr*k:], rows, k, k, true)
	})
	// When C does not vary along rows, the kernel adds it and the
	// correction per column itself, if no sum can then leave int32.
	if cd == nil || rs == 0 {
		var cb []int32
		if cd != nil {
			cb = make([]int32, n)
			for j := range cb {
				cb[j] = cd[j*cs]
			}
		}
		gm.corr = newRowCorrections(gm.sums, cb, gm.z, k, colStrips*kern.nr)
	}

	// Tiles: blocks of column strips (packed weights that stay in L2)
	// by bands of row strips, at least two per thread when there are
	// enough rows.
	perBlock := max(1, igemmBlockBytes/(kg*4*kern.nr))
	blocks := (colStrips + perBlock - 1) / perBlock
	perBand := max(1, igemmBandRows/kern.mr)
	bands := (rowStrips + perBand - 1) / perBand
	if t := c.threads; t > 1 && blocks*bands < 2*t {
		bands = min(rowStrips, (2*t+blocks-1)/blocks)
		perBand = (rowStrips + bands - 1) / bands
		bands = (rowStrips + perBand - 1) / perBand
	}
	work := perBand * kern.mr * perBlock * kern.nr * k
	parallelFor(c.threads, blocks*bands, max(1, (1<<18)/work), func(lo, hi int) {
		tile := make([]int32, kern.mr*kern.nr)
		for t := lo; t < hi; t++ {
			block, band := t/bands, t%bands
			for rsi := band * perBand; rsi < min(rowStrips, (band+1)*perBand); rsi++ {
				for csi := block * perBlock; csi < min(colStrips, (block+1)*perBlock); csi++ {
					gm.tile(rsi, csi, tile)
				}
			}
		}
	})
	return gm.y, true
}

// int8Gemm is one run of an int8 Gemm or MatMul on the int8 kernels: the
// packed activation rows and weight columns, C, and the output.
type int8Gemm struct {
	kern     *igemmKernel
	m, n, kg int
	z        int64    // the activation's zero, 128 + offset
	a, b     []uint32 // packed rows and columns
	sums     []int32  // the weight's column sums
	corr     rowCorrections
	c        []int32 // C, read at i·rs + j·cs; nil for none
	rs, cs   int
	y        []int32
}

// tile computes the output tile of row strip rsi and column strip csi;
// tile is an mr×nr scratch tile.
func (gm *int8Gemm) tile(rsi, csi int, tile []int32) {
	kern, kg, n := gm.kern, gm.kg, gm.n
	a := gm.a[rsi*kg*kern.mr : (rsi+1)*kg*kern.mr]
	b := gm.b[csi*kg*kern.nr : (csi+1)*kg*kern.nr]
	i0, j0 := rsi*kern.mr, csi*kern.nr
	rows, cols := min(kern.mr, gm.m-i0), min(kern.nr, n-j0)
	switch {
	case gm.corr.fits && rows == kern.mr && cols == kern.nr:
		kern.fnU(kg, a, b, kern.nr, gm.y[i0*n+j0:], n, gm.corr.c32[j0:], false)
		return
	case gm.corr.fits:
		kern.fnU(kg, a, b, kern.nr, tile, kern.nr, gm.corr.c32[j0:], false)
		for r := range rows {
			copy(gm.y[(i0+r)*n+j0:][:cols], tile[r*kern.nr:])
		}
		return
	}
	kern.fnU(kg, a, b, kern.nr, tile, kern.nr, nil, false)
	for r := range rows {
		i := i0 + r
		dst := gm.y[i*n+j0:][:cols]
		for jj, v := range tile[r*kern.nr : r*kern.nr+cols] {
			s := int64(v) - gm.z*int64(gm.sums[j0+jj])
			if gm.c != nil {
				s += int64(gm.c[i*gm.rs+(j0+jj)*gm.cs])
			}
			dst[jj] = saturate(s)
		}
	}
}
