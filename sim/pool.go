package sim

import (
	"fmt"
	"math"

	"amq/onnx"
)

func init() {
	register("MaxPool", buildMaxPool)
	register("AveragePool", buildAveragePool)
}

// poolNode is a MaxPool or AveragePool prepared at build time.
type poolNode struct {
	w           windowAttrs
	ceil        bool
	includePad  bool // AveragePool's count_include_pad
	colMajor    bool // MaxPool's storage_order = 1
	wantIndices bool
}

// readPool reads the attributes MaxPool and AveragePool share.
func readPool(n *onnx.Node) (*poolNode, error) {
	w, err := readWindowAttrs(n)
	if err != nil {
		return nil, err
	}
	if w.kernel == nil {
		return nil, fmt.Errorf("attribute kernel_shape is required")
	}
	p := &poolNode{w: w, ceil: n.AttrInt("ceil_mode", 0) != 0}
	if len(n.Inputs) != 1 || n.Inputs[0] == "" {
		return nil, fmt.Errorf("want one input, got %d", len(n.Inputs))
	}
	return p, nil
}

func buildMaxPool(b *buildCtx, n *onnx.Node) (opFunc, error) {
	if err := checkAttrs(n, "auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"); err != nil {
		return nil, err
	}
	p, err := readPool(n)
	if err != nil {
		return nil, err
	}
	switch so := n.AttrInt("storage_order", 0); so {
	case 0, 1:
		p.colMajor = so == 1
	default:
		return nil, fmt.Errorf("storage_order %d is not 0 or 1", so)
	}
	p.wantIndices = len(n.Outputs) > 1 && n.Outputs[1] != ""
	return p.runMax, nil
}

func buildAveragePool(b *buildCtx, n *onnx.Node) (opFunc, error) {
	allowed := []string{"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides"}
	if b.opset >= 19 {
		allowed = append(allowed, "dilations") // new in opset 19
	}
	if err := checkAttrs(n, allowed...); err != nil {
		return nil, err
	}
	p, err := readPool(n)
	if err != nil {
		return nil, err
	}
	p.includePad = n.AttrInt("count_include_pad", 0) != 0
	return p.runAverage, nil
}

// geometry resolves the window against input x [N, C, spatial...].
func (p *poolNode) geometry(x *onnx.Tensor) (*geom, error) {
	if len(x.Shape) < 3 {
		return nil, fmt.Errorf("input %v has rank %d, want at least 3 (N, C, spatial...)", x.Shape, len(x.Shape))
	}
	g, err := p.w.resolve(x.Shape[2:], p.w.kernel)
	if err != nil {
		return nil, err
	}
	for i := 0; i < 3; i++ {
		if g.padB[i] >= g.extent(i) || g.padE[i] >= g.extent(i) {
			return nil, fmt.Errorf("pads %v: a pad as large as the window would make empty windows", p.w.pads)
		}
	}
	if err := g.forward(p.w.autoPad, p.ceil); err != nil {
		return nil, err
	}
	return g, nil
}

func (p *poolNode) runMax(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
	x := in[0]
	g, err := p.geometry(x)
	if err != nil {
		return nil, err
	}
	switch d := x.Data.(type) {
	case []float32:
		if !p.wantIndices && g.nd <= 2 && g.d == [3]int{1, 1, 1} {
			return maxPool2D(c, g, x, d), nil
		}
		return maxPool(c, p, g, x, d)
	case []float64:
		return maxPool(c, p, g, x, d)
	case []int8:
		return maxPool(c, p, g, x, d)
	case []uint8:
		return maxPool(c, p, g, x, d)
	}
	return nil, fmt.Errorf("input has type %v; MaxPool supports FLOAT, DOUBLE, INT8 and UINT8", x.DType)
}

