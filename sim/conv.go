package sim

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"amq/onnx"
)

// This file implements Conv: float32, and the int8 form of Ascend deploy
// models. Its window geometry is in window.go.

func init() {
	register("Conv", buildConv)
}

// im2col lays out the receptive fields of channels input channels of x
// (each g.inN long) as the columns of col: row (c, kd, kh, kw) holds, for
// every output position, the input value that kernel tap sees, or zero in
// the padding.
func im2col(col, x []float32, g *geom, channels, threads int) {
	rows := channels * g.kN
	parallelFor(threads, rows, 16, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			c := r / g.kN
			tp := &g.taps[r%g.kN]
			dst := col[r*g.outN : (r+1)*g.outN]
			src := x[c*g.inN : (c+1)*g.inN]
			wlo, whi, baseW := tp.lo[2], tp.hi[2], tp.base[2]
			for od := 0; od < g.out[0]; od++ {
				for oh := 0; oh < g.out[1]; oh++ {
					row := dst[g.outRow(od, oh) : g.outRow(od, oh)+g.out[2]]
					if od < tp.lo[0] || od >= tp.hi[0] || oh < tp.lo[1] || oh >= tp.hi[1] || wlo >= whi {
						clear(row)
						continue
					}
					in := src[g.inRow(tp, od, oh):][:g.in[2]]
					clear(row[:wlo])
					clear(row[whi:])
					if g.s[2] == 1 {
						copy(row[wlo:whi], in[wlo+baseW:whi+baseW])
						continue
					}
					for ow := wlo; ow < whi; ow++ {
						row[ow] = in[ow*g.s[2]+baseW]
					}
				}
			}
		}
	})
}

// convNode is a Conv prepared at build time.
type convNode struct {
	w       windowAttrs
	group   int
	offset  int // activation offset of the int8 path (AscendQuant's)
	kernAtt []int
	relu    bool // a Relu node fused into this one clamps the float output
	// post applies the elementwise nodes fused after a depthwise Conv to
	// each output row (conv_chain.go); nil otherwise.
	post rowOp
	// res is the residual Add fused into a run (a copy of the node made
	// for the run, conv_chain.go), added to each output tile
	// (addShortcut); nil otherwise.
	res *convShortcut
	// cache keeps the packed weights between runs when W is an
	// initializer; nil otherwise.
	cache *atomic.Pointer[convWeights]
	i8    *igemmWeights // the same for the int8 kernels (igemm_conv.go)
	// implicit keeps the last implicitPlan (convimplicit.go).
	implicit *atomic.Pointer[implicitPlan]
	// swapped keeps W^T packed and the last plan when W is an
	// initializer (convswap.go).
	swapped *swapCache
}

func buildConv(b *buildCtx, n *onnx.Node) (opFunc, error) {
	if err := checkAttrs(n, "auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"); err != nil {
		return nil, err
	}
	if len(n.Inputs) < 2 || len(n.Inputs) > 3 || n.Inputs[0] == "" || n.Inputs[1] == "" {
		return nil, fmt.Errorf("want inputs X, W and optional B, got %d", len(n.Inputs))
	}
	w, err := readWindowAttrs(n)
	if err != nil {
		return nil, err
	}
	cn := &convNode{w: w, group: int(n.AttrInt("group", 1)), kernAtt: w.kernel, implicit: new(atomic.Pointer[implicitPlan])}
	if cn.group < 1 {
		return nil, fmt.Errorf("group %d is below 1", cn.group)
	}
	if cn.offset, err = quantOffset(b, n.Inputs[0]); err != nil {
		return nil, err
	}
	if isInitializer(b.graph, n.Inputs[1]) {
		cn.cache = new(atomic.Pointer[convWeights])
		cn.i8 = new(igemmWeights)
		cn.swapped = new(swapCache)
	}
	b.fusable = func(act *onnx.Node) opFunc {
		if act.OpType != "Relu" {
			return nil
		}
		fused := *cn
		fused.relu = true
		return fused.run
	}
	b.fusableChain = func(acts []*onnx.Node, extra []string) opFunc { return cn.fuseChain(b, n, acts, extra) }
	return cn.run, nil
}

