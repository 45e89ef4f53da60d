package sim

// Convolutions with few output positions, by the swapped product. convTiles
// puts output channels on the micro-kernel's rows (mr) and output
// positions on its columns (nr): ResNet-18's 7x7 layers at batch 1 have 49
// positions, two strips of 32 columns of which 23% compute nothing, and
// its 14x14 ones 196, seven strips, 12.5% empty. The swapped product
// C^T = X^T W^T puts the positions on the rows (49 take 7 strips of 8)
// and the channels on the columns (512 fill 16 strips of 32 exactly). W^T
// is packed once per session as strips of B; the strips of X^T (mr
// positions by the k taps) are read from a zero-padded copy of the input,
// 16 floats at each tap's offset permuted into place (swapRows8); the
// small output block is transposed into NCHW afterwards.
//
// Every output is the same sum as through convTiles: the same taps in the
// same order, in the same gemmKC blocks, from the bias (or zero), and the
// kernel treats its rows and columns alike, so the bits do not change.
// (Products are a*b either way round; the result can differ only in a
// NaN's payload when both factors are NaN, and in the sign of a zero
// where the usual and swapped products put it in different kinds of tile:
// a tile computed whole adds the bias to a first block's sum, an edge tile
// adds it to the sum plus +0, which differ for a bias of -0 and a sum of
// -0.)

import "sync/atomic"

// convSwapMinGain is how many times more kernel lanes the usual product
// must compute than the swapped one for a layer to take the swapped one,
// which also packs X^T and transposes its output. At 0, every convolution
// the swapped product can compute takes it, even where it packs X^T in Go
// (tests).
var convSwapMinGain = 1.06

// convSwapMaxC bounds, in floats, the block of C^T one pass computes
// (positions by a group's output channels): 8 MB, the whole of any
// ResNet-18 layer at batch 8, so that W^T is read once.
var convSwapMaxC = 2 << 20

// swapCache keeps what a Conv's swapped product prepares between runs:
// W^T packed, and the plan of the last geometry.
type swapCache struct {
	weights atomic.Pointer[swappedWeights]
	plan    atomic.Pointer[swapPlan]
}

// swappedWeights is W^T of each group packed as strips of B (matrix.strips)
// for a kernel, and which tensor data it was packed from.
type swappedWeights struct {
	src    *float32
	n      int
	kern   string
	groups [][]float32
}

// roundUp rounds n up to a multiple of m.
func roundUp(n, m int) int { return (n + m - 1) / m * m }

// swapGain is the ratio of the kernel lanes the usual product computes to
// those the swapped one does: positions padded to whole strips of nr (each
// image's, unless convTiles merges the batch) times channels padded to mr,
// against the batch's positions padded to mr times channels padded to nr.
func swapGain(g *geom, batch, mg int, kern microKernel) float64 {
	cols := batch * roundUp(g.outN, kern.nr)
	if batch > 1 && !g.pointwise && g.outN < convMergeCols {
		cols = roundUp(batch*g.outN, kern.nr)
	}
	usual := float64(cols) * float64(roundUp(mg, kern.mr))
	swapped := float64(roundUp(batch*g.outN, kern.mr)) * float64(roundUp(mg, kern.nr))
	return usual / swapped
}

// convSwapped computes what convTiles does (y = conv(x, w) + bias, and the
// fused Relu) by the swapped product, when W is an initializer, the
// convolution is 2-D (or 1-D), the kernel's row strips tile its column
// strips and the swap saves enough lanes; it reports whether it did. It
// writes every element of y.
func (cn *convNode) convSwapped(c *runCtx, xd, wd, bd, y []float32, g *geom, batch, ch, m int) bool {
	kern := activeKernel
	sp := cn.swapPlanFor(g, batch, ch, m, wd, kern)
	if sp == nil {
		return false
	}
	mg, kdim := m/cn.group, ch/cn.group*g.kN
	wt := cn.swappedWeights(wd, mg, kdim, kern)
	xp := scratchSliceRaw(c, batch*ch*sp.pn+16)
	padInput(xp, xd, g, sp.hp, sp.wp, batch*ch, c.threads)
	clear(xp[batch*ch*sp.pn:]) // read by the permutes, never kept

	rows := batch * g.outN
	// Passes of whole strips of nr positions, as many as convSwapMaxC
	// allows.
	pass := min(roundUp(rows, kern.nr), max(kern.nr, convSwapMaxC/mg/kern.nr*kern.nr))
	for gi := range cn.group {
		for r0 := 0; r0 < rows; r0 += pass {
			sw := swapPass{cn: cn, kern: kern, g: g, plan: sp, m: m, kdim: kdim, gi: gi, r0: r0, r1: min(rows, r0+pass)}
			sw.run(c, xp[gi*sp.cg*sp.pn:], wt[gi], bd, y)
		}
	}
	return true
}

