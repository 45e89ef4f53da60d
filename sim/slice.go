package sim

import (
	"fmt"

	"amq/onnx"
)

func init() { register("Slice", buildSlice) }

// Slice (opset 10 and later: starts, ends, axes, steps are inputs). The
// selected elements are copied through a strided view: offset
// sum(start*stride), strides step*stride, which also covers negative steps.
func buildSlice(b *buildCtx, n *onnx.Node) (opFunc, error) {
	if b.opset < 10 {
		return buildLegacySlice(b, n)
	}
	if err := checkAttrs(n); err != nil {
		return nil, err
	}
	if n.Input(1) == "" || n.Input(2) == "" {
		return nil, fmt.Errorf("inputs starts and ends are required")
	}
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		x := in[0]
		var opt [4][]int64
		names := [4]string{"starts", "ends", "axes", "steps"}
		for i := range 4 {
			if i+1 < len(in) && in[i+1] != nil {
				v, err := shapeInts(in[i+1], names[i])
				if err != nil {
					return nil, err
				}
				opt[i] = v
			}
		}
		spec, err := sliceSpec(x.Shape, opt[0], opt[1], opt[2], opt[3])
		if err != nil {
			return nil, err
		}
		xs := denseStrides(x.Shape)
		shape := make([]int, len(x.Shape))
		sStr := make([]int, len(x.Shape))
		off := 0
		for i, s := range spec {
			shape[i] = s.count
			sStr[i] = s.step * xs[i]
			off += s.start * xs[i]
		}
		out, err := allocTensor(c, x.DType, shape)
		if err != nil {
			return nil, err
		}
		if err := copyStrided(c.threads, out, x, 0, denseStrides(shape), off, sStr, shape); err != nil {
			return nil, err
		}
		return []*onnx.Tensor{out}, nil
	}, nil
}

// axisSlice selects count elements of one axis: start, start+step, ...
type axisSlice struct{ start, step, count int }

// sliceSpec resolves Slice's inputs against shape following the ONNX rules:
// negative starts/ends count from the end; then starts and ends are clamped
// to [0, dim] for positive steps and to [0, dim-1] / [-1, dim-1] for
// negative ones.
func sliceSpec(shape []int, starts, ends, axes, steps []int64) ([]axisSlice, error) {
	r := len(shape)
	spec := make([]axisSlice, r)
	for i, d := range shape {
		spec[i] = axisSlice{0, 1, d}
	}
	if len(starts) != len(ends) {
		return nil, fmt.Errorf("starts %v and ends %v differ in length", starts, ends)
	}
	if axes != nil && len(axes) != len(starts) {
		return nil, fmt.Errorf("axes %v and starts %v differ in length", axes, starts)
	}
	if steps != nil && len(steps) != len(starts) {
		return nil, fmt.Errorf("steps %v and starts %v differ in length", steps, starts)
	}
	seen := make([]bool, r)
	for k := range starts {
		ax := int64(k)
		if axes != nil {
			ax = axes[k]
		}
		a, err := onnx.Axis(ax, r)
		if err != nil {
			return nil, err
		}
		if seen[a] {
			return nil, fmt.Errorf("axes %v repeat axis %d", axes, a)
		}
		seen[a] = true
		step := int64(1)
		if steps != nil {
			step = steps[k]
		}
		if step == 0 {
			return nil, fmt.Errorf("step 0 on axis %d", a)
		}
		dim := int64(shape[a])
		start, end := starts[k], ends[k]
		if start < 0 {
			start += dim
		}
		if end < 0 {
			end += dim
		}
		var count int64
		if step > 0 {
			start = min(max(start, 0), dim)
			end = min(max(end, 0), dim)
			if end > start {
				count = (end - start + step - 1) / step
			}
		} else {
			start = min(max(start, 0), dim-1)
			end = min(max(end, -1), dim-1)
			if start > end {
				count = (start - end - step - 1) / -step
			}
		}
		if count == 0 {
			start = 0
		}
		// A step beyond the axis only ever takes one element; clamping it
		// keeps stride arithmetic from overflowing.
		step = min(max(step, -dim-1), dim+1)
		spec[a] = axisSlice{int(start), int(step), int(count)}
	}
	return spec, nil
}

// buildLegacySlice runs Slice-1, whose starts, ends and axes are
// attributes, as the opset-10 form with constant inputs.
func buildLegacySlice(b *buildCtx, n *onnx.Node) (opFunc, error) {
	if err := checkAttrs(n, "starts", "ends", "axes"); err != nil {
		return nil, err
	}
	starts, ends := n.AttrInts("starts"), n.AttrInts("ends")
	if starts == nil || ends == nil {
		return nil, fmt.Errorf("attributes starts and ends are required")
	}
	consts := []*onnx.Tensor{
		onnx.NewTensor([]int{len(starts)}, append([]int64(nil), starts...)),
		onnx.NewTensor([]int{len(ends)}, append([]int64(nil), ends...)),
	}
	if axes := n.AttrInts("axes"); axes != nil {
		consts = append(consts, onnx.NewTensor([]int{len(axes)}, append([]int64(nil), axes...)))
	}
	m := *n
	m.Attrs = nil
	m.Inputs = []string{n.Input(0), "starts", "ends"}
	b10 := *b
	b10.opset = 10
	run, err := buildSlice(&b10, &m)
	if err != nil {
		return nil, err
	}
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		return run(c, append([]*onnx.Tensor{in[0]}, consts...))
	}, nil
}
