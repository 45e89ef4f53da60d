package sim

import (
	"fmt"
	"math"

	"amq/onnx"
)

// reduceKind is a reduction operator.
type reduceKind int

const (
	reduceSum reduceKind = iota
	reduceMean
	reduceMax
	reduceMin
	reduceProd
	reduceSumSquare
	reduceL1
	reduceL2
	reduceLogSum
	reduceLogSumExp
)

// reduceDef is a reduction operator and the opset from which its axes are
// an input instead of an attribute.
type reduceDef struct {
	kind        reduceKind
	axesInputAt int64
}

var reduceDefs = map[string]reduceDef{
	"ReduceSum":       {reduceSum, 13},
	"ReduceMean":      {reduceMean, 18},
	"ReduceMax":       {reduceMax, 18},
	"ReduceMin":       {reduceMin, 18},
	"ReduceProd":      {reduceProd, 18},
	"ReduceSumSquare": {reduceSumSquare, 18},
	"ReduceL1":        {reduceL1, 18},
	"ReduceL2":        {reduceL2, 18},
	"ReduceLogSum":    {reduceLogSum, 18},
	"ReduceLogSumExp": {reduceLogSumExp, 18},
}

func init() {
	for name, def := range reduceDefs {
		register(name, func(b *buildCtx, n *onnx.Node) (opFunc, error) {
			return buildReduce(b, n, def)
		})
	}
}

func buildReduce(b *buildCtx, n *onnx.Node, def reduceDef) (opFunc, error) {
	keep := n.AttrInt("keepdims", 1) != 0
	if b.opset < def.axesInputAt {
		if err := checkArity(n, 1, 1, 1); err != nil {
			return nil, err
		}
		if err := checkAttrs(n, "axes", "keepdims"); err != nil {
			return nil, err
		}
		axes := n.AttrInts("axes")
		return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
			t, err := reduce(c, def.kind, in[0], axes, keep)
			return []*onnx.Tensor{t}, err
		}, nil
	}
	if err := checkArity(n, 1, 2, 1); err != nil {
		return nil, err
	}
	if err := checkAttrs(n, "keepdims", "noop_with_empty_axes"); err != nil {
		return nil, err
	}
	noop := n.AttrInt("noop_with_empty_axes", 0) != 0
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		var axes []int64
		if len(in) > 1 && in[1] != nil {
			a, ok := in[1].Data.([]int64)
			if !ok {
				return nil, fmt.Errorf("axes has element type %v, want INT64", in[1].DType)
			}
			axes = a
		}
		if len(axes) == 0 && noop {
			return []*onnx.Tensor{alias(in[0])}, nil
		}
		t, err := reduce(c, def.kind, in[0], axes, keep)
		return []*onnx.Tensor{t}, err
	}, nil
}

// normAxis checks axis against rank r and makes it non-negative.
func normAxis(axis int64, r int) (int, error) {
	if axis < -int64(r) || axis >= int64(r) {
		return 0, fmt.Errorf("axis %d is out of range for rank %d", axis, r)
	}
	if axis < 0 {
		axis += int64(r)
	}
	return int(axis), nil
}

