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
	rowStrips := (m + kern.mr - 1) / kern.mr
	ab := wordScratch.get(rowStrips * kg * kern.mr)
	defer wordScratch.put(ab)
	ap := *ab
	stripWords := kg * kern.mr
	parallelFor(c.threads, rowStrips, max(1, 4096/max(1, k)), func(lo, hi int) {
		rows := min(m, hi*kern.mr) - lo*kern.mr
		kern.packRows(ap[lo*stripWords:hi*stripWords], aq[lo*kern.mr*k:], rows, k, k, true)
	})
	z := int64(128 + offset)
	words, sums := pw.words[0], pw.sums[0]
	y := make([]int32, m*n)
	// When C does not vary along rows, the kernel adds it and the
	// correction per column itself, if no sum can then leave int32.
	var cc rowCorrections
	if cd == nil || rs == 0 {
		var cb []int32
		if cd != nil {
			cb = make([]int32, n)
			for j := range cb {
				cb[j] = cd[j*cs]
			}
		}
		cc = newRowCorrections(sums, cb, z, k, colStrips*kern.nr)
	}
	perBlock := max(1, igemmBlockBytes/(kg*4*kern.nr)) // column strips a tile
	blocks := (colStrips + perBlock - 1) / perBlock
	perBand := max(1, igemmBandRows/kern.mr) // row strips a tile
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
				as := ap[rsi*stripWords : (rsi+1)*stripWords]
				for csi := block * perBlock; csi < min(colStrips, (block+1)*perBlock); csi++ {
					b := words[csi*kg*kern.nr : (csi+1)*kg*kern.nr]
					i0, j0 := rsi*kern.mr, csi*kern.nr
					rows, cols := min(kern.mr, m-i0), min(kern.nr, n-j0)
					switch {
					case cc.fits && rows == kern.mr && cols == kern.nr:
						kern.fnU(kg, as, b, kern.nr, y[i0*n+j0:], n, cc.c32[j0:], false)
						continue
					case cc.fits:
						kern.fnU(kg, as, b, kern.nr, tile, kern.nr, cc.c32[j0:], false)
						for r := range rows {
							copy(y[(i0+r)*n+j0:][:cols], tile[r*kern.nr:])
						}
						continue
					}
					kern.fnU(kg, as, b, kern.nr, tile, kern.nr, nil, false)
					for r := 0; r < rows; r++ {
						i := i0 + r
						dst := y[i*n+j0:][:cols]
						for jj, v := range tile[r*kern.nr : r*kern.nr+cols] {
							s := int64(v) - z*int64(sums[j0+jj])
							if cd != nil {
								s += int64(cd[i*rs+(j0+jj)*cs])
							}
							dst[jj] = saturate(s)
						}
					}
				}
			}
		}
	})
	return y, true
}
