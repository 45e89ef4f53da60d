package sim

// Convolution without im2col ("implicit GEMM"), for 2-D convolutions, which
// are most of a CNN's work (ResNet's 3x3 layers at 56x56 and 28x28, its
// strided stem and downsampling layers). The input of each channel is
// copied once into zero-padded phase planes (convphases.go): with strides
// sh x sw, phase (a, b) holds the padded input's rows a, a+sh, ... and
// columns b, b+sw, ..., hq rows wq apart; with unit strides the one phase
// is the padded plane itself, but for rows that share their padding: a
// row's right padding is the next row's left padding (sharedRows). Output
// position (oh, ow) is column q = oh*wq + ow of a "virtual" output as
// wide as a phase plane's row, and the
// B row of input channel c and kernel tap (kh, kw) is phase
// (kh*dh % sh, kw*dw % sw) from row kh*dh/sh and column kw*dw/sw on, read
// with unit stride, through a table of row offsets (matrix.rows): the
// AVX-512 kernel's first tile of a strip reads its rows there and copies
// them into L1 for the strip's other tiles; for the other kernels the GEMM
// packs each strip from there just before the kernel reads it. The
// columns ow >= out[2] of each virtual row are computed and dropped: a
// kernel with storesKept stores the kept ones of the last k block straight
// to y (epilogue.kept), others store the virtual output to a scratch block
// and keptColumns copies them out (6% of ResNet-18 at batch 8 in a
// profile, but mostly misses on y's lines, which the kernel now takes:
// docs/design.md).
// im2col wrote the input nine times over for a 3x3 kernel into an L2-sized
// buffer, in pieces cut at output rows and strips, and gathered every
// other value for a stride of 2; the phase planes cost about one copy,
// and a strip is read from them with plain loads.
//
// Every output is the same sum in the same order as through im2col (the
// same taps, with +0 where the input is padding), so the bits do not
// change.

// implicitMaxWaste bounds the dropped columns: the virtual output may
// take at most a tenth more strips of the kernel than the output itself
// (56x56: 100 strips of 32 for 98, 28x28: 26 for 25; at 14x14 and 7x7 the
// last strip is ragged anyway and both take 7 and 2; the 7x7 stride-2
// stem: 399 for 392). Shared padding lets in more layers (5x5 at 28x28
// and 14x14, 7x7 at 56x56).
const implicitMaxWaste = 10

// phasePairsMinWidth is the narrowest input whose rows phasePlanes splits
// by permutes rather than gathers: each row costs a call, and at 56
// columns the gathers of a whole plane in one call are faster (0.25 ns a
// value against 0.32, CPU time), at 112 and 224 the permutes (0.33
// against 0.38, 0.17 against 0.31).
const phasePairsMinWidth = 96

// implicitPlan is the geometry of an implicit convolution.
type implicitPlan struct {
	// key: what the plan was made for
	cg, kh, kw, h, w, nr int
	padB, padE, s, d     [3]int

	hp, wp int // padded plane
	// A phase plane is hq rows (hp strided by s[1], rounded up) wq apart,
	// then zeros to pn floats: rows share their padding (sharedRows).
	hq, wq, pn int
	phases     [][2]int // the phases (row, column) the taps read, in order
	cs         int      // floats per channel: its phase planes
	cols       int      // virtual output columns: out[1]*wq
	offs       []int    // B row offsets
	// The kept columns of each strip of nr virtual columns from column
	// 0, for kernels that store them themselves (storesKept): keptCols'
	// offs and masks (nr <= 32; the plan does not depend on the kernel
	// beyond nr).
	keptOffs  []int
	keptMasks []uint32
	// How phasePlanes fills the phase planes, when not nil: pairs of
	// column phases split by permutes (phasePairsOf), or pieces copied
	// or gathered by im2col's assembly (phaseSegs).
	pairs [][3]int
	segs  []im2colSeg
}

