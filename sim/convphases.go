package sim

// phasePlanes copies each of planes input planes of x (g.in[1] x g.in[2])
// into its plan.cs floats of xp: for each phase (a, b) of plan.phases, the
// plan.pn floats of the zero-padded input's rows a, a+s[1], ... (plan.hq
// rows plan.wq apart) and columns b, b+s[2], ... (space-to-depth), then
// zeros. A row holds its columns up to wq: past it, its right padding is
// the next row's left padding (sharedRows). Positions past the padded
// input (the ragged last row or column of a phase) are zero too. With a
// column stride of 2 and wide rows, each input row is split into its two
// column phases by permutes (plan.pairs); otherwise the assembly of
// im2col copies or gathers the rows in pieces of nr (plan.segs), a plane
// per call, when the machine has it. Both are 2 to 4 times as fast as
// the Go loop with a stride; without one, the assembly is a fifth faster
// on 56 columns, 2.5 times on 14 (a call per row costs more there).
func phasePlanes(xp, x []float32, g *geom, plan *implicitPlan, planes, nr, threads int) {
	pn := plan.pn
	parallelFor(threads, planes, max(1, elemGrain/plan.cs), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			src := x[p*g.inN : (p+1)*g.inN]
			dst := xp[p*plan.cs : (p+1)*plan.cs]
			switch {
			case plan.pairs != nil:
				phasePairs(dst, src, g, plan)
				continue
			case plan.segs != nil:
				im2colSegsFast(dst, src, plan.segs, g.s[2], nr)
				continue
			}
			for k, ph := range plan.phases {
				phasePlane(dst[k*pn:][:pn], src, g, plan, ph[0], ph[1])
			}
		}
	})
}

// phaseCols returns the columns [jlo, jhi) of a row of phase column b
// that lie in the input, and the input column of jlo.
func phaseCols(g *geom, wq, b int) (jlo, jhi, c0 int) {
	sw, left := g.s[2], g.padB[2]
	jlo = min(wq, max(0, (left-b+sw-1)/sw))
	jhi = min(wq, max(jlo, (g.in[2]+left-b+sw-1)/sw))
	return jlo, jhi, jlo*sw + b - left
}

// phasePlane fills dst with phase (a, b) of the zero-padded plane src.
func phasePlane(dst, src []float32, g *geom, plan *implicitPlan, a, b int) {
	h, w, sh, sw := g.in[1], g.in[2], g.s[1], g.s[2]
	wq := plan.wq
	jlo, jhi, c0 := phaseCols(g, wq, b)
	n := jhi - jlo
	clear(dst[plan.hq*wq : plan.pn])
	for i := range plan.hq {
		row := dst[i*wq : (i+1)*wq]
		r := i*sh + a - g.padB[1]
		if r < 0 || r >= h || n == 0 {
			clear(row)
			continue
		}
		// The pads are a value or two: loops are cheaper than calls to
		// clear.
		for j := 0; j < jlo; j++ {
			row[j] = 0
		}
		for j := jhi; j < wq; j++ {
			row[j] = 0
		}
		in := src[r*w+c0:]
		out := row[jlo:jhi]
		if sw == 1 {
			copy(out, in[:n])
			continue
		}
		in = in[:(n-1)*sw+1]
		for j := range out {
			out[j] = in[j*sw]
		}
	}
}