// swapPlanFor returns the plan of the swapped product for a convolution of
// batch images of ch channels into m, or nil when convTiles' usual product
// is to compute it.
func (cn *convNode) swapPlanFor(g *geom, batch, ch, m int, wd []float32, kern microKernel) *swapPlan {
	if cn.swapped == nil || len(wd) == 0 || kern.nr%kern.mr != 0 || !planar(g) || swapGain(g, batch, m/cn.group, kern) < convSwapMinGain {
		return nil
	}
	if convSwapMinGain > 0 && g.kN == 1 {
		// A 1x1 window reads each input once: padding the input and
		// transposing the output cost more than the lanes save.
		return nil
	}
	sp := cn.swapped.plan.Load()
	if sp == nil || !sp.fits(g, batch, ch, ch/cn.group, kern.mr) {
		sp = newSwapPlan(g, batch, ch, ch/cn.group, kern.mr)
		cn.swapped.plan.Store(sp)
	}
	if convSwapMinGain > 0 && sp.slow*8 > len(sp.strips) {
		return nil // most strips would be packed in Go: slower than the lanes saved
	}
	return sp
}

// planar reports whether g is a 2-D (or 1-D) window: nothing along the
// leading axis.
func planar(g *geom) bool {
	return g.in[0] == 1 && g.k[0] == 1 && g.s[0] == 1 && g.padB[0] == 0 && g.padE[0] == 0
}

// swapPlan is where the swapped product reads X^T in the padded input:
// tap p of a group's channel c at offs[p] from output position j's
// offset, strip by strip of mr positions.
type swapPlan struct {
	// key: what the plan was made for
	in, out, k, s, d, padB, padE [3]int
	batch, ch, cg, mr            int

	hp, wp, pn int // padded plane
	offs       []int
	// Tap p's offset less its column shift (kw times the dilation),
	// shared by the taps along a kernel row, and that shift.
	woff   []int
	shift  []int32
	strips []swapStrip
	slow   int // strips packed in Go
}

// swapStrip is one strip of mr output positions: with fast, position i
// at base+idx[i] for idx[i] below 16, base+off2+idx[i]-16 above
// (swapRows8's two windows); otherwise at pos[i]. With one, every
// position plus every tap's column shift lies in the first window
// (swapRowsOne).
type swapStrip struct {
	fast, one  bool
	base, off2 int
	idx        [16]int32
	pos        []int
}

// swapOneWindow lets strips that fit one window take swapRowsOne, which
// loads each window once for a kernel row's taps (tests turn it off to
// compare with swapRows8).
var swapOneWindow = true

// fits reports whether sp was made for this geometry and these sizes.
func (sp *swapPlan) fits(g *geom, batch, ch, cg, mr int) bool {
	return sp.in == g.in && sp.out == g.out && sp.k == g.k && sp.s == g.s && sp.d == g.d &&
		sp.padB == g.padB && sp.padE == g.padE && sp.batch == batch && sp.ch == ch && sp.cg == cg && sp.mr == mr
}

// newSwapPlan lays out the strips of mr positions over a batch's outputs
// (position j is output position j%outN of image j/outN) in the padded
// planes of images of ch channels, offsets within a group of cg channels.
// A strip of 8 is fast when swapRows8 has assembly and two windows of 16
// floats of the padded input hold its positions.
func newSwapPlan(g *geom, batch, ch, cg, mr int) *swapPlan {
	sp := &swapPlan{in: g.in, out: g.out, k: g.k, s: g.s, d: g.d, padB: g.padB, padE: g.padE,
		batch: batch, ch: ch, cg: cg, mr: mr}
	sp.hp, sp.wp = g.in[1]+g.padB[1]+g.padE[1], g.in[2]+g.padB[2]+g.padE[2]
	sp.pn = sp.hp * sp.wp
	sp.offs = make([]int, cg*g.kN)
	sp.woff, sp.shift = make([]int, cg*g.kN), make([]int32, cg*g.kN)
	for c := range cg {
		for t := range g.kN {
			kh, kw := t/g.k[2], t%g.k[2]
			sp.offs[c*g.kN+t] = c*sp.pn + kh*g.d[1]*sp.wp + kw*g.d[2]
			sp.woff[c*g.kN+t] = c*sp.pn + kh*g.d[1]*sp.wp
			sp.shift[c*g.kN+t] = int32(kw * g.d[2])
		}
	}
	maxShift := (g.k[2] - 1) * g.d[2]
	rows := batch * g.outN
	out2 := g.out[2]
	at := func(j int) int {
		bi, p := j/g.outN, j%g.outN
		return bi*ch*sp.pn + p/out2*g.s[1]*sp.wp + p%out2*g.s[2]
	}
	sp.strips = make([]swapStrip, (rows+mr-1)/mr)
	for s := range sp.strips {
		st := &sp.strips[s]
		j0, j1 := s*mr, min(rows, (s+1)*mr)
		if mr == 8 && swapRowsFast && st.windows(at, j0, j1) {
			st.one = swapOneWindow && st.off2 == 0 && st.reach(j1-j0)+maxShift < 16
			continue
		}
		sp.slow++
		st.pos = make([]int, mr)
		for i := range st.pos {
			st.pos[i] = at(min(j0+i, j1-1)) // missing rows repeat the last
		}
	}
	return sp
}

