package sim

import (
	"fmt"
	"math"

	"amq/onnx"
)

// Data-movement operators. They are written once for every element type:
// each op computes where output elements come from (a strided view, or a
// list of blocks) and the copy itself is a generic function instantiated per
// Go element type by one type switch (copyStrided in stridedcopy.go,
// gatherBlocks in gather.go, fillValue).
//
// Ops that only change the shape (Reshape, Flatten, Squeeze, Unsqueeze,
// Identity, Dropout in inference) return a new Tensor whose Data aliases the
// input's Data. That is safe because sim never writes into a tensor after
// the op that produced it has returned: kernels allocate their outputs.

func init() {
	register("Flatten", buildFlatten)
	register("Reshape", buildReshape)
	register("Transpose", buildTranspose)
	register("Concat", buildConcat)
	register("Split", buildSplit)
	register("Unsqueeze", buildUnsqueeze)
	register("Squeeze", buildSqueeze)
	register("Shape", buildShape)
	register("Constant", buildConstant)
	register("ConstantOfShape", buildConstantOfShape)
	register("Expand", buildExpand)
	register("Tile", buildTile)
	register("Identity", buildIdentity)
	register("Dropout", buildDropout)
	register("Range", buildRange)
}

// aliasAs returns a tensor with t's type and data under another shape.
func aliasAs(t *onnx.Tensor, shape []int) *onnx.Tensor {
	return &onnx.Tensor{DType: t.DType, Shape: shape, Data: t.Data}
}

// shapeInts reads an int64 or int32 tensor such as a shape or axes input.
func shapeInts(t *onnx.Tensor, what string) ([]int64, error) { return t.AsInt64s(what) }

// constInts returns the value of input i of n when it is a constant of the
// graph, so that builders can validate it once; ok is false otherwise.
func constInts(b *buildCtx, n *onnx.Node, i int) ([]int64, bool) {
	name := n.Input(i)
	if name == "" || b.graph == nil {
		return nil, false
	}
	t, ok := b.graph.Constant(name)
	if !ok {
		return nil, false
	}
	v, err := shapeInts(t, "input")
	return v, err == nil
}

// checkAllocShape rejects negative dimensions and element counts that cannot be
// allocated, so that a bad shape input gives an error and not a panic.
func checkAllocShape(shape []int) error {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("negative dimension in shape %v", shape)
		}
		if d != 0 && n > math.MaxInt32*8/d {
			return fmt.Errorf("shape %v has too many elements", shape)
		}
		n *= d
	}
	return nil
}

// allocTensor allocates a zeroed tensor of type dt for an output of the
// run c (float32 from its arena, see outSlice).
func allocTensor(c *runCtx, dt onnx.DataType, shape []int) (*onnx.Tensor, error) {
	if err := checkAllocShape(shape); err != nil {
		return nil, err
	}
	if dt == onnx.Float && c != nil && c.mem != nil {
		return onnx.NewTensor(shape, outSlice[float32](c, onnx.NumElems(shape))), nil
	}
	return onnx.Zeros(dt, shape)
}

// allocFullTensor is allocTensor for an output whose every element the
// caller writes: float32 arena memory is not cleared first.
func allocFullTensor(c *runCtx, dt onnx.DataType, shape []int) (*onnx.Tensor, error) {
	if err := checkAllocShape(shape); err != nil {
		return nil, err
	}
	if dt == onnx.Float && c != nil && c.mem != nil {
		return onnx.NewTensor(shape, outSliceRaw[float32](c, onnx.NumElems(shape))), nil
	}
	return onnx.Zeros(dt, shape)
}