// convShapes checks X [N, C, spatial...] against W [M, C/group, k...] and
// B [M], and resolves the geometry.
func (cn *convNode) convShapes(x, w, bias *onnx.Tensor) (*geom, error) {
	if len(x.Shape) < 3 {
		return nil, fmt.Errorf("input X %v has rank %d, want at least 3 (N, C, spatial...)", x.Shape, len(x.Shape))
	}
	if len(w.Shape) != len(x.Shape) {
		return nil, fmt.Errorf("weight W %v has rank %d, input X %v rank %d", w.Shape, len(w.Shape), x.Shape, len(x.Shape))
	}
	c, m := x.Shape[1], w.Shape[0]
	if c%cn.group != 0 || m%cn.group != 0 {
		return nil, fmt.Errorf("group %d does not divide input channels %d and output channels %d", cn.group, c, m)
	}
	if w.Shape[1] != c/cn.group {
		return nil, fmt.Errorf("weight W %v has %d input channels per group, input X %v with group %d needs %d", w.Shape, w.Shape[1], x.Shape, cn.group, c/cn.group)
	}
	if cn.kernAtt != nil && !slices.Equal(cn.kernAtt, w.Shape[2:]) {
		return nil, fmt.Errorf("kernel_shape %v differs from weight W %v", cn.kernAtt, w.Shape)
	}
	if bias != nil && (len(bias.Shape) != 1 || bias.Shape[0] != m) {
		return nil, fmt.Errorf("bias B %v, want [%d]", bias.Shape, m)
	}
	g, err := cn.w.resolve(x.Shape[2:], w.Shape[2:])
	if err != nil {
		return nil, err
	}
	if err := g.forward(cn.w.autoPad, false); err != nil {
		return nil, err
	}
	return g, nil
}

func (cn *convNode) run(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
	x, w := in[0], in[1]
	var bias *onnx.Tensor
	if len(in) > 2 {
		bias = in[2]
	}
	g, err := cn.convShapes(x, w, bias)
	if err != nil {
		return nil, err
	}
	shape := append([]int{x.Shape[0], w.Shape[0]}, g.outShape()...)
	switch x.DType {
	case onnx.Float:
		return cn.runFloat(c, x, w, bias, g, shape)
	case onnx.Int8:
		return cn.runInt8(c, x, w, bias, g, shape)
	}
	return nil, fmt.Errorf("input X has type %v; Conv supports FLOAT, and INT8 from AscendQuant", x.DType)
}

// runFloat convolves by GEMM per image and group (or per group over a
// batch), with B from im2col or read from a padded copy of the input
// (convimplicit.go); depthwise convolutions and 1x1 ones skip the copy. The bias initializes
// each output block before the GEMM accumulates into it, and a fused Relu
// clamps the block while it is still in cache.
func (cn *convNode) runFloat(c *runCtx, x, w, bias *onnx.Tensor, g *geom, shape []int) ([]*onnx.Tensor, error) {
	xd, wd, bd, err := floatOperands(x, w, bias)
	if err != nil {
		return nil, err
	}
	batch, ch, m := x.Shape[0], x.Shape[1], w.Shape[0]
	cg, mg := ch/cn.group, m/cn.group
	depthwiseConv := cg == 1 && mg == 1
	var y []float32
	if !depthwiseConv || depthwiseByRows(g) {
		y = outSliceRaw[float32](c, batch*m*g.outN) // convTiles and depthwiseRows write every value
	} else {
		y = outSlice[float32](c, batch*m*g.outN) // accumulated into: zero
	}
	if depthwiseConv {
		post := cn.post
		if depthwise(y, xd, wd, bd, post, g, batch*ch, c.threads) {
			bd, post = nil, nil // applied
		}
		if bd == nil && !cn.relu && post == nil && cn.res == nil {
			return []*onnx.Tensor{onnx.NewTensor(shape, y)}, nil
		}
		parallelFor(c.threads, batch*m, max(1, elemGrain/max(1, g.outN)), func(lo, hi int) {
			for r := lo; r < hi; r++ {
				row := y[r*g.outN : (r+1)*g.outN]
				if bd != nil {
					addScalar(row, bd[r%m])
				}
				if cn.relu {
					reluInPlace(row)
				}
				if post != nil {
					post(row)
				}
				cn.addShortcut(y, g.outN, r, 1, 0, g.outN)
			}
		})
		return []*onnx.Tensor{onnx.NewTensor(shape, y)}, nil
	}
	cn.convTiles(c, xd, wd, bd, y, g, batch, ch, m)
	return []*onnx.Tensor{onnx.NewTensor(shape, y)}, nil
}