// reduce reduces x over axes (all axes when empty).
func reduce(c *runCtx, kind reduceKind, x *onnx.Tensor, axes []int64, keep bool) (*onnx.Tensor, error) {
	r := len(x.Shape)
	red := make([]bool, r)
	if len(axes) == 0 {
		for i := range red {
			red[i] = true
		}
	}
	for _, a := range axes {
		d, err := normAxis(a, r)
		if err != nil {
			return nil, err
		}
		if red[d] {
			return nil, fmt.Errorf("axis %d is repeated in %v", a, axes)
		}
		red[d] = true
	}
	var shape []int
	count := 1 // elements per reduced group
	for d, n := range x.Shape {
		switch {
		case !red[d]:
			shape = append(shape, n)
		case keep:
			shape = append(shape, 1)
			count *= n
		default:
			count *= n
		}
	}
	if shape == nil {
		shape = []int{}
	}
	// groups is the shape with size-1 dims dropped and runs of reduced
	// (or kept) dims merged, so a reduction is one or more passes of
	// [outer, r, inner].
	var groups []int
	var gred []bool
	for d, n := range x.Shape {
		if n == 1 {
			continue
		}
		if k := len(groups) - 1; k >= 0 && gred[k] == red[d] {
			groups[k] *= n
			continue
		}
		groups = append(groups, n)
		gred = append(gred, red[d])
	}
	var acc []float64
	switch d := x.Data.(type) {
	case []float32:
		acc = reducePasses(c, kind, d, groups, gred)
	case []float64:
		acc = reducePasses(c, kind, d, groups, gred)
	case []int64:
		acc = reducePasses(c, kind, d, groups, gred)
	case []int32:
		acc = reducePasses(c, kind, d, groups, gred)
	case []int8:
		acc = reducePasses(c, kind, d, groups, gred)
	case []uint8:
		acc = reducePasses(c, kind, d, groups, gred)
	default:
		return nil, fmt.Errorf("element type %v is not supported", x.DType)
	}
	// Finish on the accumulators.
	switch kind {
	case reduceMean:
		for i := range acc {
			acc[i] /= float64(count)
		}
	case reduceL2:
		for i := range acc {
			acc[i] = math.Sqrt(acc[i])
		}
	case reduceLogSum, reduceLogSumExp:
		for i := range acc {
			acc[i] = math.Log(acc[i])
		}
	}
	var data any
	switch x.Data.(type) {
	case []float32:
		data = onnx.ConvertSlice[float32](acc)
	case []float64:
		data = acc
	case []int64:
		data = onnx.ConvertSlice[int64](acc)
	case []int32:
		data = onnx.ConvertSlice[int32](acc)
	case []int8:
		data = onnx.ConvertSlice[int8](acc)
	case []uint8:
		data = onnx.ConvertSlice[uint8](acc)
	}
	return newTensor(x.DType, shape, data), nil
}

// reducePasses reduces src, laid out as groups (alternately reduced or
// kept, per gred), with float64 accumulation (exact for integer tensors
// whose partial results stay within 2^53, which covers shape arithmetic). One pass removes one reduced
// group; the first pass maps the elements (square, abs, exp) as the
// reduction requires, later ones only combine.
func reducePasses[S numElem](c *runCtx, kind reduceKind, src []S, groups []int, gred []bool) []float64 {
	comb := reduceSum
	switch kind {
	case reduceMax, reduceMin, reduceProd:
		comb = kind
	}
	var mapped []float64
	switch kind {
	case reduceSumSquare, reduceL2:
		mapped = mapFloat64(c, src, func(v float64) float64 { return v * v })
	case reduceL1:
		mapped = mapFloat64(c, src, math.Abs)
	case reduceLogSumExp:
		mapped = mapFloat64(c, src, math.Exp)
	}
	last := -1
	for g := range groups {
		if gred[g] {
			last = g
		}
	}
	if last < 0 { // nothing to reduce (all reduced dims have size 1)
		if mapped != nil {
			return mapped
		}
		return onnx.ConvertSlice[float64](src)
	}
	outer, inner := onnx.NumElems(groups[:last]), onnx.NumElems(groups[last+1:])
	var acc []float64
	if mapped != nil {
		acc = reducePass(c, comb, mapped, outer, groups[last], inner)
	} else {
		acc = reducePass(c, comb, src, outer, groups[last], inner)
	}
	groups, gred = append(groups[:last:last], groups[last+1:]...), append(gred[:last:last], gred[last+1:]...)
	for {
		last = -1
		for g := range groups {
			if gred[g] {
				last = g
			}
		}
		if last < 0 {
			return acc
		}
		outer, inner = onnx.NumElems(groups[:last]), onnx.NumElems(groups[last+1:])
		acc = reducePass(c, comb, acc, outer, groups[last], inner)
		groups, gred = append(groups[:last:last], groups[last+1:]...), append(gred[:last:last], gred[last+1:]...)
	}
}

// mapFloat64 returns f applied to every element, as float64. It is only
// used before reductions that need a transformed input, not in hot paths.
func mapFloat64[S numElem](c *runCtx, src []S, f func(float64) float64) []float64 {
	o := make([]float64, len(src))
	parallelFor(c.threads, len(src), elemGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			o[i] = f(float64(src[i]))
		}
	})
	return o
}

