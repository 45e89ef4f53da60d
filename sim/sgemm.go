package sim

import "sync"

// This file holds sim's float32 matrix multiplication (SGEMM), the kernel
// under Conv, ConvTranspose, Gemm and MatMul; the ONNX Gemm and MatMul
// operators themselves are in gemm_op.go and matmul.go. It follows the structure of
// Goto's and BLIS's GEMM: panels of B (kc x nc) and blocks of A (mc x kc)
// are copied ("packed") into contiguous buffers laid out in the order the
// micro-kernel reads them, and the micro-kernel keeps an mr x nr tile of C
// in registers for the whole kc loop. Packing makes every inner-loop load
// sequential and lets the blocks stay in L1/L2 while they are reused.

// Cache blocking. kc*nr floats of B (one packed strip, 32 KiB for the
// AVX-512 kernel) plus kc*mr floats of A fit in L1; mc*kc floats of A fit
// in half of L2; kc*nc floats of B fit in L3. kc is also where the
// kernels' sums restart (each adds a kc-long dot product to C), so it
// fixes the bits of every result: changing it changes the last bits of
// the records.
const (
	gemmKC = 256
	gemmNC = 3072
)

// cacheLine is the size of a cache line in bytes, the unit of prefetching.
const cacheLine = 64

// gemmMC is mc for this machine's L2, a multiple of every kernel's mr (2,
// 6, 8): 1008 rows (1 MiB of A) with a 2 MiB L2, so that a convolution's
// B strip is loaded into L1 once for all its output channels.
var gemmMC = min(gemmMCMax, max(120, l2Bytes/2/(gemmKC*4)/24*24))

// gemmMCMax bounds gemmMC, so that buffers of one row block can be arrays.
const gemmMCMax = 1008

// microKernel adds the product of a packed mr-row strip of A (kc deep) and
// a kc x nr block of B to the mr x nr tile of C that starts at c[0] with
// row stride ldc. Row p of the B block is b[p*ldb : p*ldb+nr]: ldb = nr
// for a packed strip, or B's own row stride when B is read in place.
type microKernel struct {
	mr, nr int
	name   string
	fn     func(kc int, a, b []float32, ldb int, c []float32, ldc int)
	// tiles, when not nil, is fn for the m rows of C at once, over the
	// first cols (at most nr) columns of the block of B, with the strips
	// of A one after another (strip s at a[s*mr*kc:], zero-padded to whole
	// strips), and with an epilogue (kc > 0): with bias not nil C becomes
	// bias[r] + the product (C is not read), and with relu each result
	// then becomes max(v, 0); before that, with colBias not nil,
	// colBias[j] is added to column j. Meanwhile it loads next, memory
	// the caller reads soon (the next block of B), into L2. When kept.y
	// is not nil (only for kernels with storesKept), the results go to
	// the kept columns that kept describes instead of C, which is then
	// only read (with bias nil). When rows.offs is not nil (only for
	// kernels with readsRows), the block of B is the strip rows
	// describes, and b (ldb = nr) is where the first tile copies it for
	// the others, as packRows would (nil when m <= mr).
	// With res.add not nil (only for kernels with addsRes), the last
	// stage before Relu adds res.add, laid out as where the results go
	// (C, or kept.y), in the order res.first says.
	tiles func(kc int, a []float32, m int, b []float32, ldb int, c []float32, ldc, cols int, bias, colBias []float32, relu bool, next []float32, kept keptStrip, rows rowsStrip, res resStrip)
	// storesKept reports whether tiles takes a keptStrip.
	storesKept bool
	// readsRows reports whether tiles takes a rowsStrip: a B read at row
	// offsets then needs no packRows pass (a convolution's whole strip
	// copied before the kernel read it again, 2-3% of ResNet-18).
	readsRows bool
	// addsRes reports whether tiles takes a resStrip.
	addsRes bool
	// packRows, when not nil, packs kc rows of a strip of a B read at
	// row offsets (matrix.rows): row p of dst (nr floats) is the nr
	// floats at src[offs[p]:]. Kernels without it do not take such a B.
	packRows func(dst, src []float32, offs []int, kc int)
}