// Tiling of a float convolution. The output of each (image, group) is cut
// into column chunks of about convChunkBytes of im2col matrix, so that the
// chunk's im2col copy is still in L2 when the GEMM reads it, and, when
// that leaves fewer tiles than threads (batch 1 and the small late
// layers), into bands of output channels. Each tile is an independent
// job: threads share no buffers and wait for nothing but the end.
//
// Layers with few output positions (ResNet's 14x14 and 7x7 stages) take
// the columns of all images of a batch as one matrix instead: 49 columns
// make one whole strip of 32 and a ragged one, computed in full, and
// reused the 9 MB of a 512x4608 weight matrix for 49 columns only. Their
// tiles compute into a scratch block that is then copied to each image's
// output; every output is the same sum, in the same order, either way.
const (
	// convMinTileMACs keeps a goroutine from being started for less work
	// than it costs.
	convMinTileMACs = 1 << 17
	// convMergeCols is the number of output positions below which a
	// batch's images are convolved as one matrix.
	convMergeCols = 512
)

// convChunkBytes is the im2col chunk: half of L2.
var convChunkBytes = l2Bytes / 2

// convTiling is how convTiles and convImplicit cut their work: spaces
// column spaces (an image and group's outputs, or a group's over all
// images) of cols columns each, into chunks of whole strips and, when
// that leaves fewer tiles than threads, bands of bandRows output
// channels. Tile t is band t%bands of chunk (t/bands)%chunks of space
// t/bands/chunks.
type convTiling struct {
	chunks, per, strips, nr, cols int // per: columns of the widest chunk
	bands, bandRows               int
	tiles, grain                  int
}

// newConvTiling cuts spaces column spaces of cols columns for a GEMM of
// mg output channels and kdim taps. Chunks are about convChunkBytes of
// im2col matrix, or minCols columns if that is more: merged layers have weights larger than
// L2, read again from L3 for every chunk, and chunks as wide as the
// weights have rows balance that traffic with the im2col chunk's own
// (ResNet-18's 512x4608 layer at batch 8 takes two chunks, not four).
func newConvTiling(threads, spaces, cols, kdim, mg, minCols int, kern microKernel) convTiling {
	target := max(4*kern.nr, convChunkBytes/4/kdim, minCols)
	chunks := (cols + target - 1) / target
	// Chunks are whole strips of nr columns (but the last), as even as
	// that allows; when there are few tiles, their number is rounded up to
	// a multiple of the threads so that none waits for another's last
	// one (7 chunks of a 56x56 layer on 2 threads left one idle an
	// eighth of the time).
	//
	// Weights that do not stay in L2 (ResNet-18's last layers) are split
	// into bands of output channels instead, so that each thread reads
	// only its part of them from L3 (at batch 1 the two threads each read
	// the 9 MB of the 512x4608 layer for one strip of 49 columns).
	strips := (cols + kern.nr - 1) / kern.nr
	t := threads
	bigA := mg*kdim*4 > l2Bytes/2
	few := t > 1 && spaces*chunks < 4*t && spaces*chunks%t != 0
	if few && !bigA {
		chunks = min(strips, ((spaces*chunks+t-1)/t*t+spaces-1)/spaces)
	}
	chunks = max(1, min(chunks, strips))
	tl := convTiling{chunks: chunks, strips: strips, nr: kern.nr, cols: cols}
	tl.per = (strips + chunks - 1) / chunks * kern.nr
	tl.bands = 1
	switch {
	case few && bigA:
		tl.bands = min(t/gcd(spaces*chunks, t), (mg+kern.mr-1)/kern.mr)
	case spaces*chunks < t:
		tl.bands = min((t+spaces*chunks-1)/(spaces*chunks), (mg+kern.mr-1)/kern.mr)
	}
	tl.bandRows = (mg + tl.bands - 1) / tl.bands
	tl.bandRows = (tl.bandRows + kern.mr - 1) / kern.mr * kern.mr
	tl.bands = (mg + tl.bandRows - 1) / tl.bandRows
	tl.tiles = spaces * chunks * tl.bands
	tileMACs := tl.bandRows * tl.per * kdim
	tl.grain = max(1, convMinTileMACs/max(1, tileMACs))
	return tl
}