// implicitPlan returns the plan for convolving by convImplicit, or nil when
// the convolution does not qualify or kern cannot pack strips from row
// offsets.
//
// Strided 1x1 convolutions (ResNet's downsampling shortcuts) keep im2col:
// their im2col matrix is the input subsampled, as small as the phase
// plane the implicit path would copy first and then pack again, so
// im2col's single strided copy is cheaper (64 to 128 channels at 56x56,
// stride 2: 0.13 ms against 0.17 at batch 1, 1.4 against 1.6 at batch
// 8). The 7x7 stride-2 stem and the 3x3 stride-2 layers take the
// implicit path: 2.07 ms against 2.42 for the stem at batch 1, 5% less
// for a 3x3 layer at 56x56 (CPU time, one thread).
func (cn *convNode) implicitPlan(g *geom, cg int, kern microKernel) *implicitPlan {
	if kern.packRows == nil || g.pointwise || g.in[0] != 1 || g.k[0] != 1 || g.padB[0] != 0 || g.padE[0] != 0 {
		return nil
	}
	if g.kN == 1 && g.s != [3]int{1, 1, 1} {
		return nil
	}
	sh := g.s[1]
	hp, wp := g.in[1]+g.padB[1]+g.padE[1], g.in[2]+g.padB[2]+g.padE[2]
	wq, extra := sharedRows(g)
	strips := func(cols int) int { return (cols + kern.nr - 1) / kern.nr }
	if (strips(g.out[1]*wq)-strips(g.outN))*implicitMaxWaste > strips(g.outN) {
		return nil
	}
	if p := cn.implicit.Load(); p != nil && p.cg == cg && p.kh == g.k[1] && p.kw == g.k[2] && p.nr == kern.nr &&
		p.h == g.in[1] && p.w == g.in[2] && p.padB == g.padB && p.padE == g.padE && p.s == g.s && p.d == g.d {
		return p
	}
	p := &implicitPlan{cg: cg, kh: g.k[1], kw: g.k[2], h: g.in[1], w: g.in[2], nr: kern.nr, padB: g.padB, padE: g.padE, s: g.s, d: g.d}
	p.hp, p.wp = hp, wp
	p.hq, p.wq = (hp+sh-1)/sh, wq
	p.pn = p.hq*wq + extra
	p.cols = g.out[1] * wq
	// Taps by phase, in tap order: their plane and offset within it.
	phaseOf := map[[2]int]int{}
	tapOff := make([]int, g.kN)
	for t := range g.kN {
		rh, rw := t/g.k[2]*g.d[1], t%g.k[2]*g.d[2]
		ph := [2]int{rh % sh, rw % g.s[2]}
		i, ok := phaseOf[ph]
		if !ok {
			i = len(p.phases)
			phaseOf[ph] = i
			p.phases = append(p.phases, ph)
		}
		tapOff[t] = i*p.pn + rh/sh*wq + rw/g.s[2]
	}
	p.cs = len(p.phases) * p.pn
	p.offs = make([]int, cg*g.kN)
	for c := range cg {
		for t := range g.kN {
			p.offs[c*g.kN+t] = c*p.cs + tapOff[t]
		}
	}
	if kern.nr <= 32 {
		p.keptOffs, p.keptMasks = keptStrips(p.cols, wq, g.out[2], kern.nr)
	}
	if deinterleaveFast() && g.in[2] >= phasePairsMinWidth {
		p.pairs = phasePairsOf(g, p)
	}
	if p.pairs == nil && im2colFast(kern.nr) {
		p.segs = phaseSegs(g, p, kern.nr)
	}
	cn.implicit.Store(p)
	return p
}

