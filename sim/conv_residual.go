package sim

import (
	"slices"

	"amq/onnx"
)

// Fusing a residual Add into the Conv before it. A ResNet block ends in
// Add(conv, shortcut) and a Relu: the Conv adds the shortcut, a tensor
// computed before it, to each output tile right after the tile is
// written, and applies the Relu there too (fuseResidual), or, for a
// shortcut that is no longer in L2, does both in one pass over its output
// in place, instead of a node writing a new tensor. The session gives the
// fused step the shortcut (step.extra) after checking that it is computed
// before the Conv's step. Each value goes through the Add's IEEE addition,
// in its operand order, then the Relu, so the result is the unfused one.

// convShortcut is a residual Add fused into one run of a Conv: the tensor
// added to the output (laid out as it), in the Add's operand order, and
// the in-place nodes after the Add (nil for none).
type convShortcut struct {
	add   []float32
	first bool // the Add's first operand is the shortcut
	post  rowOp
	// relu: post is a Relu alone, which the kernel's epilogue applies.
	relu bool
	// whole: the shortcut is added in one pass after the Conv, not tile
	// by tile (runShortcut), unless the kernel adds it (inKernel).
	whole bool
	// inKernel is set, before the tiles run, by a path whose kernel adds
	// the shortcut in its epilogue (kernelResidual).
	inKernel bool
}

// fuseResidual offers the fusion of the Conv n with acts[0], an Add of
// the Conv's output and another tensor (a ResNet block's shortcut: one of
// the Conv's inputs or a tensor of extra), and the in-place nodes after
// the Add (inPlaceOp, its Relu). Nil when acts is not that. The fused form
// takes it when the Conv is float32 and the shortcut a float32 tensor of
// the output's shape; otherwise, and in the int8 path, it runs the nodes
// in turn.
func (cn *convNode) fuseResidual(b *buildCtx, n *onnx.Node, acts []*onnx.Node, extra []string) opFunc {
	add, y := acts[0], n.Outputs[0]
	// A float16 graph rounds the Conv's output before the Add.
	if add.OpType != "Add" || len(add.Inputs) != 2 || len(add.Attrs) != 0 || b.opset < 7 || halfGraph(b.graph) {
		return nil
	}
	first := add.Inputs[1] == y
	other := add.Inputs[0]
	if !first {
		other = add.Inputs[1]
	}
	if other == y || add.Inputs[0] != y && add.Inputs[1] != y {
		return nil
	}
	arg := slices.Index(append(slices.Clone(n.Inputs), extra...), other)
	if other == "" || arg < 0 {
		return nil
	}
	posts := make([]rowOp, len(acts)-1)
	thens := make([]func(c *runCtx, t *onnx.Tensor, first []*onnx.Tensor) ([]*onnx.Tensor, error), len(acts))
	if thens[0] = actAfter(b, add, y, [2]string{other}); thens[0] == nil {
		return nil
	}
	x := add.Outputs[0]
	for i, act := range acts[1:] {
		if posts[i] = inPlaceOp(b, act, x); posts[i] == nil {
			return nil
		}
		if thens[i+1] = actAfter(b, act, x, [2]string{}); thens[i+1] == nil {
			return nil
		}
		x = act.Outputs[0]
	}
	var post rowOp
	relu := len(acts) == 2 && acts[1].OpType == "Relu"
	if len(posts) > 0 {
		post = func(o []float32) {
			for _, p := range posts {
				p(o)
			}
		}
	}
	nIn := len(n.Inputs)
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		sc := in[arg]
		if out, ok, err := cn.runShortcut(c, in[:nIn], sc, &convShortcut{first: first, post: post, relu: relu}); ok || err != nil {
			return out, err
		}
		out, err := cn.run(c, in[:nIn])
		for _, then := range thens {
			if err != nil {
				return nil, err
			}
			out, err = then(c, out[0], []*onnx.Tensor{sc})
		}
		return out, err
	}
}

// shortcutTileBytes is the largest shortcut added tile by tile: half of
// L2, where it still is when the Conv runs (ResNet-18's at batch 1). A
// larger one (batch 8: up to 6.4 MB) comes from L3 or memory, and read
// in a tile's short row pieces it cost more than the Add's own pass (in
// ResNet-18 at batch 8, 0.5 to 1% of the model in most timings); it is
// added in one pass over the output in place.
var shortcutTileBytes = l2Bytes / 2