// gcd is the greatest common divisor of a and b.
func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// chunkAt is the first column of chunk i (cols for i = chunks).
func (tl convTiling) chunkAt(i int) int { return min(tl.cols, i*tl.strips/tl.chunks*tl.nr) }

// convTiles computes y = conv(x, w) + bias, and the fused Relu or
// residual Add (addShortcut, on each tile), for the general (not
// depthwise) float Conv, writing every value of y.
func (cn *convNode) convTiles(c *runCtx, xd, wd, bd, y []float32, g *geom, batch, ch, m int) {
	if cn.convSwapped(c, xd, wd, bd, y, g, batch, ch, m) {
		return
	}
	cg, mg := ch/cn.group, m/cn.group
	kdim := cg * g.kN
	packed := cn.packedWeights(wd, cn.group, mg, kdim)
	kern := activeKernel
	outN := g.outN
	// A column space is one (image, group)'s outputs, or, merged, one
	// group's outputs over all images.
	merge := batch > 1 && !g.pointwise && outN < convMergeCols
	if !merge {
		if plan := cn.implicitPlan(g, cg, kern); plan != nil {
			cn.convImplicit(c, plan, packed, xd, wd, bd, y, g, batch, ch, m)
			return
		}
	}
	spaces, cols := batch*cn.group, outN
	if merge {
		spaces, cols = cn.group, batch*outN
	}
	minCols := 0
	if merge {
		// Up to an im2col chunk of twice L2, which bounds the memory.
		minCols = min(mg, 2*l2Bytes/4/kdim)
	}
	tl := newConvTiling(c.threads, spaces, cols, kdim, mg, minCols, kern)
	chunks, per, bands, bandRows, chunkAt := tl.chunks, tl.per, tl.bands, tl.bandRows, tl.chunkAt
	var padded *paddedIm2col
	if merge {
		padded = newPaddedIm2col(c, xd, g, batch, ch, cg, kern.nr)
	}
	// Stored to y, the kernel adds a fused shortcut itself.
	resInKernel := !merge && cn.kernelResidual(kern)
	parallelFor(c.threads, tl.tiles, tl.grain, func(lo, hi int) {
		var col, blk []float32
		if !g.pointwise {
			buf := f32Scratch.get(kdim * per)
			defer f32Scratch.put(buf)
			col = *buf
		}
		if merge {
			buf := f32Scratch.get(bandRows * per)
			defer f32Scratch.put(buf)
			blk = *buf
		}
		lastCol := -1 // the (space, chunk) whose im2col col holds
		for t := lo; t < hi; t++ {
			band, ic := t%bands, t/bands
			chunk, space := ic%chunks, ic/chunks
			bi, gi := space/cn.group, space%cn.group
			if merge {
				bi, gi = 0, space
			}
			j0, j1 := chunkAt(chunk), chunkAt(chunk+1)
			nw := j1 - j0
			xg := xd[(bi*ch+gi*cg)*g.inN:]
			src := matrix{data: xg[j0:], ld: g.inN}
			if !g.pointwise {
				if ic != lastCol {
					switch {
					case padded != nil:
						padded.im2col(col, gi, j0, j1)
					case merge:
						cn.im2colImages(col, xd, g, ch, gi, j0, j1, kern.nr)
					default:
						im2colRange(col, xg, g, cg, j0, j1, kern.nr)
					}
					lastCol = ic
				}
				src = matrix{data: col, strips: true}
			}
			i0, i1 := band*bandRows, min(mg, (band+1)*bandRows)
			ep := cn.tileEpilogue(bd, gi*mg+i0, gi*mg+i1)
			cblk, ldc := y[(bi*m+gi*mg+i0)*outN+j0:], outN
			if merge {
				cblk, ldc = blk[:(i1-i0)*nw], nw
			}
			if resInKernel {
				cn.residualEpilogue(ep, (bi*m+gi*mg+i0)*outN+j0)
			}
			if packed != nil {
				sgemmSerial(kern, i1-i0, nw, kdim, 1, matrix{}, packed[gi], i0, src, cblk, ldc, ep)
			} else {
				a := matrix{data: wd[(gi*mg+i0)*kdim:], ld: kdim}
				sgemmSerial(kern, i1-i0, nw, kdim, 1, a, nil, 0, src, cblk, ldc, ep)
			}
			if !merge {
				cn.addShortcut(y, outN, bi*m+gi*mg+i0, i1-i0, j0, j1)
			} else {
				// Copy each image's part of the block to its output.
				for j := j0; j < j1; {
					bi, p := j/outN, j%outN
					n := min(outN-p, j1-j)
					yg := y[(bi*m+gi*mg+i0)*outN+p:]
					for i := range i1 - i0 {
						copy(yg[i*outN:i*outN+n], cblk[i*nw+j-j0:])
					}
					cn.addShortcut(y, outN, bi*m+gi*mg+i0, i1-i0, p, p+n)
					j += n
				}
			}
		}
	})
}

