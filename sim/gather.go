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

// gatherBlocks builds the tensor of the given shape whose data is, for each
// of outer outer blocks of src (each axisLen*inner long), the inner-long
// rows at the positions idx (already validated to lie in [0, axisLen)).
func gatherBlocks(threads int, src *onnx.Tensor, shape []int, outer, axisLen, inner int, idx []int) (*onnx.Tensor, error) {
	out, err := allocTensor(nil, src.DType, shape)
	if err != nil {
		return nil, err
	}
	switch s := src.Data.(type) {
	case []float32:
		gatherAs(threads, out.Data.([]float32), s, outer, axisLen, inner, idx)
	case []float64:
		gatherAs(threads, out.Data.([]float64), s, outer, axisLen, inner, idx)
	case []int64:
		gatherAs(threads, out.Data.([]int64), s, outer, axisLen, inner, idx)
	case []int32:
		gatherAs(threads, out.Data.([]int32), s, outer, axisLen, inner, idx)
	case []int16:
		gatherAs(threads, out.Data.([]int16), s, outer, axisLen, inner, idx)
	case []int8:
		gatherAs(threads, out.Data.([]int8), s, outer, axisLen, inner, idx)
	case []uint8:
		gatherAs(threads, out.Data.([]uint8), s, outer, axisLen, inner, idx)
	case []uint16:
		gatherAs(threads, out.Data.([]uint16), s, outer, axisLen, inner, idx)
	case []uint32:
		gatherAs(threads, out.Data.([]uint32), s, outer, axisLen, inner, idx)
	case []uint64:
		gatherAs(threads, out.Data.([]uint64), s, outer, axisLen, inner, idx)
	case []bool:
		gatherAs(threads, out.Data.([]bool), s, outer, axisLen, inner, idx)
	case []string:
		gatherAs(threads, out.Data.([]string), s, outer, axisLen, inner, idx)
	case onnx.Halves, onnx.Compact:
		widen, _ := widener(src)
		gatherWidened(threads, out.Data.([]float32), widen, outer, axisLen, inner, idx)
	default:
		return nil, fmt.Errorf("tensor %q: unsupported element type %v", src.Name, src.DType)
	}
	return out, nil
}

// gatherAs is gatherBlocks for one element type T.
func gatherAs[T any](threads int, dst, src []T, outer, axisLen, inner int, idx []int) {
	rows := outer * len(idx)
	parallelFor(threads, rows, max(1, (1<<15)/max(inner, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			o, j := r/len(idx), r%len(idx)
			s := (o*axisLen + idx[j]) * inner
			copy(dst[r*inner:(r+1)*inner], src[s:s+inner])
		}
	})
}

// gatherAxis builds the tensor whose slices along axis are those of x at
// the positions idx (already validated to lie in [0, x.Shape[axis])).
func gatherAxis(threads int, x *onnx.Tensor, axis int, idx []int) (*onnx.Tensor, error) {
	shape := append([]int(nil), x.Shape...)
	shape[axis] = len(idx)
	return gatherBlocks(threads, x, shape, onnx.NumElems(x.Shape[:axis]), x.Shape[axis], onnx.NumElems(x.Shape[axis+1:]), idx)
}

// gatherAxes gathers x along every axis a whose idx[a] is not nil, last
// axis first (see gatherAxis). With no such axis the result aliases x.
func gatherAxes(threads int, x *onnx.Tensor, idx [][]int) (*onnx.Tensor, error) {
	cur := x
	for a := len(idx) - 1; a >= 0; a-- {
		if idx[a] == nil {
			continue
		}
		next, err := gatherAxis(threads, cur, a, idx[a])
		if err != nil {
			return nil, err
		}
		cur = next
	}
	if cur == x {
		return aliasAs(x, x.Shape), nil
	}
	return cur, nil
}