// windows sets st up for swapRows8 to read positions [j0, j1) (at most 8,
// at(j) growing with j), reporting whether two windows of 16 floats hold
// them all.
func (st *swapStrip) windows(at func(int) int, j0, j1 int) bool {
	st.base = at(j0)
	second := false
	for j := j0; j < j1; j++ {
		q := at(j) - st.base
		if !second && q >= 16 {
			second, st.off2 = true, q
		}
		if second {
			q -= st.off2
			if q >= 16 {
				return false
			}
			q += 16
		}
		st.idx[j-j0] = int32(q)
	}
	st.fast = true
	return true
}

// reach is the largest index of the first n positions of a fast strip.
func (st *swapStrip) reach(n int) int {
	r := int32(0)
	for _, q := range st.idx[:n] {
		r = max(r, q)
	}
	return int(r)
}

// padInput copies each of planes input planes of x (g.in[1] x g.in[2])
// into the middle of a zeroed hp x wp plane of xp.
func padInput(xp, x []float32, g *geom, hp, wp, planes, threads int) {
	h, w := g.in[1], g.in[2]
	pn := hp * wp
	top, left := g.padB[1], g.padB[2]
	if wp <= 32 && im2colFast(32) && top >= 0 && left >= 0 && top+h <= hp && left+w <= wp {
		padRows(xp, x, g, hp, wp, planes, threads)
		return
	}
	parallelFor(threads, planes, max(1, elemGrain/pn), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			dst := xp[p*pn : (p+1)*pn]
			src := x[p*g.inN : (p+1)*g.inN]
			clear(dst[:top*wp])
			for r := range h {
				row := dst[(top+r)*wp : (top+r+1)*wp]
				clear(row[:left])
				copy(row[left:left+w], src[r*w:(r+1)*w])
				clear(row[left+w:])
			}
			clear(dst[(top+h)*wp:])
		}
	})
}

// padRows is padInput for rows of at most 32 values (wp) with the
// assembly of im2colSegsFast, one piece a padded row: late layers' rows of
// 7 or 14 values cost padInput a call to copy and two to clear each.
func padRows(xp, x []float32, g *geom, hp, wp, planes, threads int) {
	h, w := g.in[1], g.in[2]
	top, left := g.padB[1], g.padB[2]
	segs := make([]im2colSeg, hp)
	for r := range segs {
		segs[r] = im2colSeg{off: r * wp, n: wp}
		if ih := r - top; ih >= 0 && ih < h {
			segs[r].from, segs[r].lo, segs[r].cnt = ih*w, left, w
		}
	}
	pn := hp * wp
	_, _ = xp[planes*pn-1], x[planes*g.inN-1]
	parallelFor(threads, planes, max(1, elemGrain/pn), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			im2colSegsFast(xp[p*pn:(p+1)*pn], x[p*g.inN:(p+1)*g.inN], segs, 1, 32)
		}
	})
}

