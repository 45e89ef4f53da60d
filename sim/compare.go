package sim

import (
	"fmt"

	"amq/onnx"
)

// cmpOp is a comparison with a bool result.
type cmpOp int

const (
	opEqual cmpOp = iota
	opLess
	opLessOrEqual
	opGreater
	opGreaterOrEqual
)

// logicOp is a binary operator on bool tensors.
type logicOp int

const (
	opAnd logicOp = iota
	opOr
	opXor
)

func init() {
	cmps := map[string]cmpOp{
		"Equal": opEqual, "Less": opLess, "LessOrEqual": opLessOrEqual,
		"Greater": opGreater, "GreaterOrEqual": opGreaterOrEqual,
	}
	for name, op := range cmps {
		register(name, func(b *buildCtx, n *onnx.Node) (opFunc, error) {
			if err := checkArity(n, 2, 2, 1); err != nil {
				return nil, err
			}
			if err := checkAttrs(n); err != nil {
				return nil, err
			}
			return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
				t, err := compare(c, op, in[0], in[1])
				return []*onnx.Tensor{t}, err
			}, nil
		})
	}
	for name, op := range map[string]logicOp{"And": opAnd, "Or": opOr, "Xor": opXor} {
		register(name, func(b *buildCtx, n *onnx.Node) (opFunc, error) {
			if err := checkArity(n, 2, 2, 1); err != nil {
				return nil, err
			}
			if err := checkAttrs(n); err != nil {
				return nil, err
			}
			return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
				t, err := logic(c, op, in[0], in[1])
				return []*onnx.Tensor{t}, err
			}, nil
		})
	}
	register("Not", func(b *buildCtx, n *onnx.Node) (opFunc, error) {
		if err := checkArity(n, 1, 1, 1); err != nil {
			return nil, err
		}
		if err := checkAttrs(n); err != nil {
			return nil, err
		}
		return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
			x, ok := in[0].Data.([]bool)
			if !ok {
				return nil, fmt.Errorf("element type %v is not supported (want BOOL)", in[0].DType)
			}
			o := make([]bool, len(x))
			for i, v := range x {
				o[i] = !v
			}
			return []*onnx.Tensor{newTensor(onnx.Bool, in[0].Shape, o)}, nil
		}, nil
	})
	register("Where", func(b *buildCtx, n *onnx.Node) (opFunc, error) {
		if err := checkArity(n, 3, 3, 1); err != nil {
			return nil, err
		}
		if err := checkAttrs(n); err != nil {
			return nil, err
		}
		return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
			t, err := where(c, in[0], in[1], in[2])
			return []*onnx.Tensor{t}, err
		}, nil
	})
}

