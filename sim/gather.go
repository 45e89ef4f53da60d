package sim

import (
	"fmt"

	"amq/onnx"
)

func init() { register("Gather", buildGather) }

// Gather along any axis; negative indices count from the end of the axis.
// Output shape is data[:axis] + indices.shape + data[axis+1:].
func buildGather(b *buildCtx, n *onnx.Node) (opFunc, error) {
	if err := checkAttrs(n, "axis"); err != nil {
		return nil, err
	}
	axis := n.AttrInt("axis", 0)
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		x, ind := in[0], in[1]
		a, err := onnx.Axis(axis, len(x.Shape))
		if err != nil {
			return nil, err
		}
		raw, err := shapeInts(ind, "indices")
		if err != nil {
			return nil, err
		}
		dim := x.Shape[a]
		idx := make([]int, len(raw))
		for i, v := range raw {
			if v < -int64(dim) || v >= int64(dim) {
				return nil, fmt.Errorf("index %d is out of range for axis %d of size %d", v, a, dim)
			}
			if v < 0 {
				v += int64(dim)
			}
			idx[i] = int(v)
		}
		shape := append(append(append([]int{}, x.Shape[:a]...), ind.Shape...), x.Shape[a+1:]...)
		out, err := gatherBlocks(c.threads, x, shape, onnx.NumElems(x.Shape[:a]), dim, onnx.NumElems(x.Shape[a+1:]), idx)
		if err != nil {
			return nil, err
		}
		return []*onnx.Tensor{out}, nil
	}, nil
}