// reduceInit is the identity of a combining reduction (the value of an
// empty reduction).
func reduceInit(comb reduceKind) float64 {
	switch comb {
	case reduceMax:
		return math.Inf(-1)
	case reduceMin:
		return math.Inf(1)
	case reduceProd:
		return 1
	}
	return 0
}

// reducePass reduces src viewed as [outer, r, inner] over its middle axis
// into outer*inner float64 accumulators. Work is split over outer, or over
// inner blocks when outer is too small to feed every thread.
func reducePass[S numElem](c *runCtx, comb reduceKind, src []S, outer, r, inner int) []float64 {
	dst := make([]float64, outer*inner)
	init := reduceInit(comb)
	for i := range dst {
		dst[i] = init
	}
	if inner == 1 {
		reduceLastAxis(c, comb, dst, src, r)
		return dst
	}
	blocks := 1
	if outer < c.threads {
		blocks = min(c.threads, inner)
	}
	bl := (inner + blocks - 1) / blocks
	units := outer * blocks
	grain := max(1, elemGrain/max(1, r*bl))
	parallelFor(c.threads, units, grain, func(lo, hi int) {
		for u := lo; u < hi; u++ {
			o, blk := u/blocks, u%blocks
			j0, j1 := blk*bl, min((blk+1)*bl, inner)
			if j0 >= j1 {
				continue
			}
			d := dst[o*inner+j0 : o*inner+j1]
			for k := range r {
				row := src[(o*r+k)*inner+j0 : (o*r+k)*inner+j1]
				combineRow(comb, d, row)
			}
		}
	})
	return dst
}

// combineRow folds row into the accumulators d elementwise.
func combineRow[S numElem](comb reduceKind, d []float64, row []S) {
	row = row[:len(d)]
	switch comb {
	case reduceSum:
		for i, v := range row {
			d[i] += float64(v)
		}
	case reduceProd:
		for i, v := range row {
			d[i] *= float64(v)
		}
	case reduceMax:
		for i, v := range row {
			d[i] = maxNaN(d[i], float64(v))
		}
	case reduceMin:
		for i, v := range row {
			d[i] = minNaN(d[i], float64(v))
		}
	}
}

// reduceLastAxis folds each contiguous run of r elements of src into the
// matching element of dst (the [outer, r, 1] case). Runs are split across
// threads when there are fewer of them than threads, and the partial
// results combined.
func reduceLastAxis[S numElem](c *runCtx, comb reduceKind, dst []float64, src []S, r int) {
	outer := len(dst)
	blocks := 1
	if outer < c.threads && r >= 2*elemGrain {
		blocks = min(c.threads, r/elemGrain)
	}
	bl := (r + blocks - 1) / blocks
	part := make([]float64, outer*blocks)
	parallelFor(c.threads, outer*blocks, max(1, elemGrain/bl), func(lo, hi int) {
		for u := lo; u < hi; u++ {
			o, blk := u/blocks, u%blocks
			j0, j1 := min(blk*bl, r), min((blk+1)*bl, r)
			part[u] = foldRow(comb, src[o*r+j0:o*r+j1])
		}
	})
	for o := range dst {
		acc := part[o*blocks]
		for _, v := range part[o*blocks+1 : (o+1)*blocks] {
			acc = combine(comb, acc, v)
		}
		dst[o] = acc
	}
}

// foldRow reduces row to one value.
func foldRow[S numElem](comb reduceKind, row []S) float64 {
	acc := reduceInit(comb)
	switch comb {
	case reduceSum:
		for _, v := range row {
			acc += float64(v)
		}
	case reduceProd:
		for _, v := range row {
			acc *= float64(v)
		}
	case reduceMax:
		for _, v := range row {
			acc = maxNaN(acc, float64(v))
		}
	case reduceMin:
		for _, v := range row {
			acc = minNaN(acc, float64(v))
		}
	}
	return acc
}

// combine merges two partial results.
func combine(comb reduceKind, a, b float64) float64 {
	switch comb {
	case reduceProd:
		return a * b
	case reduceMax:
		return maxNaN(a, b)
	case reduceMin:
		return minNaN(a, b)
	}
	return a + b
}