// epilogue is what sgemmSerial does besides the product: C starts from
// bias[i] in row i instead of its contents, colBias[j] is added to column
// j after the product, and Relu clamps the result. It gives the bits of
// filling C with the bias before, adding the column bias and clamping
// after, done while the tile is in registers when the kernel can (tiles).
type epilogue struct {
	bias     []float32 // one value a row of C; nil: C's own contents
	fromZero bool      // with bias nil: C starts from zero (is not read)
	colBias  []float32 // one value a column of C, or nil
	relu     bool
	// kept, when not nil (kernels with storesKept only), takes the
	// results of the last k block instead of C: C holds the sums of the
	// earlier ones, and is not used at all (may be nil) when k <= gemmKC.
	kept *keptCols
	// res, when not nil (kernels with addsRes only), is added to the
	// results of the last k block after colBias and before Relu: a
	// residual Add fused into a convolution (conv_residual.go), laid out
	// as C (row stride ldc) or, with kept, as kept.y; resFirst: it is the
	// Add's first operand (which picks the NaN when both are one).
	res      []float32
	resFirst bool
}

// resStrip is epilogue.res for one tile column, from its first value on.
type resStrip struct {
	add   []float32 // nil: no residual
	first bool
}

// keptCols is where the kept columns of a virtual output go
// (convimplicit.go): strip s of C (columns s*nr to s*nr+nr) keeps the
// columns masks[s] marks, which are consecutive values of each output row
// from y[offs[s]] on; row i of the output is at y[i*ld:].
type keptCols struct {
	y     []float32
	ld    int
	offs  []int
	masks []uint32
}

// keptStrip is keptCols for one strip of C, from row 0 of the tile.
type keptStrip struct {
	y    []float32 // row 0's first kept value; nil: store to C
	ld   int
	mask uint32 // bit j: column j of the strip is kept
}

// rowsStrip is a strip of a B read at row offsets (matrix.rows), for a
// kernel that reads it itself: row p is the nr floats at src[offs[p]:].
type rowsStrip struct {
	src  []float32
	offs []int
}

// strip is strip s of C from row i on.
func (k *keptCols) strip(i, s int) keptStrip {
	return keptStrip{y: k.y[i*k.ld+k.offs[s]:], ld: k.ld, mask: k.masks[s]}
}

// gemmZeros is the bias of an epilogue that starts C at zero: the kernel
// then writes its tile instead of adding to C, and 0 + x is x, so C need
// not be cleared first. It is only read.
var gemmZeros [gemmMCMax + 8]float32

// goKernel is the portable micro-kernel; it is always available, and tests
// compare the assembly kernels with it.
var goKernel = microKernel{mr: 2, nr: 4, name: "go2x4", fn: kernelGo2x4}

// activeKernel is the micro-kernel sgemm uses. Architecture files replace it
// at init time after checking the CPU's features.
var activeKernel = goKernel

// kernelGo2x4 is the pure-Go 2x4 micro-kernel. Go's register allocator
// keeps its eight accumulators and six operands in registers; 4x4 and 3x4
// tiles spill to the stack and measured slower (3.6 against 5.6 GFLOP/s).
// The float32() conversions round each product, so that the compiler cannot
// fuse multiply and add into one FMA (it does on arm64, not on amd64): the
// kernel computes the same bits on every architecture (docs/design.md
// "Same bits on every architecture").
func kernelGo2x4(kc int, a, b []float32, ldb int, c []float32, ldc int) {
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	if kc == 0 {
		return
	}
	a = a[:2*kc]
	b = b[:(kc-1)*ldb+4]
	for len(a) >= 2 && len(b) >= 4 {
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
		a0 := a[0]
		c00 += float32(a0 * b0)
		c01 += float32(a0 * b1)
		c02 += float32(a0 * b2)
		c03 += float32(a0 * b3)
		a1 := a[1]
		c10 += float32(a1 * b0)
		c11 += float32(a1 * b1)
		c12 += float32(a1 * b2)
		c13 += float32(a1 * b3)
		a = a[2:]
		if len(b) < ldb {
			break
		}
		b = b[ldb:]
	}
	r := c[:4:4]
	r[0] += c00
	r[1] += c01
	r[2] += c02
	r[3] += c03
	r = c[ldc : ldc+4 : ldc+4]
	r[0] += c10
	r[1] += c11
	r[2] += c12
	r[3] += c13
}