// fillValue sets every element of t to the first element of v, which has
// t's element type.
func fillValue(t, v *onnx.Tensor) error {
	switch d := t.Data.(type) {
	case []float32:
		return fillAs(d, v)
	case []float64:
		return fillAs(d, v)
	case []int64:
		return fillAs(d, v)
	case []int32:
		return fillAs(d, v)
	case []int16:
		return fillAs(d, v)
	case []int8:
		return fillAs(d, v)
	case []uint8:
		return fillAs(d, v)
	case []uint16:
		return fillAs(d, v)
	case []uint32:
		return fillAs(d, v)
	case []uint64:
		return fillAs(d, v)
	case []bool:
		return fillAs(d, v)
	case []string:
		return fillAs(d, v)
	}
	return fmt.Errorf("unsupported element type %v", t.DType)
}

func fillAs[T any](d []T, v *onnx.Tensor) error {
	vs, ok := v.Data.([]T)
	if !ok || len(vs) == 0 {
		return fmt.Errorf("fill value %v%v does not match element type %T", v.DType, v.Shape, d)
	}
	x := vs[0]
	for i := range d {
		d[i] = x
	}
	return nil
}

// Flatten: [d0..dk] -> [d0*..*d(axis-1), d(axis)*..*dk]; aliases the data.
func buildFlatten(b *buildCtx, n *onnx.Node) (opFunc, error) {
	if err := checkAttrs(n, "axis"); err != nil {
		return nil, err
	}
	axis := n.AttrInt("axis", 1)
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		x := in[0]
		r := len(x.Shape)
		a := axis
		if a < 0 {
			a += int64(r)
		}
		if a < 0 || a > int64(r) {
			return nil, fmt.Errorf("axis %d is out of range for rank %d", axis, r)
		}
		return []*onnx.Tensor{aliasAs(x, []int{onnx.NumElems(x.Shape[:a]), onnx.NumElems(x.Shape[a:])})}, nil
	}, nil
}

// Reshape aliases the data under the new shape.
func buildReshape(b *buildCtx, n *onnx.Node) (opFunc, error) {
	if err := checkAttrs(n, "allowzero"); err != nil {
		return nil, err
	}
	allowZero := n.AttrInt("allowzero", 0) != 0
	if len(n.Inputs) < 2 || n.Inputs[1] == "" {
		return nil, fmt.Errorf("Reshape needs a shape input")
	}
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		spec, err := shapeInts(in[1], "shape")
		if err != nil {
			return nil, err
		}
		shape, err := onnx.ReshapeShape(in[0].Shape, spec, allowZero)
		if err != nil {
			return nil, err
		}
		return []*onnx.Tensor{aliasAs(in[0], shape)}, nil
	}, nil
}

func buildTranspose(b *buildCtx, n *onnx.Node) (opFunc, error) {
	if err := checkAttrs(n, "perm"); err != nil {
		return nil, err
	}
	perm := n.AttrInts("perm")
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		x := in[0]
		r := len(x.Shape)
		p := make([]int, r)
		if perm == nil {
			for i := range p {
				p[i] = r - 1 - i
			}
		} else {
			if len(perm) != r {
				return nil, fmt.Errorf("perm %v does not match rank %d", perm, r)
			}
			seen := make([]bool, r)
			for i, v := range perm {
				if v < 0 || v >= int64(r) || seen[v] {
					return nil, fmt.Errorf("perm %v is not a permutation of 0..%d", perm, r-1)
				}
				seen[v] = true
				p[i] = int(v)
			}
		}
		shape := make([]int, r)
		sStr := make([]int, r)
		xs := denseStrides(x.Shape)
		for i, a := range p {
			shape[i] = x.Shape[a]
			sStr[i] = xs[a]
		}
		out, err := allocFullTensor(c, x.DType, shape)
		if err != nil {
			return nil, err
		}
		if err := copyStrided(c.threads, out, x, 0, denseStrides(shape), 0, sStr, shape); err != nil {
			return nil, err
		}
		return []*onnx.Tensor{out}, nil
	}, nil
}

