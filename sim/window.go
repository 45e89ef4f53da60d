package sim

import (
	"fmt"
	"iter"

	"amq/onnx"
)

// The window geometry that Conv, ConvTranspose and the pooling operators
// share: their attributes, the output sizes and pads they resolve to, and
// the walk over a window's taps. Spatial dimensions are normalized to
// three, with leading unit dimensions, so one code path serves 1-D, 2-D
// and 3-D.

// windowAttrs are the attributes of a sliding-window operator as written in
// the node; they are resolved against the input shape at run time.
type windowAttrs struct {
	kernel, strides, dils, pads []int
	autoPad                     string
}

// readWindowAttrs reads and checks the window attributes of n.
func readWindowAttrs(n *onnx.Node) (windowAttrs, error) {
	w := windowAttrs{
		kernel:  intsAttr(n, "kernel_shape"),
		strides: intsAttr(n, "strides"),
		dils:    intsAttr(n, "dilations"),
		pads:    intsAttr(n, "pads"),
		autoPad: n.AttrString("auto_pad", "NOTSET"),
	}
	switch w.autoPad {
	case "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID":
	default:
		return w, fmt.Errorf("auto_pad %q is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID", w.autoPad)
	}
	for _, v := range w.kernel {
		if v < 1 {
			return w, fmt.Errorf("kernel_shape %v has a dimension below 1", w.kernel)
		}
	}
	for _, v := range w.strides {
		if v < 1 {
			return w, fmt.Errorf("strides %v has a value below 1", w.strides)
		}
	}
	for _, v := range w.dils {
		if v < 1 {
			return w, fmt.Errorf("dilations %v has a value below 1", w.dils)
		}
	}
	for _, v := range w.pads {
		if v < 0 {
			return w, fmt.Errorf("pads %v has a negative value", w.pads)
		}
	}
	if len(w.pads)%2 != 0 {
		return w, fmt.Errorf("pads %v has an odd length", w.pads)
	}
	if len(w.strides) > 3 || len(w.kernel) > 3 || len(w.dils) > 3 || len(w.pads) > 6 {
		return w, fmt.Errorf("more than 3 spatial dimensions are not supported")
	}
	return w, nil
}

