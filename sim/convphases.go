package sim

// phasePlanes copies each of planes input planes of x (g.in[1] x g.in[2])
// into its plan.cs floats of xp: for each phase (a, b) of plan.phases, the
// plan.hq x plan.wq plane of the zero-padded input's rows a, a+s[1], ...
// and columns b, b+s[2], ... (space-to-depth). Positions past the padded
// input (the ragged last row or column of a phase) are zero too.
func phasePlanes(xp, x []float32, g *geom, plan *implicitPlan, planes, threads int) {
	hq, wq := plan.hq, plan.wq
	pn := hq * wq
	parallelFor(threads, planes, max(1, elemGrain/plan.cs), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			src := x[p*g.inN : (p+1)*g.inN]
			for k, ph := range plan.phases {
				phasePlane(xp[p*plan.cs+k*pn:][:pn], src, g, plan, ph[0], ph[1])
			}
		}
	})
}

// phasePlane fills dst with phase (a, b) of the zero-padded plane src.
func phasePlane(dst, src []float32, g *geom, plan *implicitPlan, a, b int) {
	h, w := g.in[1], g.in[2]
	sh, sw := g.s[1], g.s[2]
	wq := plan.wq
	top, left := g.padB[1], g.padB[2]
	// Columns [jlo, jhi) of a phase row lie in the input, from input
	// column jlo*sw+b-left on.
	jlo := max(0, (left-b+sw-1)/sw)
	jhi := min(wq, max(jlo, (w+left-b+sw-1)/sw))
	c0 := jlo*sw + b - left
	n := jhi - jlo
	for i := range plan.hq {
		row := dst[i*wq : (i+1)*wq]
		r := i*sh + a - top
		if r < 0 || r >= h || n == 0 {
			clear(row)
			continue
		}
		clear(row[:jlo])
		clear(row[jhi:])
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