// tileEpilogue is what the GEMM of output channels [i0, i1) adds to the
// product: their bias (or zero: C is written, not read) and the fused
// Relu.
func (cn *convNode) tileEpilogue(bd []float32, i0, i1 int) *epilogue {
	ep := &epilogue{relu: cn.relu, fromZero: bd == nil}
	if bd != nil {
		ep.bias = bd[i0:i1]
	}
	return ep
}

// im2colImages is im2colRange over columns [j0, j1) of group gi's outputs
// of all images side by side (column bi*outN+p is output position p of
// image bi), packed as strips of nr columns.
func (cn *convNode) im2colImages(col, xd []float32, g *geom, ch, gi, j0, j1, nr int) {
	cg := ch / cn.group
	for j := j0; j < j1; {
		bi, p := j/g.outN, j%g.outN
		n := min(g.outN-p, j1-j)
		im2colRangeAt(col, xd[(bi*ch+gi*cg)*g.inN:], g, cg, p, p+n, nr, j-j0)
		j += n
	}
}

// im2colRange writes columns [j0, j1) of the im2col matrix of x (channels
// input channels, each g.inN long; see im2col) into col, packed for the
// GEMM as strips of nr columns (matrix.strips), or, with nr 0, as a
// row-major matrix j1-j0 wide. The columns are output positions, so a
// range may start and end inside an output row; the pieces of output rows
// in the range, cut where strips end, are worked out once, since late
// layers copy rows of only 7 or 14 values and per-piece overhead decides
// the cost.
func im2colRange(col, x []float32, g *geom, channels, j0, j1, nr int) {
	im2colRangeAt(col, x, g, channels, j0, j1, nr, 0)
}