// matrix is a row-major view of a float32 matrix, possibly transposed: its
// element (i, j) is data[i*ld+j], or data[j*ld+i] when trans is set.
type matrix struct {
	data  []float32
	ld    int
	trans bool
	// strips marks a B operand that im2col wrote already packed, as
	// columns of nr (the kernel's) over the whole k: element (p, j) is
	// data[(j/nr)*nr*k + p*nr + j%nr], the last strip padded to nr
	// columns (whatever the padding holds only reaches discarded
	// columns of C). ld and trans are unused; only sgemmSerial takes it.
	strips bool
	// rows, when not nil, marks a B operand read in place at row offsets
	// (a convolution's input, see convImplicit): element (p, j) is
	// data[rows[p]+j], and data holds nr-1 values past the last column
	// of every row. Only sgemmSerial takes it, with a kernel that has
	// packRows.
	rows []int
}

// sgemm computes C = alpha*A*B + beta*C for an m x k matrix A, a k x n
// matrix B and the m x n row-major matrix c with row stride ldc, using up to
// threads goroutines. When beta is 0, C is overwritten and its previous
// contents (even NaN) do not matter, as in BLAS.
func sgemm(m, n, k int, alpha float32, a, b matrix, beta float32, c []float32, ldc int, threads int) {
	sgemmWith(activeKernel, m, n, k, alpha, a, b, beta, c, ldc, threads)
}

func sgemmWith(kern microKernel, m, n, k int, alpha float32, a, b matrix, beta float32, c []float32, ldc int, threads int) {
	gemmDriver(kern, m, n, k, alpha, a, nil, b, beta, c, ldc, threads)
}

// sgemmPacked computes C = A*B + beta*C like sgemm for the matrix A that pa
// holds packed for the active kernel.
func sgemmPacked(pa *packedA, n int, b matrix, beta float32, c []float32, ldc int, threads int) {
	gemmDriver(activeKernel, pa.m, n, pa.k, 1, matrix{}, pa, b, beta, c, ldc, threads)
}

// packedA is a whole m x k matrix A packed once, for matrices such as
// convolution weights that every run multiplies again: packing a layer's
// weights on each call cost a fifth of a ResNet-18 run. Block pc/gemmKC of
// k holds the strips packA makes for all rows, so rows [i0, i0+mc) of
// block pc start at pc*mpad + i0*kc for any i0 that is a multiple of mr.
type packedA struct {
	kern    string // name of the micro-kernel whose mr the layout uses
	m, k    int
	mr      int
	mpad    int // m rounded up to a multiple of mr
	data    []float32
	srcData *float32 // first element of the matrix packed, to recognize it
}

// packWhole packs the m x k matrix a for kern, with alpha 1.
func packWhole(kern microKernel, a matrix, m, k int) *packedA {
	mr := kern.mr
	mpad := (m + mr - 1) / mr * mr
	data := weightFloats(mpad*k, func(d []float32) {
		for pc := 0; pc < k; pc += gemmKC {
			kc := min(gemmKC, k-pc)
			packA(d[pc*mpad:pc*mpad+mpad*kc], a, 0, pc, m, kc, mr, 1)
		}
	})
	p := &packedA{kern: kern.name, m: m, k: k, mr: mr, mpad: mpad, data: data}
	if len(a.data) > 0 {
		p.srcData = &a.data[0]
	}
	return p
}