// intsAttr returns the ints attribute name of n as ints, or nil when n
// does not have it.
func intsAttr(n *onnx.Node, name string) []int {
	v := n.AttrInts(name)
	if v == nil {
		return nil
	}
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// geom is the resolved geometry of a window operator, normalized to three
// spatial dimensions (leading ones are 1 with unit stride and no padding).
// For ConvTranspose it describes the adjoint Conv: in is the ConvTranspose
// output and out its input.
type geom struct {
	nd         int // real spatial rank, 1..3
	in, out    [3]int
	k, s, d    [3]int
	padB, padE [3]int
	inN, outN  int   // products of in and out
	kN         int   // product of k
	pointwise  bool  // 1x1 window, unit strides, no padding: im2col is the identity
	inputDims  []int // spatial dims as given, for messages
	taps       []tap // the kernel's taps, row-major over the kernel
}

// resolve checks the attributes against nd spatial dims and fills the
// fields that do not depend on the operator's output rule.
func (w windowAttrs) resolve(spatial, kernel []int) (*geom, error) {
	nd := len(spatial)
	if nd < 1 || nd > 3 {
		return nil, fmt.Errorf("%d spatial dimensions are not supported (1 to 3 are)", nd)
	}
	if len(kernel) != nd {
		return nil, fmt.Errorf("kernel has %d dimensions, the input %d spatial ones", len(kernel), nd)
	}
	check := func(name string, v []int, want int) error {
		if v != nil && len(v) != want {
			return fmt.Errorf("%s %v has %d values, want %d", name, v, len(v), want)
		}
		return nil
	}
	if err := check("strides", w.strides, nd); err != nil {
		return nil, err
	}
	if err := check("dilations", w.dils, nd); err != nil {
		return nil, err
	}
	if err := check("pads", w.pads, 2*nd); err != nil {
		return nil, err
	}
	g := &geom{nd: nd, inputDims: spatial}
	off := 3 - nd
	for i := 0; i < 3; i++ {
		g.in[i], g.out[i], g.k[i], g.s[i], g.d[i] = 1, 1, 1, 1, 1
	}
	for i := 0; i < nd; i++ {
		g.in[off+i] = spatial[i]
		g.k[off+i] = kernel[i]
		if w.strides != nil {
			g.s[off+i] = w.strides[i]
		}
		if w.dils != nil {
			g.d[off+i] = w.dils[i]
		}
		if w.pads != nil && w.autoPad == "NOTSET" {
			g.padB[off+i] = w.pads[i]
			g.padE[off+i] = w.pads[nd+i]
		}
	}
	g.inN = g.in[0] * g.in[1] * g.in[2]
	g.kN = g.k[0] * g.k[1] * g.k[2]
	return g, nil
}

// extent is the size of the dilated window along axis i.
func (g *geom) extent(i int) int { return (g.k[i]-1)*g.d[i] + 1 }

// splitPad divides a total padding between the two ends of an axis: with
// upper (SAME_UPPER) the odd unit goes to the end, otherwise to the
// beginning.
func splitPad(total int, upper bool) (begin, end int) {
	begin = total - total/2
	if upper {
		begin = total / 2
	}
	return begin, total - begin
}

// forward computes the output size of a Conv or pooling window: the SAME
// modes pad so that out = ceil(in/stride); ceil rounds a partial last
// window up, as pooling's ceil_mode does (dropping a window that would
// start in the end padding, as PyTorch and ONNX Runtime do).
func (g *geom) forward(autoPad string, ceil bool) error {
	for i := 0; i < 3; i++ {
		dk := g.extent(i)
		switch autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			out := (g.in[i] + g.s[i] - 1) / g.s[i]
			g.padB[i], g.padE[i] = splitPad(max(0, (out-1)*g.s[i]+dk-g.in[i]), autoPad == "SAME_UPPER")
		case "VALID":
			g.padB[i], g.padE[i] = 0, 0
		}
		travel := g.in[i] + g.padB[i] + g.padE[i] - dk
		if travel < 0 {
			return fmt.Errorf("window %v (dilated) is larger than the padded input %v", g.k[3-g.nd:], g.inputDims)
		}
		out := travel/g.s[i] + 1
		if ceil && travel%g.s[i] != 0 {
			out++
			if (out-1)*g.s[i] >= g.in[i]+g.padB[i] {
				out--
			}
		}
		g.out[i] = out
	}
	g.outN = g.out[0] * g.out[1] * g.out[2]
	g.pointwise = g.kN == 1 && g.s == [3]int{1, 1, 1} && g.padB == [3]int{} && g.padE == [3]int{}
	g.fillTaps()
	return nil
}

// adjoint resolves the geometry of a ConvTranspose with input spatial
// dims spatial, output_padding outPadding and spatial output_shape
// outShape (either may be nil). The returned geom describes the Conv that
// maps the ConvTranspose output (g.in) to its input (g.out). With
// outShape, the total padding follows from it and is split as the ONNX
// specification says: SAME_UPPER puts the odd unit at the end, otherwise
// at the beginning. SAME_* without outShape makes the output
// input*stride.
func (w windowAttrs) adjoint(spatial, kernel, outPadding, outShape []int) (*geom, error) {
	g, err := w.resolve(spatial, kernel)
	if err != nil {
		return nil, err
	}
	off := 3 - g.nd
	for i, in := range spatial {
		j := off + i
		op := 0
		if outPadding != nil {
			op = outPadding[i]
		}
		full := g.s[j]*(in-1) + op + g.extent(j)
		target := -1
		if outShape != nil {
			target = outShape[i]
		} else if w.autoPad == "SAME_UPPER" || w.autoPad == "SAME_LOWER" {
			target = in * g.s[j]
		}
		var out int
		switch {
		case target >= 0:
			g.padB[j], g.padE[j] = splitPad(max(0, full-target), w.autoPad == "SAME_UPPER")
			out = target
		case w.autoPad == "VALID":
			g.padB[j], g.padE[j] = 0, 0
			out = full
		default:
			out = full - g.padB[j] - g.padE[j]
		}
		if out < 1 {
			return nil, fmt.Errorf("output size %d along spatial axis %d is below 1 (input %v, pads %v)", out, i, spatial, w.pads)
		}
		g.out[j] = in // the adjoint Conv's output is this op's input
		g.in[j] = out
	}
	g.inN = g.in[0] * g.in[1] * g.in[2]
	g.outN = g.out[0] * g.out[1] * g.out[2]
	g.fillTaps()
	return g, nil
}

