package sim

import "amq/onnx"

// Fusing a depthwise Conv with the elementwise nodes after it (any float
// Conv fuses a Relu, applied to each output block while it is in cache:
// convNode.relu). After a depthwise Conv, PP-LCNetV3 has a learnable affine block (Mul
// then Add by scalars): a chain of such in-place nodes (inPlaceOp) is
// applied to each output row right after the row is computed, instead of
// as a pass over the whole tensor. Each value goes through the same IEEE
// operations in the same order, so the result is the unfused one.

// fuseChain offers the fusion of the depthwise Conv n (its weights a
// constant) with a chain of inPlaceOps after it; otherwise nil, and the
// Conv fuses a Relu after it as a pair (buildConv).
func (cn *convNode) fuseChain(b *buildCtx, n *onnx.Node, acts []*onnx.Node) opFunc {
	w, ok := constantOperand(b.graph, n.Inputs[1])
	if !ok || w.Rank() < 3 || w.Shape[1] != 1 || w.Shape[0] != cn.group {
		return nil // not depthwise
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
	fused := *cn
	fused.post = func(o []float32) {
		for _, post := range posts {
			post(o)
		}
	}
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		if in[0].DType == onnx.Float {
			return fused.run(c, in)
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