// runShortcut runs the float Conv with the shortcut sc added to its output
// and then res.post: by the kernel (kernelResidual), tile by tile
// (convNode.addShortcut) or, for a shortcut larger than
// shortcutTileBytes, in one pass after the Conv, in place; ok is false,
// with nothing done, when the Conv is not float32 or sc is not a float32
// tensor of its output's shape. res holds all but the shortcut's data.
func (cn *convNode) runShortcut(c *runCtx, in []*onnx.Tensor, sc *onnx.Tensor, res *convShortcut) (out []*onnx.Tensor, ok bool, err error) {
	x, w := in[0], in[1]
	sd, isF32 := sc.Data.([]float32)
	if x.DType != onnx.Float || sc.DType != onnx.Float || !isF32 {
		return nil, false, nil
	}
	var bias *onnx.Tensor
	if len(in) > 2 {
		bias = in[2]
	}
	g, err := cn.convShapes(x, w, bias)
	if err != nil {
		return nil, false, err
	}
	shape := append([]int{x.Shape[0], w.Shape[0]}, g.outShape()...)
	if !slices.Equal(sc.Shape, shape) || len(sd) != sc.Len() {
		return nil, false, nil
	}
	res.add, res.whole = sd, len(sd)*4 > shortcutTileBytes
	fused := *cn
	fused.res = res
	out, err = fused.runFloat(c, x, w, bias, g, shape)
	if err != nil || !res.whole || res.inKernel {
		return out, true, err
	}
	d := out[0].Data.([]float32)
	parallelFor(c.threads, (len(d)+fuseBlock-1)/fuseBlock, 4, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			res.addBlock(d, i*fuseBlock, min((i+1)*fuseBlock, len(d)))
		}
	})
	return out, true, nil
}

// kernelResidual reports whether kern adds the fused shortcut (and its
// Relu) in its epilogue when it computes the last k block into y: when
// there is a shortcut, the kernel can (addsRes) and the nodes after the
// Add are a Relu or none. It then marks the shortcut as added there; the
// caller sets the epilogue with residualEpilogue. Called before the tiles
// run.
func (cn *convNode) kernelResidual(kern microKernel) bool {
	res := cn.res
	if res == nil || !kern.addsRes || res.post != nil && !res.relu {
		return false
	}
	res.inKernel = true
	return true
}

// residualEpilogue makes ep add the shortcut from its value at y[at] on,
// laid out as the kernel's output, and then the Relu.
func (cn *convNode) residualEpilogue(ep *epilogue, at int) {
	ep.res, ep.resFirst = cn.res.add[at:], cn.res.first
	ep.relu = ep.relu || cn.res.relu
}

// addBlock adds the shortcut to y[lo:hi] (laid out as it) and applies
// post.
func (res *convShortcut) addBlock(y []float32, lo, hi int) {
	o, s := y[lo:hi], res.add[lo:hi]
	if res.first {
		arithRow(opAdd, o, s, o)
	} else {
		arithRow(opAdd, o, o, s)
	}
	if res.post != nil {
		res.post(o)
	}
}

// addShortcut adds the fused shortcut (when there is one) to rows
// [r0, r0+rows) of y, each outN long, in columns [p0, p1), then applies
// the nodes fused after the Add: the convolutions call it on each output
// tile right after they wrote it, while it is in cache.
func (cn *convNode) addShortcut(y []float32, outN, r0, rows, p0, p1 int) {
	res := cn.res
	if res == nil || res.whole || res.inKernel || p0 >= p1 {
		return
	}
	n := p1 - p0
	if n == outN {
		// Whole rows are one block: one call instead of one a row (7x7
		// layers' rows are 49 values).
		n, rows = rows*outN, 1
	}
	for r := r0; r < r0+rows; r++ {
		res.addBlock(y, r*outN+p0, r*outN+p0+n)
	}
}

// shortcutRun gathers the tiles a thread computes one after the other
// over the same output rows and adjacent columns, to add the shortcut to
// them in one addShortcut call: the implicit convolution's tiles of a
// 56x56 layer are about four output rows wide, pieces of 900 bytes of
// each shortcut row, which read at a third of the speed of longer ones.
// The gathered tiles (at most shortcutRunBytes) are still in L2 when it
// flushes.
type shortcutRun struct {
	cn                     *convNode
	y                      []float32
	outN, r0, rows, p0, p1 int
}

// shortcutRunBytes bounds the output a shortcutRun gathers: a quarter of
// L2.
var shortcutRunBytes = l2Bytes / 4

// add adds columns [p0, p1) of rows [r0, r0+rows) to the run, flushing
// first what they do not continue.
func (sr *shortcutRun) add(r0, rows, p0, p1 int) {
	if sr.cn.res == nil {
		return
	}
	if sr.p0 < sr.p1 && (r0 != sr.r0 || rows != sr.rows || p0 != sr.p1 || rows*(p1-sr.p0)*4 > shortcutRunBytes) {
		sr.flush()
	}
	if sr.p0 == sr.p1 {
		sr.r0, sr.rows, sr.p0 = r0, rows, p0
	}
	sr.p1 = p1
}

// flush adds the shortcut to the gathered columns.
func (sr *shortcutRun) flush() {
	if sr.p0 < sr.p1 {
		sr.cn.addShortcut(sr.y, sr.outN, sr.r0, sr.rows, sr.p0, sr.p1)
	}
	sr.p0 = sr.p1
}