// swappedWeights returns W^T of each group packed for kern as strips of
// B, block by block of gemmKC rows (taps): block pc holds the strips of
// all columns (output channels, padded to whole strips) from pc*npad on,
// so that a band of strips is one stretch of memory for each block. It
// keeps them from the previous run when W is the same tensor data.
func (cn *convNode) swappedWeights(wd []float32, mg, kdim int, kern microKernel) [][]float32 {
	if p := cn.swapped.weights.Load(); p != nil && p.src == &wd[0] && p.n == len(wd) && p.kern == kern.name {
		return p.groups
	}
	p := &swappedWeights{src: &wd[0], n: len(wd), kern: kern.name}
	nr := kern.nr
	npad := roundUp(mg, nr)
	for gi := range cn.group {
		wt := weightFloats(npad*kdim, func(wt []float32) {
			for j := range mg {
				// Column j of W^T is row j of W.
				src := wd[(gi*mg+j)*kdim:][:kdim]
				for pc := 0; pc < kdim; pc += gemmKC {
					kc := min(gemmKC, kdim-pc)
					dst := wt[pc*npad+j/nr*nr*kc+j%nr:]
					for p, v := range src[pc : pc+kc] {
						dst[p*nr] = v
					}
				}
			}
		})
		p.groups = append(p.groups, wt)
	}
	// Concurrent first runs may both pack; either result is the same.
	cn.swapped.weights.Store(p)
	return p.groups
}

// swapPass is one pass of the swapped product: positions [r0, r1) of group
// gi, counted over the batch, and all the group's output channels.
type swapPass struct {
	cn         *convNode
	kern       microKernel
	g          *geom
	plan       *swapPlan
	m, kdim    int
	gi, r0, r1 int
}

// run computes the pass in tiles of positions by bands of channels, each
// an independent job: bands when the channels make at least a strip for
// every thread (each band packs the X^T it needs, a small part of its
// work), parts of the positions otherwise. xp holds the padded planes
// from group gi's first channel on.
func (sw swapPass) run(c *runCtx, xp, wt, bd, y []float32) {
	mr, nr := sw.kern.mr, sw.kern.nr
	rows := sw.r1 - sw.r0
	mg := sw.m / sw.cn.group
	threads := c.threads
	if rows*mg*sw.kdim < 2*convMinTileMACs {
		threads = 1
	}
	cstrips, rstrips := (mg+nr-1)/nr, (rows+mr-1)/mr
	bands, parts := max(1, min(threads, cstrips)), 1
	if bands < threads {
		bands, parts = 1, min(threads, rstrips)
	}
	far := 0
	for _, o := range sw.plan.offs {
		far = max(far, o)
	}
	sw.plan.checkReads(sw.r0/mr, (sw.r1+mr-1)/mr, far+16, len(xp))
	type tile struct{ i0, i1, c0, c1, at int }
	tiles := make([]tile, 0, bands*parts)
	kc := min(gemmKC, sw.kdim)
	need := 0
	for t := range bands * parts {
		band, part := t%bands, t/bands
		tl := tile{c0: band * cstrips / bands * nr, c1: min(mg, (band+1)*cstrips/bands*nr),
			i0: part * rstrips / parts * mr, i1: min(rows, (part+1)*rstrips/parts*mr), at: need}
		need += roundUp(tl.i1-tl.i0, mr) * (tl.c1 - tl.c0 + kc)
		tiles = append(tiles, tl)
	}
	// The tiles' blocks of C^T and X^T come from the run's arena: they
	// are as large as the layer's output and input.
	buf := scratchSliceRaw(c, need)
	parallelFor(threads, len(tiles), 1, func(lo, hi int) {
		for _, tl := range tiles[lo:hi] {
			sw.tile(buf[tl.at:], xp, wt, bd, y, tl.i0, tl.i1, tl.c0, tl.c1)
		}
	})
}

// checkReads panics unless the fast strips [s0, s1) read within n floats
// of padded input, reach floats from each one's base: the assembly reads
// without bounds checks.
func (sp *swapPlan) checkReads(s0, s1, reach, n int) {
	for _, st := range sp.strips[s0:s1] {
		if st.fast && st.base+st.off2+reach > n {
			panic("sim: swapped convolution reads past its padded input")
		}
	}
}