// im2colRangeAt is im2colRange writing column j0 at column at of the
// strips in col (nr > 0), for a matrix whose other columns come from
// other images.
func im2colRangeAt(col, x []float32, g *geom, channels, j0, j1, nr, at int) {
	w := j1 - j0
	rows := channels * g.kN
	rowStep := w // from one row of the matrix to the next in col
	if nr > 0 {
		rowStep = nr
	}
	out2 := g.out[2]
	type piece struct{ id0, ih0, ow0, ow1, off int }
	var buf [128]piece
	pieces := buf[:0]
	for p := j0; p < j1; {
		orow := p / out2 // od*out[1] + oh
		ow0 := p - orow*out2
		ow1 := min(out2, ow0+j1-p)
		off := p - j0 + at
		if nr > 0 {
			ow1 = min(ow1, ow0+nr-off%nr)
			off = off/nr*nr*rows + off%nr
		}
		od, oh := orow/g.out[1], orow%g.out[1]
		pieces = append(pieces, piece{od * g.s[0], oh * g.s[1], ow0, ow1, off})
		p += ow1 - ow0
	}
	// What a piece copies depends on the tap but not on the channel: work
	// it out once per tap.
	np := len(pieces)
	tabp := segPool.Get().(*[]im2colSeg)
	defer segPool.Put(tabp)
	if cap(*tabp) < g.kN*np {
		*tabp = make([]im2colSeg, g.kN*np)
	}
	tab := (*tabp)[:g.kN*np]
	for t := range g.kN {
		tp := &g.taps[t]
		for i, pc := range pieces {
			id, ih := pc.id0+tp.base[0], pc.ih0+tp.base[1]
			lo, hi := max(tp.lo[2], pc.ow0), min(tp.hi[2], pc.ow1)
			e := im2colSeg{off: pc.off, n: pc.ow1 - pc.ow0}
			if id >= 0 && id < g.in[0] && ih >= 0 && ih < g.in[1] && lo < hi {
				e.from = (id*g.in[1]+ih)*g.in[2] + lo*g.s[2] + tp.base[2]
				e.lo, e.cnt = lo-pc.ow0, hi-lo
			}
			tab[t*np+i] = e
		}
	}
	s2 := g.s[2]
	fast := nr > 0 && im2colFast(nr) && rows > 0
	if fast {
		// The assembly reads and writes without bounds checks: check the
		// furthest element of each table once.
		last := (rows - 1) * rowStep
		for _, e := range tab {
			if e.off+e.n+last > len(col) || e.cnt > 0 && (e.from < 0 || e.from+(e.cnt-1)*s2 >= g.inN) {
				panic("sim: im2col table out of range")
			}
		}
		_ = x[channels*g.inN-1]
	}
	for r := 0; r < rows; r++ {
		c, t := r/g.kN, r%g.kN
		dst := col[r*rowStep:]
		src := x[c*g.inN : (c+1)*g.inN]
		segs := tab[t*np : (t+1)*np]
		if fast {
			im2colSegsFast(dst, src, segs, s2, nr)
			continue
		}
		for _, e := range segs {
			seg := dst[e.off : e.off+e.n]
			// The padding at either end is a value or two: a loop is
			// cheaper than a call to clear.
			for j := range seg[:e.lo] {
				seg[j] = 0
			}
			tail := seg[e.lo+e.cnt:]
			for j := range tail {
				tail[j] = 0
			}
			out := seg[e.lo : e.lo+e.cnt]
			if s2 == 1 {
				copy(out, src[e.from:e.from+e.cnt])
				continue
			}
			in := src[e.from:]
			for j := range out {
				out[j] = in[j*s2]
			}
		}
	}
}

// im2colSeg is what one kernel tap puts in one piece of an output row
// range: n values at off in the row of the im2col matrix, of which cnt
// from the input (from offset from within a channel's plane, stride s[2])
// starting at lo, and zeros around them. The assembly im2colSegsFast reads
// it: five int64 fields in this order.
type im2colSeg struct{ off, n, from, lo, cnt int }

// segPool keeps im2colRange's tables of im2colSeg between calls.
var segPool = sync.Pool{New: func() any { return new([]im2colSeg) }}