// maxPool takes the maximum over each window, ignoring padded positions.
// Indices are flat positions in x (row-major, or column-major over the
// spatial axes with storage_order 1), as ONNX Runtime computes them.
func maxPool[T float32 | float64 | int8 | uint8](c *runCtx, p *poolNode, g *geom, x *onnx.Tensor, xd []T) ([]*onnx.Tensor, error) {
	planes := x.Shape[0] * x.Shape[1]
	shape := append([]int{x.Shape[0], x.Shape[1]}, g.outShape()...)
	y := outSlice[T](c, planes*g.outN)
	var idx []int64
	if p.wantIndices {
		idx = make([]int64, len(y))
	}
	// Strides of the spatial axes in the index numbering.
	st := [3]int{g.in[1] * g.in[2], g.in[2], 1}
	if p.colMajor {
		switch g.nd {
		case 1:
			st = [3]int{0, 0, 1}
		case 2:
			st = [3]int{0, 1, g.in[1]}
		case 3:
			st = [3]int{1, g.in[0], g.in[0] * g.in[1]}
		}
	}
	parallelFor(c.threads, planes, 1, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			src := xd[pl*g.inN : (pl+1)*g.inN]
			o := pl * g.outN
			for w := range g.windows() {
				var best T
				bestAt, found := 0, false
				for kd := w[0].lo; kd < w[0].hi; kd++ {
					id := w[0].start + kd*g.d[0]
					for kh := w[1].lo; kh < w[1].hi; kh++ {
						ih := w[1].start + kh*g.d[1]
						row := (id*g.in[1] + ih) * g.in[2]
						for kw := w[2].lo; kw < w[2].hi; kw++ {
							iw := w[2].start + kw*g.d[2]
							if v := src[row+iw]; !found || v > best {
								best, bestAt, found = v, id*st[0]+ih*st[1]+iw*st[2], true
							}
						}
					}
				}
				if !found {
					best = lowest[T]()
				}
				y[o] = best
				if idx != nil {
					idx[o] = int64(pl*g.inN + bestAt)
				}
				o++
			}
		}
	})
	outs := []*onnx.Tensor{onnx.NewTensor(shape, y)}
	if idx != nil {
		outs = append(outs, onnx.NewTensor(shape, idx))
	}
	return outs, nil
}

// lowest is the smallest value of T, the max of an empty window.
func lowest[T float32 | float64 | int8 | uint8]() T {
	var z T
	switch any(z).(type) {
	case float32:
		return T(float32(math.Inf(-1)))
	case float64:
		return T(math.Inf(-1))
	case int8:
		v := int8(math.MinInt8)
		return T(v)
	}
	return 0
}

func (p *poolNode) runAverage(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
	x := in[0]
	g, err := p.geometry(x)
	if err != nil {
		return nil, err
	}
	switch d := x.Data.(type) {
	case []float32:
		return averagePool(c, p, g, x, d)
	case []float64:
		return averagePool(c, p, g, x, d)
	}
	return nil, fmt.Errorf("input has type %v; AveragePool supports FLOAT and DOUBLE", x.DType)
}

