package sim

import "sync"

// im2colPadded turns on the merged convolutions' im2col from a padded
// copy of the input (paddedIm2col); the test turns it off to compare
// against the padding done piece by piece.
var im2colPadded = true

// paddedIm2col is the batch's input with the pads written out as zeros
// (planes hp x wp), for the im2col of a merged (batch > 1) stride-1,
// undilated 2-D convolution: every piece of an output row is then a plain
// copy of n values, which the assembly does with one masked load and
// store instead of zeroing the pads first, the cost of 7- and 14-wide rows.
type paddedIm2col struct {
	xp          []float32
	g           *geom
	wp, pn      int // padded row and plane
	ch, cg, nr  int
	rows, batch int
}

// im2colCopy is one piece of a row of the im2col matrix: the n values at
// from in a padded channel plane go to off, n in mask's low bits (set
// bits, at most 32). The assembly im2colCopyFast reads it: three int64
// fields in this order.
type im2colCopy struct{ off, from, mask int }

// copyPool keeps paddedIm2col's tables of im2colCopy between calls.
var copyPool = sync.Pool{New: func() any { return new([]im2colCopy) }}

// newPaddedIm2col pads the input of a merged convolution for im2col, or
// returns nil when the convolution is not 2-D with stride and dilation 1
// or the assembly is not there for strips nr wide.
func newPaddedIm2col(c *runCtx, xd []float32, g *geom, batch, ch, cg, nr int) *paddedIm2col {
	if !im2colPadded || nr != 32 || !im2colFast(nr) || g.in[0] != 1 || g.k[0] != 1 || g.out[0] != 1 ||
		g.s[1] != 1 || g.s[2] != 1 || g.d[1] != 1 || g.d[2] != 1 {
		return nil
	}
	for i := range 3 {
		if g.padB[i] < 0 || g.padE[i] < 0 {
			return nil
		}
	}
	hp, wp := g.in[1]+g.padB[1]+g.padE[1], g.in[2]+g.padB[2]+g.padE[2]
	if g.out[1]+g.k[1]-1 > hp || g.out[2]+g.k[2]-1 > wp {
		return nil
	}
	p := &paddedIm2col{g: g, wp: wp, pn: hp * wp, ch: ch, cg: cg, nr: nr, rows: cg * g.kN, batch: batch}
	p.xp = scratchSliceRaw(c, batch*ch*p.pn)
	padInput(p.xp, xd, g, hp, wp, batch*ch, c.threads)
	return p
}

// im2col writes columns [j0, j1) of group gi's im2col matrix over all
// images (column bi*outN+q is output position q of image bi) into col as
// strips of nr columns: the values im2colImages writes, pads included.
func (p *paddedIm2col) im2col(col []float32, gi, j0, j1 int) {
	g, nr, wp := p.g, p.nr, p.wp
	out2, outN := g.out[2], g.outN
	type piece struct{ off, from, n int }
	var buf [128]piece
	pieces := buf[:0]
	for j := j0; j < j1; {
		bi, q := j/outN, j%outN
		oh, ow := q/out2, q%out2
		n := min(out2-ow, j1-j)
		off := j - j0
		n = min(n, nr-off%nr)
		pieces = append(pieces, piece{off/nr*nr*p.rows + off%nr, bi*p.ch*p.pn + oh*wp + ow, n})
		j += n
	}
	np := len(pieces)
	tabp := copyPool.Get().(*[]im2colCopy)
	defer copyPool.Put(tabp)
	if cap(*tabp) < g.kN*np {
		*tabp = make([]im2colCopy, g.kN*np)
	}
	tab := (*tabp)[:g.kN*np]
	for t := range g.kN {
		kh, kw := t/g.k[2]%g.k[1], t%g.k[2]
		for i, pc := range pieces {
			tab[t*np+i] = im2colCopy{off: pc.off, from: pc.from + kh*wp + kw, mask: 1<<pc.n - 1}
		}
	}
	// The assembly reads and writes without bounds checks: check the
	// furthest element of each piece once.
	src := p.xp[gi*p.cg*p.pn:]
	lastRow, lastPlane := (p.rows-1)*nr, (p.cg-1)*p.pn
	for i, e := range tab {
		n := pieces[i%np].n
		if e.off+n+lastRow > len(col) || e.from+n+lastPlane > len(src) {
			panic("sim: padded im2col table out of range")
		}
	}
	for r := range p.rows {
		c, t := r/g.kN, r%g.kN
		im2colCopyFast(col[r*nr:], src[c*p.pn:], tab[t*np:(t+1)*np])
	}
}
