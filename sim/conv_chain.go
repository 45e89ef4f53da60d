package sim

import "amq/onnx"

// Fusing a Conv with the elementwise nodes after it (any float Conv also
// fuses a lone Relu, applied to each output block while it is in cache:
// convNode.relu). After its convolutions PP-LCNetV3 has a learnable
// affine block (Mul then Add by scalars): a chain of such in-place nodes
// (inPlaceOp) is applied to each output row of a depthwise Conv right
// after the row is computed, and to other Convs' output in place, block by
// block, instead of into a new tensor. Each value goes through the same
// IEEE operations in the same order, so the result is the unfused one. A
// residual Add of a tensor computed earlier fuses too (conv_residual.go).

// fuseChain offers the fusion of the Conv n with a chain of inPlaceOps
// after it, or with a residual Add and inPlaceOps after that
// (fuseResidual); otherwise nil, and the Conv fuses a Relu after it as a
// pair (buildConv). extra is what the session gives the fused form
// besides the Conv's inputs (buildCtx.fusableChain).
func (cn *convNode) fuseChain(b *buildCtx, n *onnx.Node, acts []*onnx.Node, extra []string) opFunc {
	if run := cn.fuseResidual(b, n, acts, extra); run != nil || len(extra) > 0 {
		return run
	}
	w, ok := constantOperand(b.graph, n.Inputs[1])
	depthwiseW := ok && w.Rank() >= 3 && w.Shape[1] == 1 && w.Shape[0] == cn.group
	if !depthwiseW && len(acts) == 1 && acts[0].OpType == "Relu" {
		return nil // the pair's Relu clamps each block in the GEMM's tiles
	}
	posts := make([]rowOp, len(acts))
	thens := make([]func(c *runCtx, t *onnx.Tensor, first []*onnx.Tensor) ([]*onnx.Tensor, error), len(acts))
	x := n.Outputs[0]
	for i, act := range acts {
		if posts[i] = inPlaceOp(b, act, x); posts[i] == nil {
			return nil
		}
		if thens[i] = actAfter(b, act, x, [2]string{}); thens[i] == nil {
			return nil
		}
		x = act.Outputs[0]
	}
	post := func(o []float32) {
		for _, p := range posts {
			p(o)
		}
	}
	fused := *cn
	if depthwiseW {
		fused.post = post
	}
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		if in[0].DType == onnx.Float && depthwiseW {
			return fused.run(c, in)
		}
		if in[0].DType == onnx.Float {
			out, err := cn.run(c, in)
			if err != nil {
				return nil, err
			}
			d := out[0].Data.([]float32)
			parallelFor(c.threads, (len(d)+fuseBlock-1)/fuseBlock, 4, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					post(d[i*fuseBlock : min((i+1)*fuseBlock, len(d))])
				}
			})
			return out, nil
		}
		// The int8 path: the nodes in turn.
		out, err := cn.run(c, in)
		for _, then := range thens {
			if err != nil {
				return nil, err
			}
			out, err = then(c, out[0], nil)
		}
		return out, err
	}
}