// convImplicit is convTiles for a convolution that plan describes.
//
// With at least as many column spaces (images and groups) as threads,
// each thread makes the phase planes of a space just before its tiles
// read them, into a buffer of its own that stays in L2; making those of
// all images first wrote them to memory and read them back (two passes
// over 7 MB for a 64-channel 56x56 layer at batch 8, an eighth of its
// time). Fewer spaces (batch 1 on two threads) share planes made once,
// in parallel, rather than each thread making them all.
func (cn *convNode) convImplicit(c *runCtx, plan *implicitPlan, packed []*packedA, xd, wd, bd, y []float32, g *geom, batch, ch, m int) {
	cg, mg := ch/cn.group, m/cn.group
	kdim := cg * g.kN
	kern := activeKernel
	cs := plan.cs
	// The kernel reads nr columns from the start of a strip: whatever
	// lies past the last phase plane reaches only dropped columns, but it
	// must be there (a row of a phase plane and a strip).
	tail := kern.nr + plan.wq
	local := batch*cn.group >= c.threads
	var xp []float32
	if !local {
		xp = scratchSliceRaw(c, batch*ch*cs+tail)
		phasePlanes(xp, xd, g, plan, batch*ch, kern.nr, c.threads)
		clear(xp[batch*ch*cs:])
	}

	outN, out2, wq := g.outN, g.out[2], plan.wq
	tl := newConvTiling(c.threads, batch*cn.group, plan.cols, kdim, mg, 0, kern)
	// The kernel stores the kept columns of the last k block to y itself
	// when it can; earlier k blocks sum in the block.
	inKernel := kern.storesKept && plan.keptMasks != nil
	// The kernel then adds a fused shortcut too, as it stores.
	resInKernel := inKernel && cn.kernelResidual(kern)
	parallelFor(c.threads, tl.tiles, tl.grain, func(lo, hi int) {
		var buf *[]float32
		if !inKernel || kdim > gemmKC {
			buf = f32Scratch.get(tl.bandRows * tl.per)
			defer f32Scratch.put(buf)
		}
		var planes []float32
		have := -1 // the space whose phase planes planes holds
		run := shortcutRun{cn: cn, y: y, outN: outN}
		defer run.flush()
		if local {
			pb := f32Scratch.get(cg*cs + tail)
			defer f32Scratch.put(pb)
			planes = *pb
			clear(planes[cg*cs:])
		}
		for t := lo; t < hi; t++ {
			band, ic := t%tl.bands, t/tl.bands
			chunk, space := ic%tl.chunks, ic/tl.chunks
			bi, gi := space/cn.group, space%cn.group
			j0, j1 := tl.chunkAt(chunk), tl.chunkAt(chunk+1)
			nw := j1 - j0
			var src matrix
			if local {
				if space != have {
					phasePlanes(planes, xd[(bi*ch+gi*cg)*g.inN:], g, plan, cg, kern.nr, 1)
					have = space
				}
				src = matrix{data: planes[j0:], rows: plan.offs}
			} else {
				src = matrix{data: xp[(bi*ch+gi*cg)*cs+j0:], rows: plan.offs}
			}
			i0, i1 := band*tl.bandRows, min(mg, (band+1)*tl.bandRows)
			ep := cn.tileEpilogue(bd, gi*mg+i0, gi*mg+i1)
			var blk []float32
			if buf != nil {
				blk = (*buf)[:(i1-i0)*nw]
			}
			yt := y[(bi*m+gi*mg+i0)*outN:]
			if inKernel {
				// The tables' strips start at column 0.
				if j0%kern.nr != 0 {
					panic("sim: implicit convolution chunk not on a strip")
				}
				s := j0 / kern.nr
				ep.kept = &keptCols{y: yt, ld: outN, offs: plan.keptOffs[s:], masks: plan.keptMasks[s:]}
				if resInKernel {
					cn.residualEpilogue(ep, (bi*m+gi*mg+i0)*outN)
				}
			}
			if packed != nil {
				sgemmSerial(kern, i1-i0, nw, kdim, 1, matrix{}, packed[gi], i0, src, blk, nw, ep)
			} else {
				a := matrix{data: wd[(gi*mg+i0)*kdim:], ld: kdim}
				sgemmSerial(kern, i1-i0, nw, kdim, 1, a, nil, 0, src, blk, nw, ep)
			}
			if !inKernel {
				keptColumns(yt, blk, i1-i0, j0, j1, outN, out2, wq, kern.nr)
			}
			// Virtual columns [j0, j1) hold outputs [kept(j0), kept(j1)).
			kept := func(q int) int { return q/wq*out2 + min(q%wq, out2) }
			run.add(bi*m+gi*mg+i0, i1-i0, kept(j0), kept(j1))
		}
	})
}