// averagePool divides each window's sum by the number of input positions
// in it, or with count_include_pad by the number of positions within the
// padded input (a ceil_mode window reaching past the end padding counts
// only up to it, as in ONNX Runtime).
func averagePool[T float32 | float64](c *runCtx, p *poolNode, g *geom, x *onnx.Tensor, xd []T) ([]*onnx.Tensor, error) {
	planes := x.Shape[0] * x.Shape[1]
	shape := append([]int{x.Shape[0], x.Shape[1]}, g.outShape()...)
	y := outSlice[T](c, planes*g.outN)
	// padded counts the taps of a window along axis i, whose tap 0 is at
	// input position start, that lie inside the padded input.
	padded := func(i, start int) int {
		end := g.in[i] + g.padE[i]
		n := 0
		for t := 0; t < g.k[i]; t++ {
			if q := start + t*g.d[i]; q < end {
				n++
			}
		}
		return n
	}
	// The windows along the last axis are the same in every row: their
	// spans and padded counts are worked out once.
	cols, padCols := make([]span, g.out[2]), make([]int, g.out[2])
	owA, owB := len(cols), 0 // the windows of all k taps: [owA, owB)
	for ow := range cols {
		cols[ow] = g.window(2, ow)
		padCols[ow] = padded(2, cols[ow].start)
		if cols[ow].lo == 0 && cols[ow].hi == g.k[2] {
			owA, owB = min(owA, ow), ow+1
		}
	}
	parallelFor(c.threads, planes, 1, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			src := xd[pl*g.inN : (pl+1)*g.inN]
			o := pl * g.outN
			for od := 0; od < g.out[0]; od++ {
				wd := g.window(0, od)
				for oh := 0; oh < g.out[1]; oh++ {
					wh := g.window(1, oh)
					inner := (wd.hi - wd.lo) * (wh.hi - wh.lo)
					if p.includePad {
						inner = padded(0, wd.start) * padded(1, wh.start)
					}
					for ow := 0; ow < len(cols); ow++ {
						if ow >= owA && ow+4 <= owB {
							// Four outputs at once: four chains of
							// additions, each in its window's order,
							// overlap their latency.
							sums := averageSums4(src, g, wd, wh, cols[ow].start)
							for i, sum := range sums {
								count := inner * g.k[2]
								if p.includePad {
									count = inner * padCols[ow+i]
								}
								if count > 0 {
									y[o+i] = T(sum / float64(count))
								}
							}
							o += 4
							ow += 3
							continue
						}
						ww := cols[ow]
						var sum float64
						for kd := wd.lo; kd < wd.hi; kd++ {
							id := wd.start + kd*g.d[0]
							for kh := wh.lo; kh < wh.hi; kh++ {
								row := src[(id*g.in[1]+wh.start+kh*g.d[1])*g.in[2]:]
								for kw := ww.lo; kw < ww.hi; kw++ {
									sum += float64(row[ww.start+kw*g.d[2]])
								}
							}
						}
						count := inner * (ww.hi - ww.lo)
						if p.includePad {
							count = inner * padCols[ow]
						}
						if count > 0 {
							y[o] = T(sum / float64(count))
						}
						o++
					}
				}
			}
		}
	})
	return []*onnx.Tensor{onnx.NewTensor(shape, y)}, nil
}

// averageSums4 sums, in float64 and in averagePool's order, the windows
// of plane src spanned by wd and wh along the first two axes and, along
// the last, all k taps from input positions start + i*stride, i < 4.
func averageSums4[T float32 | float64](src []T, g *geom, wd, wh span, start int) [4]float64 {
	var s0, s1, s2, s3 float64
	st, dl, k := g.s[2], g.d[2], g.k[2]
	for kd := wd.lo; kd < wd.hi; kd++ {
		id := wd.start + kd*g.d[0]
		for kh := wh.lo; kh < wh.hi; kh++ {
			row := src[(id*g.in[1]+wh.start+kh*g.d[1])*g.in[2]+start:]
			row = row[:(k-1)*dl+3*st+1]
			for kw := 0; kw < k; kw++ {
				t := kw * dl
				s0 += float64(row[t])
				s1 += float64(row[t+st])
				s2 += float64(row[t+2*st])
				s3 += float64(row[t+3*st])
			}
		}
	}
	return [4]float64{s0, s1, s2, s3}
}