func buildConcat(b *buildCtx, n *onnx.Node) (opFunc, error) {
	if err := checkAttrs(n, "axis"); err != nil {
		return nil, err
	}
	if !n.HasAttr("axis") {
		return nil, fmt.Errorf("attribute axis is required")
	}
	axis := n.AttrInt("axis", 0)
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		if len(in) == 0 || in[0] == nil {
			return nil, fmt.Errorf("no inputs")
		}
		first := in[0]
		r := len(first.Shape)
		a, err := onnx.Axis(axis, r)
		if err != nil {
			return nil, err
		}
		shape := append([]int(nil), first.Shape...)
		shape[a] = 0
		for i, t := range in {
			if t == nil {
				return nil, fmt.Errorf("input %d is missing", i)
			}
			if t.DType != first.DType {
				return nil, fmt.Errorf("input %d is %v, input 0 is %v", i, t.DType, first.DType)
			}
			if len(t.Shape) != r {
				return nil, fmt.Errorf("input %d has shape %v, input 0 has %v", i, t.Shape, first.Shape)
			}
			for k := range r {
				if k != a && t.Shape[k] != first.Shape[k] {
					return nil, fmt.Errorf("input %d has shape %v, incompatible with %v on axis %d", i, t.Shape, first.Shape, a)
				}
			}
			shape[a] += t.Shape[a]
		}
		out, err := allocTensor(c, first.DType, shape)
		if err != nil {
			return nil, err
		}
		ds := denseStrides(shape)
		off := 0
		for _, t := range in {
			if err := copyStrided(c.threads, out, t, off*ds[a], ds, 0, denseStrides(t.Shape), t.Shape); err != nil {
				return nil, err
			}
			off += t.Shape[a]
		}
		return []*onnx.Tensor{out}, nil
	}, nil
}

// sliceAxis copies the part [start, start+size) of x along axis.
func sliceAxis(threads int, x *onnx.Tensor, axis, start, size int) (*onnx.Tensor, error) {
	shape := append([]int(nil), x.Shape...)
	shape[axis] = size
	out, err := allocTensor(nil, x.DType, shape)
	if err != nil {
		return nil, err
	}
	xs := denseStrides(x.Shape)
	if err := copyStrided(threads, out, x, 0, denseStrides(shape), start*xs[axis], xs, shape); err != nil {
		return nil, err
	}
	return out, nil
}

func buildSplit(b *buildCtx, n *onnx.Node) (opFunc, error) {
	allowed := []string{"axis"}
	if b.opset < 13 {
		allowed = append(allowed, "split")
	}
	if b.opset >= 18 {
		allowed = append(allowed, "num_outputs")
	}
	if err := checkAttrs(n, allowed...); err != nil {
		return nil, err
	}
	axis := n.AttrInt("axis", 0)
	attrSplit := n.AttrInts("split")
	numOut := len(n.Outputs)
	numAttr := n.HasAttr("num_outputs")
	if numAttr {
		if k := n.AttrInt("num_outputs", 0); k != int64(numOut) {
			return nil, fmt.Errorf("num_outputs %d differs from the node's %d outputs", k, numOut)
		}
		if n.Input(1) != "" {
			return nil, fmt.Errorf("split input and num_outputs attribute are both given")
		}
	}
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		x := in[0]
		a, err := onnx.Axis(axis, len(x.Shape))
		if err != nil {
			return nil, err
		}
		dim := x.Shape[a]
		split := attrSplit
		if len(in) > 1 && in[1] != nil {
			if split, err = shapeInts(in[1], "split"); err != nil {
				return nil, err
			}
		}
		sizes := make([]int, numOut)
		switch {
		case split != nil:
			if len(split) != numOut {
				return nil, fmt.Errorf("split %v has %d entries for %d outputs", split, len(split), numOut)
			}
			sum := 0
			for i, s := range split {
				if s < 0 {
					return nil, fmt.Errorf("split %v has a negative size", split)
				}
				sizes[i] = int(s)
				sum += int(s)
			}
			if sum != dim {
				return nil, fmt.Errorf("split %v sums to %d, axis %d has %d", split, sum, a, dim)
			}
		case numAttr:
			// Opset 18: chunks of ceil(dim/n), the last one smaller.
			chunk := (dim + numOut - 1) / numOut
			left := dim
			for i := range sizes {
				sizes[i] = min(chunk, left)
				left -= sizes[i]
			}
		default:
			if numOut == 0 || dim%numOut != 0 {
				return nil, fmt.Errorf("axis %d of size %d does not split into %d equal parts", a, dim, numOut)
			}
			for i := range sizes {
				sizes[i] = dim / numOut
			}
		}
		outs := make([]*onnx.Tensor, numOut)
		off := 0
		for i, s := range sizes {
			if outs[i], err = sliceAxis(c.threads, x, a, off, s); err != nil {
				return nil, err
			}
			off += s
		}
		return outs, nil
	}, nil
}