// keptStrips describes the kept columns of each strip of nr virtual
// columns (of cols) as keptCols does: column q is output q/wq*out2 + q%wq
// when q%wq < out2, so the kept columns of a strip are consecutive
// outputs, from the number of kept columns before it on.
func keptStrips(cols, wq, out2, nr int) (offs []int, masks []uint32) {
	strips := (cols + nr - 1) / nr
	offs, masks = make([]int, strips), make([]uint32, strips)
	for s := range strips {
		q0 := s * nr
		offs[s] = q0/wq*out2 + min(q0%wq, out2)
		for q := q0; q < min(q0+nr, cols); q++ {
			if q%wq < out2 {
				masks[s] |= 1 << (q - q0)
			}
		}
	}
	return offs, masks
}

// keptColumns copies the kept columns [j0, j1) of rows virtual output
// rows (blk, j1-j0 wide) to y (rows outN apart): column q is output
// (q/wq, q%wq) when q%wq < out2. With im2colSegsFast, one call a row
// copies all pieces (of at most nr values) from a table made once: late
// layers' pieces are 7 to 28 values, and a copy call each took 1.4 to
// 1.8 times as long.
func keptColumns(y, blk []float32, rows, j0, j1, outN, out2, wq, nr int) {
	nw := j1 - j0
	fast := im2colFast(nr)
	var tab []im2colSeg
	if fast {
		tabp := segPool.Get().(*[]im2colSeg)
		defer segPool.Put(tabp)
		tab = (*tabp)[:0]
		defer func() { *tabp = tab[:0] }()
	}
	for q := j0; q < j1; {
		oh, ow := q/wq, q%wq
		if ow >= out2 {
			q += wq - ow
			continue
		}
		n := min(out2-ow, j1-q)
		if !fast {
			for i := range rows {
				copy(y[i*outN+oh*out2+ow:][:n], blk[i*nw+q-j0:])
			}
		}
		for p := 0; fast && p < n; p += nr {
			tab = append(tab, im2colSeg{off: oh*out2 + ow + p, from: q - j0 + p, cnt: min(nr, n-p)})
		}
		q += n
	}
	if !fast || rows == 0 {
		return
	}
	// The assembly reads and writes without bounds checks. (A length
	// check, not a read of y's last value: other tiles write it meanwhile.)
	if rows*outN > len(y) || rows*nw > len(blk) {
		panic("sim: kept columns out of range")
	}
	for _, e := range tab {
		if e.off+e.cnt > outN || e.from+e.cnt > nw {
			panic("sim: kept columns table out of range")
		}
	}
	for i := range rows {
		im2colSegsFast(y[i*outN:], blk[i*nw:], tab, 1, nr)
	}
}

// sharedRows returns the row stride wq of the phase planes of g and the
// zeros that must follow each plane's last row. Row i of phase column b
// holds its input columns at [jlo, jhi) and zeros around them; the kept
// outputs of a virtual row read it from 0 to jmax (out[2]-1 plus the
// largest column offset of b's taps). Rather than a row as wide as the
// padded plane, whose right padding is computed and dropped with every
// virtual row, rows may overlap where both are zeros: the reads of row i
// past wq fall on row i+1's left padding, which holds as long as
// jmax-wq < jlo, and row i's input must end by wq. For stride 1 that is
// w + max(padB, padE) (57 for a 56-wide 3x3 layer with pads of 1, not
// 58); the reads of the last row past wq need the zeros after it. The
// taps read the same zeros and inputs as before, so the sums do not
// change.
func sharedRows(g *geom) (wq, extra int) {
	sw, out2 := g.s[2], g.out[2]
	full := (g.in[2] + g.padB[2] + g.padE[2] + sw - 1) / sw
	maxOff := map[int]int{} // by column phase: the largest tap offset
	for kw := range g.k[2] {
		rw := kw * g.d[2]
		maxOff[rw%sw] = max(maxOff[rw%sw], rw/sw)
	}
	wq = out2
	jmaxes := map[int]int{}
	for b, off := range maxOff {
		jlo, jhi, _ := phaseCols(g, full, b)
		jmax := out2 - 1 + off
		wq = max(wq, jhi, jmax-jlo+1)
		jmaxes[b] = jmax
	}
	for _, jmax := range jmaxes {
		extra = max(extra, jmax+1-wq)
	}
	return wq, extra
}
