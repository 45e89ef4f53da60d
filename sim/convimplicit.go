package sim

// Convolution without im2col ("implicit GEMM"), for 2-D convolutions with
// unit strides and dilations, which are most of a CNN's work (ResNet's
// 3x3 layers at 56x56 and 28x28). The input of each channel is copied once
// into a zero-padded plane hp x wp; output position (oh, ow) is then
// column q = oh*wp + ow of a "virtual" output as wide as the padded
// input, and the B row of input channel c and kernel tap (kh, kw) is the
// padded input itself from offset c*hp*wp + kh*wp + kw on: the GEMM
// packs each strip of B from there through a table of row offsets
// (matrix.rows) just before the kernel reads it. The columns ow >= out[2]
// of each virtual row are computed and dropped. im2col wrote the input
// nine times over for a 3x3 kernel into an L2-sized buffer, in pieces cut
// at output rows and strips; the padded copy costs about one, and a strip
// is packed with a plain copy into L1.
//
// Every output is the same sum in the same order as through im2col (the
// same taps, with +0 where the input is padding), so the bits do not
// change.

// implicitMaxWaste bounds the dropped columns: the virtual output may
// take at most a tenth more strips of the kernel than the output itself
// (56x56: 102 strips of 32 for 98, 28x28: 27 for 25; at 14x14 and 7x7 the
// last strip is ragged anyway and both take 7 and 2).
const implicitMaxWaste = 10

// implicitPlan is the geometry of an implicit convolution.
type implicitPlan struct {
	// key: what the plan was made for
	cg, kh, kw, h, w int
	padB, padE       [3]int

	hp, wp int   // padded plane
	cols   int   // virtual output columns: out[1]*wp
	offs   []int // B row offsets
}

// implicitPlan returns the plan for convolving by convImplicit, or nil when
// the convolution does not qualify or kern cannot pack strips from row
// offsets.
func (cn *convNode) implicitPlan(g *geom, cg int, kern microKernel) *implicitPlan {
	if kern.packRows == nil || g.pointwise || g.in[0] != 1 || g.k[0] != 1 || g.padB[0] != 0 || g.padE[0] != 0 {
		return nil
	}
	for i := range 3 {
		if g.s[i] != 1 || g.d[i] != 1 {
			return nil
		}
	}
	wp := g.in[2] + g.padB[2] + g.padE[2]
	strips := func(cols int) int { return (cols + kern.nr - 1) / kern.nr }
	if (strips(g.out[1]*wp)-strips(g.outN))*implicitMaxWaste > strips(g.outN) {
		return nil
	}
	if p := cn.implicit.Load(); p != nil && p.cg == cg && p.kh == g.k[1] && p.kw == g.k[2] &&
		p.h == g.in[1] && p.w == g.in[2] && p.padB == g.padB && p.padE == g.padE {
		return p
	}
	p := &implicitPlan{cg: cg, kh: g.k[1], kw: g.k[2], h: g.in[1], w: g.in[2], padB: g.padB, padE: g.padE}
	p.hp, p.wp = g.in[1]+g.padB[1]+g.padE[1], wp
	p.cols = g.out[1] * wp
	p.offs = make([]int, cg*g.kN)
	for c := range cg {
		for t := range g.kN {
			kh, kw := t/g.k[2], t%g.k[2]
			p.offs[c*g.kN+t] = c*p.hp*p.wp + kh*wp + kw
		}
	}
	cn.implicit.Store(p)
	return p
}

// convImplicit is convTiles for a convolution that plan describes.
func (cn *convNode) convImplicit(c *runCtx, plan *implicitPlan, packed []*packedA, xd, wd, bd, y []float32, g *geom, batch, ch, m int) {
	cg, mg := ch/cn.group, m/cn.group
	kdim := cg * g.kN
	kern := activeKernel
	pn := plan.hp * plan.wp
	// The kernel reads nr columns from the start of a strip: whatever
	// lies past the last plane reaches only dropped columns, but it must
	// be there.
	xp := outSliceRaw[float32](c, batch*ch*pn+kern.nr+g.k[2])
	padPlanes(xp, xd, g, plan, batch*ch, c.threads)
	clear(xp[batch*ch*pn:])

	outN, out2, wp := g.outN, g.out[2], plan.wp
	tl := newConvTiling(c.threads, batch*cn.group, plan.cols, kdim, mg, 0, kern)
	parallelFor(c.threads, tl.tiles, tl.grain, func(lo, hi int) {
		buf := f32Scratch.get(tl.bandRows * tl.per)
		defer f32Scratch.put(buf)
		for t := lo; t < hi; t++ {
			band, ic := t%tl.bands, t/tl.bands
			chunk, space := ic%tl.chunks, ic/tl.chunks
			bi, gi := space/cn.group, space%cn.group
			j0, j1 := tl.chunkAt(chunk), tl.chunkAt(chunk+1)
			nw := j1 - j0
			src := matrix{data: xp[(bi*ch+gi*cg)*pn+j0:], rows: plan.offs}
			i0, i1 := band*tl.bandRows, min(mg, (band+1)*tl.bandRows)
			ep := cn.tileEpilogue(bd, gi*mg+i0, gi*mg+i1)
			blk := (*buf)[:(i1-i0)*nw]
			if packed != nil {
				sgemmSerial(kern, i1-i0, nw, kdim, 1, matrix{}, packed[gi], i0, src, blk, nw, ep)
			} else {
				a := matrix{data: wd[(gi*mg+i0)*kdim:], ld: kdim}
				sgemmSerial(kern, i1-i0, nw, kdim, 1, a, nil, 0, src, blk, nw, ep)
			}
			// Copy the kept columns of each virtual row to the output.
			yg := y[(bi*m+gi*mg+i0)*outN:]
			for q := j0; q < j1; {
				oh, ow := q/wp, q%wp
				if ow >= out2 {
					q += wp - ow
					continue
				}
				n := min(out2-ow, j1-q)
				for i := range i1 - i0 {
					copy(yg[i*outN+oh*out2+ow:][:n], blk[i*nw+q-j0:])
				}
				q += n
			}
		}
	})
}

// padPlanes copies each of planes input planes of x (g.in[1] x g.in[2])
// into the middle of a zeroed plan.hp x plan.wp plane of xp.
func padPlanes(xp, x []float32, g *geom, plan *implicitPlan, planes, threads int) {
	h, w, wp := g.in[1], g.in[2], plan.wp
	pn := plan.hp * wp
	top, left := g.padB[1]*wp, g.padB[2]
	parallelFor(threads, planes, max(1, elemGrain/pn), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			dst := xp[p*pn : (p+1)*pn]
			src := x[p*g.inN : (p+1)*g.inN]
			clear(dst[:top+left])
			for r := range h {
				row := dst[top+r*wp : top+(r+1)*wp]
				copy(row[left:left+w], src[r*w:(r+1)*w])
				// The right pad of this row and the left pad of the next
				// are adjacent.
				clear(dst[top+r*wp+left+w : min(pn, top+(r+1)*wp+left)])
			}
			clear(dst[top+(h-1)*wp+left+w:])
		}
	})
}