// packedWeights returns the weights of each group packed for the GEMM,
// kept from the previous run when W is the same initializer, or nil when W
// is computed by the graph (packing it on every run would gain nothing).
func (cn *convNode) packedWeights(wd []float32, groups, mg, kdim int) []*packedA {
	if cn.cache == nil || len(wd) == 0 {
		return nil
	}
	if p := cn.cache.Load(); p != nil && p.src == &wd[0] && p.n == len(wd) && p.kern == activeKernel.name {
		return p.groups
	}
	p := &convWeights{src: &wd[0], n: len(wd), kern: activeKernel.name}
	for gi := 0; gi < groups; gi++ {
		p.groups = append(p.groups, packWhole(activeKernel, matrix{data: wd[gi*mg*kdim:], ld: kdim}, mg, kdim))
	}
	// Concurrent first runs may both pack; either result is the same.
	cn.cache.Store(p)
	return p.groups
}

// convWeights is a Conv's weight tensor packed per group, and which tensor
// data it was packed from.
type convWeights struct {
	src    *float32
	n      int
	kern   string
	groups []*packedA
}

// fill sets every element of s to v.
func fill(s []float32, v float32) {
	for i := range s {
		s[i] = v
	}
}

// addScalar adds v to every element of s.
func addScalar(s []float32, v float32) {
	for i := range s {
		s[i] += v
	}
}

// reluInPlace replaces each element v of s by max(v, 0). Go's max keeps
// NaN and turns -0 into +0, as the Relu operator does; it compiles without
// a branch, which matters for activations whose sign is random.
func reluInPlace(s []float32) {
	s = s[reluVec(s):]
	for i, v := range s {
		s[i] = max(v, 0)
	}
}

// depthwise convolves each of planes channels with its own single filter
// directly: for every kernel tap it adds the tap's weight times a shifted
// input row to the output row. im2col would copy each input kN times for a
// GEMM with one output row. With AVX-512 and a unit column stride it takes
// all taps of an output row in one kernel call (depthwiseRows) and adds
// the bias and applies post (when not nil) there too, reporting true; the
// sums are the same, tap by tap.
func depthwise(y, x, w, bias []float32, post rowOp, g *geom, planes, threads int) (biased bool) {
	rows := depthwiseByRows(g)
	parallelFor(threads, planes, 1, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			// Channel p of image p/C uses filter p%C; planes = batch*C and
			// w holds C filters.
			c := p % (len(w) / g.kN)
			filt := w[c*g.kN:]
			src := x[p*g.inN : (p+1)*g.inN]
			dst := y[p*g.outN : (p+1)*g.outN]
			if rows {
				var b float32
				if bias != nil {
					b = bias[c]
				}
				depthwiseRows(dst, src, filt[:g.kN], g, b, bias != nil, post)
				continue
			}
			depthwiseTaps(dst, src, filt[:g.kN], g)
		}
	})
	return rows
}

// depthwiseTaps computes one plane of a depthwise convolution tap by tap,
// adding each tap's weight times the shifted input rows to dst.
func depthwiseTaps(dst, src, filt []float32, g *geom) {
	for t, wv := range filt {
		tp := &g.taps[t]
		wlo, whi, baseW := tp.lo[2], tp.hi[2], tp.base[2]
		if wlo >= whi {
			continue
		}
		for od := tp.lo[0]; od < tp.hi[0]; od++ {
			for oh := tp.lo[1]; oh < tp.hi[1]; oh++ {
				in := src[g.inRow(tp, od, oh):]
				out := dst[g.outRow(od, oh):][:g.out[2]]
				if g.s[2] == 1 {
					axpy(out[wlo:whi], in[wlo+baseW:whi+baseW], wv)
					continue
				}
				for ow := wlo; ow < whi; ow++ {
					out[ow] += float32(wv * in[ow*g.s[2]+baseW])
				}
			}
		}
	}
}

// maxRowTaps bounds the kernel taps depthwiseRows keeps on its stack.
const maxRowTaps = 32

// depthwiseByRows reports whether depthwise takes g's planes row by row.
func depthwiseByRows(g *geom) bool { return g.s[2] == 1 && g.kN <= maxRowTaps && depthwiseVecOK() }