// axesOf reads the axes of Squeeze/Unsqueeze: an attribute before opset 13,
// the optional second input from 13 on.
func axesOf(b *buildCtx, n *onnx.Node) (attr []int64, fromInput bool, err error) {
	if b.opset >= 13 {
		return nil, true, checkAttrs(n)
	}
	if err := checkAttrs(n, "axes"); err != nil {
		return nil, false, err
	}
	return n.AttrInts("axes"), false, nil
}

func buildUnsqueeze(b *buildCtx, n *onnx.Node) (opFunc, error) {
	attr, fromInput, err := axesOf(b, n)
	if err != nil {
		return nil, err
	}
	if !fromInput && attr == nil {
		return nil, fmt.Errorf("attribute axes is required")
	}
	if fromInput && n.Input(1) == "" {
		return nil, fmt.Errorf("input axes is required")
	}
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		axes := attr
		if fromInput {
			if axes, err = shapeInts(in[1], "axes"); err != nil {
				return nil, err
			}
		}
		shape, err := onnx.UnsqueezeShape(in[0].Shape, axes)
		if err != nil {
			return nil, err
		}
		return []*onnx.Tensor{aliasAs(in[0], shape)}, nil
	}, nil
}

func buildSqueeze(b *buildCtx, n *onnx.Node) (opFunc, error) {
	attr, fromInput, err := axesOf(b, n)
	if err != nil {
		return nil, err
	}
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		axes := attr
		if fromInput && len(in) > 1 && in[1] != nil {
			if axes, err = shapeInts(in[1], "axes"); err != nil {
				return nil, err
			}
		}
		shape, err := onnx.SqueezeShape(in[0].Shape, axes)
		if err != nil {
			return nil, err
		}
		return []*onnx.Tensor{aliasAs(in[0], shape)}, nil
	}, nil
}

func buildShape(b *buildCtx, n *onnx.Node) (opFunc, error) {
	if err := checkAttrs(n, "start", "end"); err != nil {
		return nil, err
	}
	start, hasEnd := n.AttrInt("start", 0), n.HasAttr("end")
	end := n.AttrInt("end", 0)
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		r := int64(len(in[0].Shape))
		clampDim := func(v int64) int64 {
			if v < 0 {
				v += r
			}
			return min(max(v, 0), r)
		}
		s, e := clampDim(start), r
		if hasEnd {
			e = clampDim(end)
		}
		vals := []int64{}
		for i := s; i < e; i++ {
			vals = append(vals, int64(in[0].Shape[i]))
		}
		return []*onnx.Tensor{onnx.NewTensor([]int{len(vals)}, vals)}, nil
	}, nil
}

func buildConstant(b *buildCtx, n *onnx.Node) (opFunc, error) {
	t, err := onnx.ConstantValue(n)
	if err != nil {
		return nil, err
	}
	if t.Len() != dataLen(t) {
		return nil, fmt.Errorf("value %v has %d elements, its shape needs %d", t.Shape, dataLen(t), t.Len())
	}
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		// A fresh header per run: the session names the output tensor.
		return []*onnx.Tensor{aliasAs(t, t.Shape)}, nil
	}, nil
}