// tile computes output positions [i0, i1) of the pass (i0 a multiple of
// mr) by output channels [c0, c1) of its group (c0 a multiple of nr) into
// a block of C^T in buf, starting from the bias or zero, one gemmKC block
// of taps at a time (packing that block of X^T, which follows in buf,
// just before), clamped by the fused Relu, and transposes it into y.
func (sw swapPass) tile(buf, xp, wt, bd, y []float32, i0, i1, c0, c1 int) {
	mr, nr := sw.kern.mr, sw.kern.nr
	nw, mg := c1-c0, sw.m/sw.cn.group
	// The block has the rows of whole strips, so that every tile of it is
	// the kernel's whole tile: the GEMM's edge tiles go through Go loops.
	// The strips' missing rows repeat a position and are dropped.
	mpad := roundUp(i1-i0, mr)
	blk := buf[:mpad*nw]
	if bd != nil {
		bias := bd[sw.gi*mg+c0 : sw.gi*mg+c1]
		for i := range mpad {
			copy(blk[i*nw:(i+1)*nw], bias)
		}
	} else {
		clear(blk)
	}
	pa := &packedA{kern: sw.kern.name, m: mpad, mr: mr, mpad: mpad, data: buf[len(blk):][:mpad*min(gemmKC, sw.kdim)]}
	strips := sw.plan.strips[(sw.r0+i0)/mr:][:mpad/mr]
	npad := roundUp(mg, nr)
	for pc := 0; pc < sw.kdim; pc += gemmKC {
		kc := min(gemmKC, sw.kdim-pc)
		pa.k = kc
		for s := range strips {
			sw.plan.pack(pa.data[s*mr*kc:][:mr*kc], &strips[s], xp, pc, kc)
		}
		// One block of k a call: the kernel adds each block's sum to C
		// in order, as one call over the whole k does, and clamps the
		// sums after the last block.
		var ep *epilogue
		if sw.cn.relu && pc+kc == sw.kdim {
			ep = &epilogue{relu: true}
		}
		b := matrix{data: wt[pc*npad+c0*kc:], strips: true}
		sgemmSerial(sw.kern, mpad, nw, kc, 1, matrix{}, pa, 0, b, blk, nw, ep)
	}

	outN := sw.g.outN
	for i := i0; i < i1; {
		// The rows of one image, output positions p..p+n-1.
		j := sw.r0 + i
		bi, p := j/outN, j%outN
		n := min(outN-p, i1-i)
		yb := y[(bi*sw.m+sw.gi*mg+c0)*outN+p:]
		transposeBlock(yb, outN, blk[(i-i0)*nw:], nw, n, nw)
		sw.cn.addShortcut(y, outN, bi*sw.m+sw.gi*mg+c0, nw, p, p+n)
		i += n
	}
}

// pack writes taps [pc, pc+kc) of strip st (mr rows of X^T, kc rows of
// mr floats) into dst from the padded planes xp.
func (sp *swapPlan) pack(dst []float32, st *swapStrip, xp []float32, pc, kc int) {
	offs := sp.offs[pc : pc+kc]
	switch {
	case st.one:
		swapRowsOne(dst, xp[st.base:], sp.woff[pc:pc+kc], sp.shift[pc:pc+kc], &st.idx, kc)
		return
	case st.fast:
		swapRows8(dst, xp[st.base:], offs, &st.idx, kc, st.off2)
		return
	}
	mr := sp.mr
	for p, o := range offs {
		d := dst[p*mr : (p+1)*mr]
		for i, q := range st.pos {
			d[i] = xp[o+q]
		}
	}
}

// transposeBlock writes the rows x cols block src (row stride lds)
// transposed into dst (row stride ldd): dst[c*ldd+r] = src[r*lds+c]. With
// transpose8's assembly, blocks of 8 rows by 8 columns go through
// registers; the rest (a ragged last few rows or columns) is
// transposeGo's.
func transposeBlock(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	if !transpose8Fast || cols < 8 {
		transposeGo(dst, ldd, src, lds, rows, cols)
		return
	}
	c8 := cols / 8 * 8
	r := 0
	for ; r+8 <= rows; r += 8 {
		transpose8(dst[r:], ldd, src[r*lds:], lds, c8)
	}
	if r < rows {
		transposeGo(dst[r:], ldd, src[r*lds:], lds, rows-r, c8)
	}
	if c8 < cols {
		transposeGo(dst[c8*ldd:], ldd, src[c8:], lds, rows, cols-c8)
	}
}

// transposeGo is transposeBlock in Go: it reads src a row of 8 columns at
// a time, writing 8 rows of dst side by side.
func transposeGo(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	c := 0
	for ; c+8 <= cols; c += 8 {
		d0, d1, d2, d3 := dst[c*ldd:][:rows], dst[(c+1)*ldd:][:rows], dst[(c+2)*ldd:][:rows], dst[(c+3)*ldd:][:rows]
		d4, d5, d6, d7 := dst[(c+4)*ldd:][:rows], dst[(c+5)*ldd:][:rows], dst[(c+6)*ldd:][:rows], dst[(c+7)*ldd:][:rows]
		for r := range rows {
			s := src[r*lds+c:][:8:8]
			d0[r], d1[r], d2[r], d3[r] = s[0], s[1], s[2], s[3]
			d4[r], d5[r], d6[r], d7[r] = s[4], s[5], s[6], s[7]
		}
	}
	for ; c < cols; c++ {
		d := dst[c*ldd:][:rows]
		for r := range d {
			d[r] = src[r*lds+c]
		}
	}
}