// depthwiseRows computes one plane of a depthwise convolution with unit
// column stride row by row: the columns every tap of the row reaches in
// one depthwiseTapsVec call, the edge columns in Go, each output element
// summing its taps in order from zero and then the bias, as the
// tap-by-tap loop into a zeroed plane does, then post on the row while it
// is in L1. It writes every value of dst.
func depthwiseRows(dst, src, filt []float32, g *geom, bias float32, hasBias bool, post rowOp) {
	var offBuf, rowBuf, loBuf, hiBuf [maxRowTaps]int
	var wBuf [maxRowTaps]float32
	width := g.out[2]
	for od := range g.out[0] {
		for oh := range g.out[1] {
			// The taps that reach this row, in order: their input rows
			// (shifted by the tap's column), columns and weights.
			k, lo, hi := 0, 0, width
			for t := range g.kN {
				tp := &g.taps[t]
				if od < tp.lo[0] || od >= tp.hi[0] || oh < tp.lo[1] || oh >= tp.hi[1] || tp.lo[2] >= tp.hi[2] {
					continue
				}
				rowBuf[k], loBuf[k], hiBuf[k], wBuf[k] = g.inRow(tp, od, oh)+tp.base[2], tp.lo[2], tp.hi[2], filt[t]
				lo, hi = max(lo, tp.lo[2]), min(hi, tp.hi[2])
				k++
			}
			rows, los, his, wt := rowBuf[:k], loBuf[:k], hiBuf[:k], wBuf[:k]
			out := dst[g.outRow(od, oh):][:width]
			hi = max(hi, lo)
			offs := offBuf[:k]
			for i, r := range rows {
				offs[i] = r + lo
			}
			depthwiseTapsVec(out[lo:hi], src, offs, wt, bias, hasBias)
			for _, edge := range [2][2]int{{0, lo}, {hi, width}} {
				for ow := edge[0]; ow < edge[1]; ow++ {
					var v float32
					for i, r := range rows {
						if ow >= los[i] && ow < his[i] {
							v += float32(wt[i] * src[r+ow])
						}
					}
					if hasBias {
						v += bias
					}
					out[ow] = v
				}
			}
			if post != nil {
				post(out)
			}
		}
	}
}

// runInt8 computes the exact int32 convolution of a deploy model's int8
// layer: sum of (q - offset) * w over the taps inside the input, plus bias.
func (cn *convNode) runInt8(c *runCtx, x, w, bias *onnx.Tensor, g *geom, shape []int) ([]*onnx.Tensor, error) {
	if y, ok := convInt8Tensors(c, x, w, bias, g, cn.group, cn.offset, cn.relu, cn.i8); ok {
		return []*onnx.Tensor{onnx.NewTensor(shape, y)}, nil
	}
	xd, wd, bd, err := intOperands(x, w, bias, cn.offset)
	if err != nil {
		return nil, err
	}
	batch, ch, m := x.Shape[0], x.Shape[1], w.Shape[0]
	cg, mg := ch/cn.group, m/cn.group
	kdim := cg * g.kN
	acc := make([]int64, batch*m*g.outN)
	one := func(bi, gi int, col []float32, threads int) {
		xg := xd[(bi*ch+gi*cg)*g.inN:]
		src := xg
		if !g.pointwise {
			im2col(col, xg[:cg*g.inN], g, cg, threads)
			src = col
		}
		igemmExact(mg, g.outN, kdim, matrix{data: wd[gi*mg*kdim:], ld: kdim}, matrix{data: src, ld: g.outN},
			acc[(bi*m+gi*mg)*g.outN:], g.outN, threads)
	}
	bufLen := kdim * g.outN
	if g.pointwise {
		bufLen = 0
	}
	forEachImage(batch, cn.group, mg*g.outN*kdim, c.threads, bufLen, &f32Scratch, one)
	y := saturateInt32(acc, g.outN, bd)
	if cn.relu {
		for i, v := range y {
			y[i] = max(v, 0)
		}
	}
	return []*onnx.Tensor{onnx.NewTensor(shape, y)}, nil
}