func buildConstantOfShape(b *buildCtx, n *onnx.Node) (opFunc, error) {
	if err := checkAttrs(n, "value"); err != nil {
		return nil, err
	}
	val := n.AttrTensor("value")
	if val == nil {
		val = onnx.NewTensor([]int{1}, []float32{0})
	}
	if val.Len() != 1 || dataLen(val) != 1 {
		return nil, fmt.Errorf("value must hold one element, has shape %v", val.Shape)
	}
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		spec, err := shapeInts(in[0], "shape")
		if err != nil {
			return nil, err
		}
		shape := make([]int, len(spec))
		for i, v := range spec {
			if v < 0 || v > math.MaxInt32 {
				return nil, fmt.Errorf("shape %v has invalid dimension %d", spec, v)
			}
			shape[i] = int(v)
		}
		out, err := allocTensor(c, val.DType, shape)
		if err != nil {
			return nil, err
		}
		if err := fillValue(out, val); err != nil {
			return nil, err
		}
		return []*onnx.Tensor{out}, nil
	}, nil
}

func buildExpand(b *buildCtx, n *onnx.Node) (opFunc, error) {
	if err := checkAttrs(n); err != nil {
		return nil, err
	}
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		x := in[0]
		spec, err := shapeInts(in[1], "shape")
		if err != nil {
			return nil, err
		}
		// Bidirectional broadcast of x's shape and spec.
		r := max(len(spec), len(x.Shape))
		shape := make([]int, r)
		for i := range r {
			a, s := 1, int64(1)
			if k := i - (r - len(x.Shape)); k >= 0 {
				a = x.Shape[k]
			}
			if k := i - (r - len(spec)); k >= 0 {
				s = spec[k]
			}
			switch {
			case s < 0 || s > math.MaxInt32:
				return nil, fmt.Errorf("shape %v has invalid dimension %d", spec, s)
			case int64(a) == s || s == 1:
				shape[i] = a
			case a == 1:
				shape[i] = int(s)
			default:
				return nil, fmt.Errorf("cannot expand %v to %v", x.Shape, spec)
			}
		}
		st, err := expandStrides(x.Shape, shape)
		if err != nil {
			return nil, err
		}
		out, err := allocTensor(c, x.DType, shape)
		if err != nil {
			return nil, err
		}
		if err := copyStrided(c.threads, out, x, 0, denseStrides(shape), 0, st, shape); err != nil {
			return nil, err
		}
		return []*onnx.Tensor{out}, nil
	}, nil
}

func buildTile(b *buildCtx, n *onnx.Node) (opFunc, error) {
	if err := checkAttrs(n); err != nil {
		return nil, err
	}
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		x := in[0]
		reps, err := shapeInts(in[1], "repeats")
		if err != nil {
			return nil, err
		}
		r := len(x.Shape)
		if len(reps) != r {
			return nil, fmt.Errorf("repeats %v does not match rank %d", reps, r)
		}
		// Output dimension i, of size reps[i]*d[i], is viewed as the pair
		// (rep, d[i]); the source stride of rep is 0.
		xs := denseStrides(x.Shape)
		shape := make([]int, r)
		pairs := make([]int, 0, 2*r)
		sStr := make([]int, 0, 2*r)
		for i, rep := range reps {
			if rep < 0 || rep > math.MaxInt32 {
				return nil, fmt.Errorf("repeats %v has invalid entry %d", reps, rep)
			}
			shape[i] = int(rep) * x.Shape[i]
			pairs = append(pairs, int(rep), x.Shape[i])
			sStr = append(sStr, 0, xs[i])
		}
		out, err := allocTensor(c, x.DType, shape)
		if err != nil {
			return nil, err
		}
		if err := copyStrided(c.threads, out, x, 0, denseStrides(pairs), 0, sStr, pairs); err != nil {
			return nil, err
		}
		return []*onnx.Tensor{out}, nil
	}, nil
}