// phaseSegs is what phasePlane writes for every phase of plan, as pieces
// of rows at most nr values long for im2colSegsFast: offsets within a
// channel's plan.cs floats, input columns within its plane.
func phaseSegs(g *geom, plan *implicitPlan, nr int) []im2colSeg {
	h, w, sh, sw := g.in[1], g.in[2], g.s[1], g.s[2]
	wq, pn := plan.wq, plan.pn
	var segs []im2colSeg
	for k, ph := range plan.phases {
		// The zeros after the last row (sharedRows).
		for j := plan.hq * wq; j < pn; j += nr {
			segs = append(segs, im2colSeg{off: k*pn + j, n: min(nr, pn-j)})
		}
		jlo, jhi, c0 := phaseCols(g, wq, ph[1])
		for i := range plan.hq {
			r := i*sh + ph[0] - g.padB[1]
			for j0 := 0; j0 < wq; j0 += nr {
				j1 := min(wq, j0+nr)
				e := im2colSeg{off: k*pn + i*wq + j0, n: j1 - j0}
				if lo, hi := max(jlo, j0), min(jhi, j1); r >= 0 && r < h && lo < hi {
					e.from = r*w + c0 + (lo-jlo)*sw
					e.lo, e.cnt = lo-j0, hi-lo
				}
				// The assembly reads and writes without bounds checks.
				if e.off+e.n > plan.cs || e.cnt > 0 && (e.from < 0 || e.from+(e.cnt-1)*sw >= g.inN) {
					panic("sim: phase plane table out of range")
				}
				segs = append(segs, e)
			}
		}
	}
	return segs
}

// deinterleaveGo is deinterleave in Go.
func deinterleaveGo(even, odd, src []float32) {
	odd = odd[:len(even)]
	src = src[:2*len(even)]
	for i := range even {
		even[i], odd[i] = src[2*i], src[2*i+1]
	}
}

// phasePairsOf returns, when the column stride is 2 and every row phase
// plan reads comes with both column phases, the row phase and the two
// planes (column phase 0, then 1) of each, for phasePairs; else nil.
func phasePairsOf(g *geom, plan *implicitPlan) [][3]int {
	if g.s[2] != 2 {
		return nil
	}
	idx := map[[2]int]int{}
	for k, ph := range plan.phases {
		idx[ph] = k
	}
	var pairs [][3]int
	for k, ph := range plan.phases {
		if ph[1] != 0 {
			continue
		}
		k1, ok := idx[[2]int{ph[0], 1}]
		if !ok {
			return nil
		}
		pairs = append(pairs, [3]int{ph[0], k, k1})
	}
	if 2*len(pairs) != len(plan.phases) {
		return nil
	}
	return pairs
}

// phasePairs is phasePlane for all phases of a plane with a column stride
// of 2, a row phase at a time: each input row goes to the rows of both
// column phases in one pass (input column c to phase (c+left)%2, column
// (c+left)/2).
func phasePairs(dst, src []float32, g *geom, plan *implicitPlan) {
	h, w, sh := g.in[1], g.in[2], g.s[1]
	wq, pn, left := plan.wq, plan.pn, g.padB[2]
	jlo0, jhi0, _ := phaseCols(g, wq, 0)
	jlo1, jhi1, _ := phaseCols(g, wq, 1)
	c0 := left % 2 // the first input column of column phase 0
	np := (w - c0) / 2
	j0 := (c0 + left) / 2
	for _, pr := range plan.pairs {
		a, k0, k1 := pr[0], pr[1], pr[2]
		clear(dst[k0*pn+plan.hq*wq : (k0+1)*pn])
		clear(dst[k1*pn+plan.hq*wq : (k1+1)*pn])
		for i := range plan.hq {
			row0 := dst[k0*pn+i*wq:][:wq]
			row1 := dst[k1*pn+i*wq:][:wq]
			r := i*sh + a - g.padB[1]
			if r < 0 || r >= h {
				clear(row0)
				clear(row1)
				continue
			}
			in := src[r*w : (r+1)*w]
			for j := 0; j < jlo0; j++ {
				row0[j] = 0
			}
			for j := jhi0; j < wq; j++ {
				row0[j] = 0
			}
			for j := 0; j < jlo1; j++ {
				row1[j] = 0
			}
			for j := jhi1; j < wq; j++ {
				row1[j] = 0
			}
			if c0 == 1 {
				row1[left/2] = in[0]
			}
			deinterleave(row0[j0:j0+np], row1[j0:j0+np], in[c0:c0+2*np])
			if (w-c0)%2 == 1 {
				row0[j0+np] = in[w-1]
			}
		}
	}
}