// outShape is the spatial output shape with the real rank.
func (g *geom) outShape() []int { return append([]int(nil), g.out[3-g.nd:]...) }

// span is the part of a pooling window along one axis that lies inside
// the input: the input position of tap 0 and the taps [lo, hi) that land
// inside the input.
type span struct{ start, lo, hi int }

// window returns the span of output position o along axis i.
func (g *geom) window(i, o int) span {
	start := o*g.s[i] - g.padB[i]
	lo := 0
	if start < 0 {
		lo = (-start + g.d[i] - 1) / g.d[i]
	}
	hi := g.k[i]
	if last := g.in[i] - 1 - start; last < g.extent(i)-1 {
		hi = max(0, last/g.d[i]+1)
		if last < 0 {
			hi = 0
		}
	}
	return span{start, lo, hi}
}

// windows yields the window of every output position of a plane, in
// row-major order, as its spans along the three axes.
func (g *geom) windows() iter.Seq[[3]span] {
	return func(yield func([3]span) bool) {
		for od := 0; od < g.out[0]; od++ {
			d := g.window(0, od)
			for oh := 0; oh < g.out[1]; oh++ {
				h := g.window(1, oh)
				for ow := 0; ow < g.out[2]; ow++ {
					if !yield([3]span{d, h, g.window(2, ow)}) {
						return
					}
				}
			}
		}
	}
}

// validRange returns the output positions o in [0, nOut) whose input
// coordinate o*s + base lies in [0, nIn).
func validRange(nOut, nIn, s, base int) (lo, hi int) {
	// o*s + base >= 0  <=>  o >= ceil(-base/s)
	lo = 0
	if base < 0 {
		lo = (-base + s - 1) / s
	}
	// o*s + base <= nIn-1  <=>  o <= floor((nIn-1-base)/s)
	if nIn-1-base < 0 {
		return 0, 0
	}
	hi = min(nOut, (nIn-1-base)/s+1)
	if lo > hi {
		lo = hi
	}
	return lo, hi
}

// tap is one kernel tap of a window, seen from the output: along axis i
// it reads input position o*s[i] + base[i] for output position o, which
// lies inside the input for o in [lo[i], hi[i]).
type tap struct {
	base, lo, hi [3]int
}

// fillTaps computes g.taps once the output size and pads are known; the
// divisions it takes would cost more, per plane, than a late layer's
// 7-wide rows.
func (g *geom) fillTaps() {
	g.taps = make([]tap, g.kN)
	for t := range g.taps {
		tp := &g.taps[t]
		k := [3]int{t / (g.k[1] * g.k[2]), t / g.k[2] % g.k[1], t % g.k[2]}
		for i := range 3 {
			tp.base[i] = k[i]*g.d[i] - g.padB[i]
			tp.lo[i], tp.hi[i] = validRange(g.out[i], g.in[i], g.s[i], tp.base[i])
		}
	}
}

// inRow returns the offset in an input plane of the row that tap tp reads
// for output row (od, oh); od and oh must lie in tp's ranges along axes 0
// and 1.
func (g *geom) inRow(tp *tap, od, oh int) int {
	return ((od*g.s[0]+tp.base[0])*g.in[1] + oh*g.s[1] + tp.base[1]) * g.in[2]
}

// outRow returns the offset in an output plane of output row (od, oh).
func (g *geom) outRow(od, oh int) int { return (od*g.out[1] + oh) * g.out[2] }