// maxPool2D is maxPool for float32 1-D and 2-D windows without dilation or
// indices, the MaxPool of CNN stems. For the output positions whose window
// lies inside the input row it runs tap by tap over the whole row, so the
// inner loops are plain strided maxima; each output still sees its taps
// in maxPool's order, keeping its treatment of NaN and signed zeros. With
// AVX-512 and strides 1 and 2, maxRowVec does those positions of a row
// in one pass, each output's maximum kept in a register over all its taps.
func maxPool2D(c *runCtx, g *geom, x *onnx.Tensor, xd []float32) []*onnx.Tensor {
	planes := x.Shape[0] * x.Shape[1]
	shape := append([]int{x.Shape[0], x.Shape[1]}, g.outShape()...)
	y := outSliceRaw[float32](c, planes*g.outN) // every output is written
	in2, out1, out2 := g.in[2], g.out[1], g.out[2]
	s2, k2, p2 := g.s[2], g.k[2], g.padB[2]
	// Interior outputs [owA, owB): ow*s2-p2 >= 0 and ow*s2-p2+k2 <= in2.
	owA := (p2 + s2 - 1) / s2
	owB := owA
	if in2-k2+p2 >= 0 {
		owB = max(owA, min(out2, (in2-k2+p2)/s2+1))
	}
	// The windows along a row, the same in every row and plane.
	cols := make([]span, out2)
	for ow := range cols {
		cols[ow] = g.window(2, ow)
	}
	parallelFor(c.threads, planes, max(1, elemGrain/max(1, g.inN)), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			src := xd[pl*g.inN : (pl+1)*g.inN]
			for oh := 0; oh < out1; oh++ {
				h := g.window(1, oh)
				sh, hlo, hhi := h.start, h.lo, h.hi
				row := y[(pl*out1+oh)*out2 : (pl*out1+oh+1)*out2]
				edge := func(ow int) { row[ow] = maxWindow(src, in2, h, cols[ow]) }
				if owA < owB && hlo < hhi {
					o := row[owA:owB]
					taps := src[(sh+hlo)*in2+owA*s2-p2:]
					if !maxRowVec(o, taps, in2, hhi-hlo, k2, s2) {
						maxRowGo(o, taps, in2, hhi-hlo, k2, s2)
					}
				} else {
					for ow := owA; ow < owB; ow++ {
						edge(ow)
					}
				}
				// The edges after the interior, which has brought
				// their input rows into cache.
				for ow := 0; ow < owA && ow < out2; ow++ {
					edge(ow)
				}
				for ow := owB; ow < out2; ow++ {
					edge(ow)
				}
			}
		}
	})
	return []*onnx.Tensor{onnx.NewTensor(shape, y)}
}

// maxWindow is the maximum of the taps of window h x w of the plane src,
// whose rows are in2 long, taken in maxPool's order; lowest[float32] when
// the window holds none.
func maxWindow(src []float32, in2 int, h, w span) float32 {
	var best float32
	found := false
	for kh := h.lo; kh < h.hi; kh++ {
		in := src[(h.start+kh)*in2 : (h.start+kh+1)*in2]
		for kw := w.lo; kw < w.hi; kw++ {
			if v := in[w.start+kw]; !found || v > best {
				best, found = v, true
			}
		}
	}
	if !found {
		return lowest[float32]()
	}
	return best
}

// maxRowGo sets o[i] to the maximum of the taps src[r*ld + i*stride + t]
// for rows r < rows and t < k, taken in that order with greater, tap by
// tap over the whole row: maxRowVec's result, in Go.
func maxRowGo(o, src []float32, ld, rows, k, stride int) {
	n := len(o)
	first := true
	for r := range rows {
		for t := range k {
			taps := src[r*ld+t : r*ld+t+(n-1)*stride+1]
			if maxTapsVec(o, taps, stride, first) {
				first = false
				continue
			}
			if first {
				for i := range o {
					o[i] = taps[i*stride]
				}
				first = false
				continue
			}
			for i := range o {
				o[i] = greater(taps[i*stride], o[i])
			}
		}
	}
}

// greater returns v if v > best, else best, without a branch: the sign of
// pooled activations is random, and a mispredicted branch per tap cost
// more than the arithmetic. The comparison compiles to a conditional move.
func greater(v, best float32) float32 {
	var mask uint32
	if v > best {
		mask = ^uint32(0)
	}
	b, x := math.Float32bits(best), math.Float32bits(v)
	return math.Float32frombits(b ^ (b^x)&mask)
}