// Identity aliases its input's data.
func buildIdentity(b *buildCtx, n *onnx.Node) (opFunc, error) {
	if err := checkAttrs(n); err != nil {
		return nil, err
	}
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		if in[0] == nil {
			return nil, fmt.Errorf("input is missing")
		}
		return []*onnx.Tensor{aliasAs(in[0], in[0].Shape)}, nil
	}, nil
}

// Dropout in inference: Y aliases X and the optional mask is all true.
// Training mode with a nonzero ratio is random and rejected.
func buildDropout(b *buildCtx, n *onnx.Node) (opFunc, error) {
	allowed := []string{"seed"}
	if b.opset < 12 {
		allowed = append(allowed, "ratio")
	}
	if err := checkAttrs(n, allowed...); err != nil {
		return nil, err
	}
	wantMask := len(n.Outputs) > 1 && n.Outputs[1] != ""
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		x := in[0]
		if len(in) > 2 && in[2] != nil {
			tm, ok := in[2].Data.([]bool)
			if !ok || len(tm) != 1 {
				return nil, fmt.Errorf("training_mode must be a bool scalar")
			}
			ratio := 0.5
			if in[1] != nil {
				switch r := in[1].Data.(type) {
				case []float32:
					if len(r) == 1 {
						ratio = float64(r[0])
					}
				case []float64:
					if len(r) == 1 {
						ratio = r[0]
					}
				}
			}
			if tm[0] && ratio != 0 {
				return nil, fmt.Errorf("training mode (random dropout, ratio %g) is not supported", ratio)
			}
		}
		if !wantMask {
			return []*onnx.Tensor{aliasAs(x, x.Shape)}, nil
		}
		mask := make([]bool, x.Len())
		for i := range mask {
			mask[i] = true
		}
		return []*onnx.Tensor{aliasAs(x, x.Shape), onnx.NewTensor(x.Shape, mask)}, nil
	}, nil
}

func buildRange(b *buildCtx, n *onnx.Node) (opFunc, error) {
	if err := checkAttrs(n); err != nil {
		return nil, err
	}
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		for i, t := range in[:3] {
			if t == nil || t.Len() != 1 || dataLen(t) != 1 {
				return nil, fmt.Errorf("input %d must be a scalar", i)
			}
			if t.DType != in[0].DType {
				return nil, fmt.Errorf("input %d is %v, input 0 is %v", i, t.DType, in[0].DType)
			}
		}
		switch s := in[0].Data.(type) {
		case []float32:
			return rangeOf(s[0], in[1].Data.([]float32)[0], in[2].Data.([]float32)[0])
		case []float64:
			return rangeOf(s[0], in[1].Data.([]float64)[0], in[2].Data.([]float64)[0])
		case []int64:
			return rangeOf(s[0], in[1].Data.([]int64)[0], in[2].Data.([]int64)[0])
		case []int32:
			return rangeOf(s[0], in[1].Data.([]int32)[0], in[2].Data.([]int32)[0])
		case []int16:
			return rangeOf(s[0], in[1].Data.([]int16)[0], in[2].Data.([]int16)[0])
		}
		return nil, fmt.Errorf("unsupported type %v", in[0].DType)
	}, nil
}

// rangeOf returns start, start+delta, ... below limit (above it for a
// negative delta): max(ceil((limit-start)/delta), 0) elements.
func rangeOf[T float32 | float64 | int64 | int32 | int16](start, limit, delta T) ([]*onnx.Tensor, error) {
	if delta == 0 {
		return nil, fmt.Errorf("delta is 0")
	}
	cnt := math.Ceil((float64(limit) - float64(start)) / float64(delta))
	if cnt < 0 || math.IsNaN(cnt) {
		cnt = 0
	}
	if cnt > math.MaxInt32 {
		return nil, fmt.Errorf("range of %v elements is too large", cnt)
	}
	out := make([]T, int(cnt))
	for i := range out {
		out[i] = start + T(T(i)*delta)
	}
	return []*onnx.Tensor{onnx.NewTensor([]int{len(out)}, out)}, nil
}