// gemmDriver is sgemm with A either as a matrix or, when pa is not nil,
// packed in advance for kern.
func gemmDriver(kern microKernel, m, n, k int, alpha float32, a matrix, pa *packedA, b matrix, beta float32, c []float32, ldc int, threads int) {
	if m <= 0 || n <= 0 {
		return
	}
	if beta != 1 {
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
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
	// Each goroutine takes a band of C's columns (or rows, whichever is
	// longer) and runs the serial algorithm on it with its own packing
	// buffers, so the workers share nothing they write.
	work := m * n * k
	threads = max(1, min(threads, work/(64*64*64)+1))
	if threads == 1 {
		sgemmSerial(kern, m, n, k, alpha, a, pa, 0, b, c, ldc, nil)
		return
	}
	if n >= m {
		units := (n + kern.nr - 1) / kern.nr
		parallelFor(threads, units, 1, func(lo, hi int) {
			j0, j1 := lo*kern.nr, min(hi*kern.nr, n)
			bs := b
			if b.trans {
				bs.data = b.data[j0*b.ld:]
			} else {
				bs.data = b.data[j0:]
			}
			sgemmSerial(kern, m, j1-j0, k, alpha, a, pa, 0, bs, c[j0:], ldc, nil)
		})
		return
	}
	units := (m + kern.mr - 1) / kern.mr
	parallelFor(threads, units, 1, func(lo, hi int) {
		i0, i1 := lo*kern.mr, min(hi*kern.mr, m)
		as := a
		if pa == nil {
			if a.trans {
				as.data = a.data[i0:]
			} else {
				as.data = a.data[i0*a.ld:]
			}
		}
		sgemmSerial(kern, i1-i0, n, k, alpha, as, pa, i0, b, c[i0*ldc:], ldc, nil)
	})
}

// packBuffers are reused across calls; a pool keeps one set per
// concurrently running goroutine.
type packBuffers struct {
	a, b []float32
	tile []float32
}

var packPool = sync.Pool{New: func() any { return new(packBuffers) }}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// directB is the largest m for which sgemm reads B in place instead of
// packing it. Packing costs a pass over B that only pays off when many
// row strips of A reuse the packed panel; for the short, wide products of
// convolutions (64 output channels by 3136 positions) it cost as much as
// the arithmetic.
const directB = 128

// sgemmSerial is the blocked algorithm on one goroutine; it adds alpha*A*B
// to C. When pa is not nil, A is rows [row0, row0+m) of pa instead of a.
func sgemmSerial(kern microKernel, m, n, k int, alpha float32, a matrix, pa *packedA, row0 int, b matrix, c []float32, ldc int, ep *epilogue) {
	if ep != nil && ep.kept != nil && (!kern.storesKept || k == 0) {
		panic("sim: kept columns for a kernel that cannot store them")
	}
	if ep != nil && ep.res != nil && (!kern.addsRes || k == 0) {
		panic("sim: residual for a kernel that cannot add it")
	}
	if ep != nil && (kern.tiles == nil || k == 0) {
		// Fill before and clamp after, as the kernel's epilogue would.
		ep.fill(c, m, n, ldc)
		sgemmSerial(kern, m, n, k, alpha, a, pa, row0, b, c, ldc, nil)
		ep.finish(c, m, n, ldc)
		return
	}
	mr, nr := kern.mr, kern.nr
	bufs := packPool.Get().(*packBuffers)
	defer packPool.Put(bufs)
	// A strided B read in place costs the kernel up to half its speed
	// (rows a page or more apart defeat L1 and the TLB), so im2col packs
	// its matrix into strips itself.
	if b.rows != nil {
		checkRowOffsets(b, k, n, nr)
	}
	direct := !b.trans && m <= directB && !b.strips && b.rows == nil
	nc0 := min(gemmNC, (n+nr-1)/nr*nr)
	if direct || b.strips || b.rows != nil {
		nc0 = nr // only the ragged last strip is packed
	}
	// Row blocks of equal size: 1024 rows as 1008 + 16 would stream all
	// of B once more for 16 rows.
	blocks := (m + gemmMC - 1) / gemmMC
	mc0 := ((m+blocks-1)/blocks + mr - 1) / mr * mr
	kc0 := min(gemmKC, k)
	bufs.b = grow(bufs.b, kc0*nc0)
	if pa == nil {
		bufs.a = grow(bufs.a, kc0*mc0)
	}
	bufs.tile = grow(bufs.tile, mr*nr)
	tile := bufs.tile
	for jc := 0; jc < n; jc += gemmNC {
		nc := min(gemmNC, n-jc)
		for pc := 0; pc < k; pc += gemmKC {
			kc := min(gemmKC, k-pc)
			full := nc / nr * nr // columns in whole strips
			if b.strips || b.rows != nil {
				// already packed, or read in place
			} else if !direct {
				packB(bufs.b, b, pc, jc, kc, nc, nr)
			} else if full < nc {
				packB(bufs.b, b, pc, jc+full, kc, nc-full, nr)
			}
			for ic := 0; ic < m; ic += mc0 {
				mc := min(mc0, m-ic)
				ablk := bufs.a
				if pa != nil {
					ablk = pa.data[pc*pa.mpad+(row0+ic)*kc:]
				} else {
					packA(bufs.a, a, ic, pc, mc, kc, mr, alpha)
				}
				for jr := 0; jr < nc; jr += nr {
					nn := min(nr, nc-jr)
					var bp, next []float32
					var rows rowsStrip
					ldb := nr
					switch {
					case b.rows != nil && kern.readsRows:
						// The kernel's first tile reads the strip in
						// place and copies it for the others.
						rows = rowsStrip{src: b.data[jc+jr:], offs: b.rows[pc : pc+kc]}
						if mc > mr {
							bp = bufs.b[:kc*nr]
						}
					case b.rows != nil:
						// Packed here, to be read from L1 by every
						// strip of A.
						kern.packRows(bufs.b, b.data[jc+jr:], b.rows[pc:], kc)
						bp = bufs.b[:kc*nr]
					case b.strips:
						bp = b.data[(jc+jr)*k+pc*nr:][:kc*nr]
						if jr+nr < nc {
							next = b.data[(jc+jr+nr)*k+pc*nr:][:kc*nr]
						}
					case !direct:
						bp = bufs.b[jr*kc : (jr+nr)*kc]
						if jr+nr < nc {
							next = bufs.b[(jr+nr)*kc : (jr+2*nr)*kc]
						}
					case jr < full:
						bp, ldb = b.data[pc*b.ld+jc+jr:], b.ld
					default:
						bp = bufs.b[:nr*kc]
					}
					if kern.tiles != nil {
						// All of the block's tiles in one call to the
						// kernel, which also loads the next block of B
						// into L2 meanwhile.
						bias, colBias, relu, kept, res := ep.block(ic, mc, jc+jr, (jc+jr)/nr, ldc, pc == 0, pc+kc == k)
						var cb []float32
						if c != nil {
							cb = c[ic*ldc+jc+jr:]
						}
						kern.tiles(kc, ablk, mc, bp, ldb, cb, ldc, nn, bias, colBias, relu, next, kept, rows, res)
						continue
					}
					// (ep is nil here: kernels without tiles take it above.)
					fnTiles(kern, kc, ablk, mc, bp, ldb, c[ic*ldc+jc+jr:], ldc, nn, tile)
				}
			}
		}
	}
}

// fill starts C's m x n block for the product as the kernel's epilogue
// would: from the bias of each row, or from zero.
func (ep *epilogue) fill(c []float32, m, n, ldc int) {
	for i := 0; i < m; i++ {
		switch {
		case ep.bias != nil:
			fill(c[i*ldc:i*ldc+n], ep.bias[i])
		case ep.fromZero:
			clear(c[i*ldc : i*ldc+n])
		}
	}
}

// finish applies what the kernel's epilogue adds after the product to
// C's m x n block: the column bias, then Relu.
func (ep *epilogue) finish(c []float32, m, n, ldc int) {
	for i := 0; i < m; i++ {
		if ep.colBias != nil {
			addRow(c[i*ldc:i*ldc+n], ep.colBias[:n])
		}
		if ep.relu {
			reluInPlace(c[i*ldc : i*ldc+n])
		}
	}
}

// block is the kernel's epilogue arguments for rows [ic, ic+mc) of C
// against the block of B from column j (strip s), on the first and on
// the last k block: the bias C starts from (first block only), then on
// the last block the column bias, Relu, the kept-columns store and the
// residual. A nil ep gives none.
func (ep *epilogue) block(ic, mc, j, s, ldc int, first, last bool) (bias, colBias []float32, relu bool, kept keptStrip, res resStrip) {
	if ep == nil {
		return
	}
	switch {
	case !first:
	case ep.bias != nil:
		bias = ep.bias[ic:]
	case ep.fromZero:
		bias = gemmZeros[:mc]
	}
	if !last {
		return
	}
	if ep.kept != nil {
		kept = ep.kept.strip(ic, s)
	}
	if ep.res != nil {
		res = resStrip{first: ep.resFirst}
		if ep.kept != nil {
			res.add = ep.res[ic*ep.kept.ld+ep.kept.offs[s]:]
		} else {
			res.add = ep.res[ic*ldc+j:]
		}
	}
	if ep.colBias != nil {
		colBias = ep.colBias[j:]
	}
	return bias, colBias, ep.relu, kept, res
}

// checkRowOffsets panics unless every strip the kernel reads of a B at
// row offsets (b.rows, k of them, n columns in strips of nr) lies in
// b.data: the kernels read it without bounds checks.
func checkRowOffsets(b matrix, k, n, nr int) {
	hi := 0
	for _, o := range b.rows[:min(k, len(b.rows))] {
		hi = max(hi, o)
	}
	if len(b.rows) < k || k > 0 && hi+(n+nr-1)/nr*nr > len(b.data) {
		panic("sim: sgemm row offsets out of range")
	}
}

// fnTiles adds the product of the mc rows of packed A (ablk, kc deep) and
// the block of B at bp (rows ldb apart) to the first nn columns of C's
// rows at c (row stride ldc), a call of kern.fn a tile; edge tiles go
// through the scratch tile.
func fnTiles(kern microKernel, kc int, ablk []float32, mc int, bp []float32, ldb int, c []float32, ldc, nn int, tile []float32) {
	mr, nr := kern.mr, kern.nr
	for ir := 0; ir < mc; ir += mr {
		mm := min(mr, mc-ir)
		ap := ablk[ir*kc : (ir+mr)*kc]
		off := ir * ldc
		if mm == mr && nn == nr {
			kern.fn(kc, ap, bp, ldb, c[off:], ldc)
			continue
		}
		clear(tile)
		kern.fn(kc, ap, bp, ldb, tile, nr)
		for i := 0; i < mm; i++ {
			dst := c[off+i*ldc : off+i*ldc+nn]
			for j, v := range tile[i*nr : i*nr+nn] {
				dst[j] += v
			}
		}
	}
}

// packA copies alpha*A[i0:i0+mc, p0:p0+kc] into dst as strips of mr rows:
// strip s holds, for p = 0..kc-1, the mr values A[i0+s*mr+r, p0+p]. Rows
// past the end of A are zero.
func packA(dst []float32, a matrix, i0, p0, mc, kc, mr int, alpha float32) {
	for s := 0; s*mr < mc; s++ {
		strip := dst[s*mr*kc : (s+1)*mr*kc]
		rows := min(mr, mc-s*mr)
		ib := i0 + s*mr
		if a.trans {
			// A is stored k-major: each p reads rows consecutive values.
			for p := 0; p < kc; p++ {
				d := strip[p*mr : p*mr+mr]
				src := a.data[(p0+p)*a.ld+ib : (p0+p)*a.ld+ib+rows]
				for r, v := range src {
					d[r] = alpha * v
				}
				clear(d[rows:])
			}
			continue
		}
		if mr == 8 && rows == 8 {
			packA8(strip, a.data[ib*a.ld+p0:], a.ld, kc, alpha)
			continue
		}
		for r := 0; r < mr; r++ {
			if r >= rows {
				for p := 0; p < kc; p++ {
					strip[p*mr+r] = 0
				}
				continue
			}
			src := a.data[(ib+r)*a.ld+p0 : (ib+r)*a.ld+p0+kc]
			for p, v := range src {
				strip[p*mr+r] = alpha * v
			}
		}
	}
}

// packA8 is packA's loop for one whole strip of 8 rows of a row-major A
// (row r at src[r*ld:]): it writes the strip in order, reading the 8 rows
// side by side, where the general loop writes with a stride of mr; blocks
// of 8 values of k in assembly where there is (packA8Fast).
func packA8(strip, src []float32, ld, kc int, alpha float32) {
	r0, r1, r2, r3 := src[:kc], src[ld:ld+kc], src[2*ld:2*ld+kc], src[3*ld:3*ld+kc]
	r4, r5, r6, r7 := src[4*ld:4*ld+kc], src[5*ld:5*ld+kc], src[6*ld:6*ld+kc], src[7*ld:7*ld+kc]
	strip = strip[:8*kc]
	for p := packA8Fast(strip, src, ld, kc, alpha); p < kc; p++ {
		d := strip[p*8 : p*8+8 : p*8+8]
		d[0], d[1], d[2], d[3] = alpha*r0[p], alpha*r1[p], alpha*r2[p], alpha*r3[p]
		d[4], d[5], d[6], d[7] = alpha*r4[p], alpha*r5[p], alpha*r6[p], alpha*r7[p]
	}
}

// packB copies B[p0:p0+kc, j0:j0+nc] into dst as strips of nr columns:
// strip s holds, for p = 0..kc-1, the nr values B[p0+p, j0+s*nr+j].
// Columns past the end of B are zero.
func packB(dst []float32, b matrix, p0, j0, kc, nc, nr int) {
	strips := (nc + nr - 1) / nr
	if b.trans {
		for s := 0; s < strips; s++ {
			strip := dst[s*nr*kc : (s+1)*nr*kc]
			cols := min(nr, nc-s*nr)
			jb := j0 + s*nr
			for j := 0; j < nr; j++ {
				if j >= cols {
					for p := 0; p < kc; p++ {
						strip[p*nr+j] = 0
					}
					continue
				}
				src := b.data[(jb+j)*b.ld+p0 : (jb+j)*b.ld+p0+kc]
				for p, v := range src {
					strip[p*nr+j] = v
				}
			}
		}
		return
	}
	// Row by row, so that B is read sequentially; each row scatters into
	// every strip.
	for p := 0; p < kc; p++ {
		row := b.data[(p0+p)*b.ld+j0 : (p0+p)*b.ld+j0+nc]
		for s := 0; s < strips; s++ {
			d := dst[s*nr*kc+p*nr : s*nr*kc+p*nr+nr]
			n := copy(d, row[s*nr:])
			clear(d[n:])
		}
	}
}

// Integer products through the float32 GEMM. The int8 layers of deploy
// models need exact sums: the activation minus its offset lies in
// [-255, 255] and the weight in [-128, 127], so a product is at most
// intProductBound in magnitude. Integers below 2^24 are exact in float32,
// and so is every partial sum of up to 2^24/intProductBound = 514 such
// products, whatever order the kernel adds them in. igemmExact therefore
// runs the fast float GEMM on slices of k that short (exactChunk, rounded
// down to whole cache blocks) and adds the slices' results in int64.
const (
	intProductBound = 255 * 128
	exactChunk      = (1 << 24) / intProductBound / gemmKC * gemmKC // 512
)

// igemmExact adds A*B to the m x n int64 matrix C (row stride ldc) for an
// m x k matrix A and a k x n matrix B holding integers whose products are
// bounded by intProductBound.
func igemmExact(m, n, k int, a, b matrix, c []int64, ldc int, threads int) {
	if m <= 0 || n <= 0 || k <= 0 {
		return
	}
	tmp := f32Scratch.get(m * n)
	defer f32Scratch.put(tmp)
	part := *tmp
	for p0 := 0; p0 < k; p0 += exactChunk {
		kk := min(exactChunk, k-p0)
		as, bs := a, b
		if a.trans {
			as.data = a.data[p0*a.ld:]
		} else {
			as.data = a.data[p0:]
		}
		if b.trans {
			bs.data = b.data[p0:]
		} else {
			bs.data = b.data[p0*b.ld:]
		}
		sgemm(m, n, kk, 1, as, bs, 0, part, n, threads)
		parallelFor(threads, m, max(1, 4096/n), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				dst := c[i*ldc : i*ldc+n]
				for j, v := range part[i*n : i*n+n] {
					dst[j] += int64(v)
				}
			}
		})
	}
}