// compare computes a op b elementwise with broadcasting.
func compare(c *runCtx, op cmpOp, a, b *onnx.Tensor) (*onnx.Tensor, error) {
	p, err := newBroadcast(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	var o []bool
	switch x := a.Data.(type) {
	case []float32:
		o, err = compareData(c, op, p, x, b)
	case []float64:
		o, err = compareData(c, op, p, x, b)
	case []int64:
		o, err = compareData(c, op, p, x, b)
	case []int32:
		o, err = compareData(c, op, p, x, b)
	case []int16:
		o, err = compareData(c, op, p, x, b)
	case []int8:
		o, err = compareData(c, op, p, x, b)
	case []uint8:
		o, err = compareData(c, op, p, x, b)
	case []uint16:
		o, err = compareData(c, op, p, x, b)
	case []uint32:
		o, err = compareData(c, op, p, x, b)
	case []uint64:
		o, err = compareData(c, op, p, x, b)
	case []bool:
		if op != opEqual {
			return nil, fmt.Errorf("element type %v is not supported", a.DType)
		}
		o, err = equalData(c, p, x, b)
	case []string:
		if op != opEqual {
			return nil, fmt.Errorf("element type %v is not supported", a.DType)
		}
		o, err = equalData(c, p, x, b)
	default:
		return nil, fmt.Errorf("element type %v is not supported", a.DType)
	}
	if err != nil {
		return nil, err
	}
	return newTensor(onnx.Bool, p.shape, o), nil
}

func compareData[T numElem](c *runCtx, op cmpOp, p *broadcast, a []T, bt *onnx.Tensor) ([]bool, error) {
	b, ok := bt.Data.([]T)
	if !ok {
		return nil, fmt.Errorf("input element types differ: %T and %v", a, bt.DType)
	}
	o := make([]bool, p.size)
	p.each(c.threads, func(out, n int, off []int) {
		oo := o[out : out+n]
		x, y := rowSlice(a, off[0], n, p.inc[0]), rowSlice(b, off[1], n, p.inc[1])
		// Index masks select element i or 0 without a branch, so one loop
		// per operator serves every broadcast layout.
		mx, my := rowMask(len(x), n), rowMask(len(y), n)
		switch op {
		case opEqual:
			for i := range oo {
				oo[i] = x[i&mx] == y[i&my]
			}
		case opLess:
			for i := range oo {
				oo[i] = x[i&mx] < y[i&my]
			}
		case opLessOrEqual:
			for i := range oo {
				oo[i] = x[i&mx] <= y[i&my]
			}
		case opGreater:
			for i := range oo {
				oo[i] = x[i&mx] > y[i&my]
			}
		case opGreaterOrEqual:
			for i := range oo {
				oo[i] = x[i&mx] >= y[i&my]
			}
		}
	})
	return o, nil
}

// rowMask is the index mask for a row slice of length l in a run of n: all
// ones when the slice advances with the run, zero when it repeats one
// element.
func rowMask(l, n int) int {
	if l == n {
		return -1
	}
	return 0
}

func equalData[T comparable](c *runCtx, p *broadcast, a []T, bt *onnx.Tensor) ([]bool, error) {
	b, ok := bt.Data.([]T)
	if !ok {
		return nil, fmt.Errorf("input element types differ: %T and %v", a, bt.DType)
	}
	o := make([]bool, p.size)
	p.each(c.threads, func(out, n int, off []int) {
		x, y := rowSlice(a, off[0], n, p.inc[0]), rowSlice(b, off[1], n, p.inc[1])
		mx, my := rowMask(len(x), n), rowMask(len(y), n)
		for i := range o[out : out+n] {
			o[out+i] = x[i&mx] == y[i&my]
		}
	})
	return o, nil
}

// logic computes And, Or or Xor of two bool tensors with broadcasting.
func logic(c *runCtx, op logicOp, at, bt *onnx.Tensor) (*onnx.Tensor, error) {
	a, ok1 := at.Data.([]bool)
	b, ok2 := bt.Data.([]bool)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("element types %v and %v are not supported (want BOOL)", at.DType, bt.DType)
	}
	p, err := newBroadcast(at.Shape, bt.Shape)
	if err != nil {
		return nil, err
	}
	o := make([]bool, p.size)
	p.each(c.threads, func(out, n int, off []int) {
		oo := o[out : out+n]
		x, y := rowSlice(a, off[0], n, p.inc[0]), rowSlice(b, off[1], n, p.inc[1])
		mx, my := rowMask(len(x), n), rowMask(len(y), n)
		switch op {
		case opAnd:
			for i := range oo {
				oo[i] = x[i&mx] && y[i&my]
			}
		case opOr:
			for i := range oo {
				oo[i] = x[i&mx] || y[i&my]
			}
		case opXor:
			for i := range oo {
				oo[i] = x[i&mx] != y[i&my]
			}
		}
	})
	return newTensor(onnx.Bool, p.shape, o), nil
}

// where selects x where cond holds, else y, with three-way broadcasting.
func where(c *runCtx, cond, x, y *onnx.Tensor) (*onnx.Tensor, error) {
	cd, ok := cond.Data.([]bool)
	if !ok {
		return nil, fmt.Errorf("condition has element type %v, want BOOL", cond.DType)
	}
	p, err := newBroadcast(cond.Shape, x.Shape, y.Shape)
	if err != nil {
		return nil, err
	}
	var data any
	switch xd := x.Data.(type) {
	case []float32:
		data, err = whereData(c, p, cd, xd, y)
	case []float64:
		data, err = whereData(c, p, cd, xd, y)
	case []int64:
		data, err = whereData(c, p, cd, xd, y)
	case []int32:
		data, err = whereData(c, p, cd, xd, y)
	case []int16:
		data, err = whereData(c, p, cd, xd, y)
	case []int8:
		data, err = whereData(c, p, cd, xd, y)
	case []uint8:
		data, err = whereData(c, p, cd, xd, y)
	case []uint16:
		data, err = whereData(c, p, cd, xd, y)
	case []uint32:
		data, err = whereData(c, p, cd, xd, y)
	case []uint64:
		data, err = whereData(c, p, cd, xd, y)
	case []bool:
		data, err = whereData(c, p, cd, xd, y)
	case []string:
		data, err = whereData(c, p, cd, xd, y)
	default:
		return nil, fmt.Errorf("element type %v is not supported", x.DType)
	}
	if err != nil {
		return nil, err
	}
	return newTensor(x.DType, p.shape, data), nil
}

func whereData[T any](c *runCtx, p *broadcast, cond []bool, x []T, yt *onnx.Tensor) ([]T, error) {
	y, ok := yt.Data.([]T)
	if !ok {
		return nil, fmt.Errorf("input element types differ: %T and %v", x, yt.DType)
	}
	o := make([]T, p.size)
	p.each(c.threads, func(out, n int, off []int) {
		cc := rowSlice(cond, off[0], n, p.inc[0])
		xx, yy := rowSlice(x, off[1], n, p.inc[1]), rowSlice(y, off[2], n, p.inc[2])
		mc, mx, my := rowMask(len(cc), n), rowMask(len(xx), n), rowMask(len(yy), n)
		for i := range o[out : out+n] {
			if cc[i&mc] {
				o[out+i] = xx[i&mx]
			} else {
				o[out+i] = yy[i&my]
			}
		}
	})
	return o, nil
}
