package sim

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"amq/onnx"
)

// Element type sets of the elementwise kernels. Kernels are generic over
// them so that each element type gets its own compiled loop, with no
// per-element dynamic call.
type (
	floatElem interface{ ~float32 | ~float64 }
	intElem   interface {
		~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
	}
	numElem interface{ floatElem | intElem }
)

// isFloatElem reports whether T is a floating-point type.
func isFloatElem[T numElem]() bool {
	var z T
	switch any(z).(type) {
	case float32, float64:
		return true
	}
	return false
}

// arithOp is a binary arithmetic operator.
type arithOp int

const (
	opAdd arithOp = iota
	opSub
	opMul
	opDiv
	opMin
	opMax
)

func init() {
	for op, code := range map[string]arithOp{"Add": opAdd, "Sub": opSub, "Mul": opMul, "Div": opDiv} {
		register(op, func(b *buildCtx, n *onnx.Node) (opFunc, error) {
			if err := checkArity(n, 2, 2, 1); err != nil {
				return nil, err
			}
			if b.opset < 7 {
				return buildLegacyArith(n, code)
			}
			if err := checkAttrs(n); err != nil {
				return nil, err
			}
			// The residual Add+Relu of ResNets, HardSwish's Add+Clip and
			// Mul+Div, scalar affine steps: see elementwise_fuse.go.
			b.fusableChain = func(acts []*onnx.Node, extra []string) opFunc {
				if len(extra) > 0 {
					return nil // reads only constants and its own operands
				}
				return fuseArith(b, code, n, acts)
			}
			return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
				t, err := arith(c, code, in[0], in[1])
				return []*onnx.Tensor{t}, err
			}, nil
		})
	}
	for op, code := range map[string]arithOp{"Sum": opAdd, "Mean": opAdd, "Min": opMin, "Max": opMax} {
		mean := op == "Mean"
		register(op, func(b *buildCtx, n *onnx.Node) (opFunc, error) {
			if err := checkArity(n, 1, math.MaxInt, 1); err != nil {
				return nil, err
			}
			if err := checkAttrs(n); err != nil {
				return nil, err
			}
			return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
				t, err := variadic(c, code, mean, in)
				return []*onnx.Tensor{t}, err
			}, nil
		})
	}
	register("Pow", func(b *buildCtx, n *onnx.Node) (opFunc, error) {
		if err := checkArity(n, 2, 2, 1); err != nil {
			return nil, err
		}
		if err := checkAttrs(n); err != nil {
			return nil, err
		}
		return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
			t, err := pow(c, in[0], in[1])
			return []*onnx.Tensor{t}, err
		}, nil
	})
}

// buildLegacyArith handles Add, Sub, Mul and Div before opset 7, where B
// broadcasts to A only with broadcast=1, aligned at axis (by default at
// A's trailing dimensions).
func buildLegacyArith(n *onnx.Node, op arithOp) (opFunc, error) {
	if err := checkAttrs(n, "broadcast", "axis"); err != nil {
		return nil, err
	}
	bcast := n.AttrInt("broadcast", 0) != 0
	axis, hasAxis := n.AttrInt("axis", 0), n.HasAttr("axis")
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		a, b := in[0], in[1]
		if !bcast {
			if !slices.Equal(a.Shape, b.Shape) {
				return nil, fmt.Errorf("shapes %v and %v differ and broadcast=0", a.Shape, b.Shape)
			}
		} else {
			start := len(a.Shape) - len(b.Shape)
			if hasAxis {
				ax, err := normAxis(axis, len(a.Shape))
				if err != nil {
					return nil, err
				}
				start = ax
			}
			if start < 0 || start+len(b.Shape) > len(a.Shape) {
				return nil, fmt.Errorf("B shape %v does not fit A shape %v at axis %d", b.Shape, a.Shape, start)
			}
			shape := make([]int, len(a.Shape))
			for i := range shape {
				shape[i] = 1
			}
			copy(shape[start:], b.Shape)
			b = &onnx.Tensor{Name: b.Name, DType: b.DType, Shape: shape, Data: b.Data}
		}
		t, err := arith(c, op, a, b)
		return []*onnx.Tensor{t}, err
	}, nil
}

// checkArity checks the number of inputs (including omitted optional ones,
// which are "") and requires at least minOut outputs.
func checkArity(n *onnx.Node, minIn, maxIn, minOut int) error {
	if len(n.Inputs) < minIn || len(n.Inputs) > maxIn {
		switch {
		case minIn == maxIn:
			return fmt.Errorf("has %d inputs, want %d", len(n.Inputs), minIn)
		case maxIn == math.MaxInt:
			return fmt.Errorf("has %d inputs, want at least %d", len(n.Inputs), minIn)
		}
		return fmt.Errorf("has %d inputs, want %d to %d", len(n.Inputs), minIn, maxIn)
	}
	for i := range minIn {
		if n.Inputs[i] == "" {
			return fmt.Errorf("required input %d is omitted", i)
		}
	}
	if len(n.Outputs) < minOut {
		return fmt.Errorf("has %d outputs, want at least %d", len(n.Outputs), minOut)
	}
	return nil
}

// newTensor wraps data in a tensor of type dt. dt matters for float16 and
// bfloat16 tensors, whose data is held as float32.
func newTensor(dt onnx.DataType, shape []int, data any) *onnx.Tensor {
	return &onnx.Tensor{DType: dt, Shape: shape, Data: data}
}

// alias returns a new tensor header sharing t's data, for operators whose
// output equals an input (the session names outputs, so it must not
// receive the input's own header).
func alias(t *onnx.Tensor) *onnx.Tensor {
	return &onnx.Tensor{DType: t.DType, Shape: t.Shape, Data: t.Data}
}

// errTypes is the error for inputs whose element types differ.
func errTypes(a, b *onnx.Tensor) error {
	return fmt.Errorf("input element types differ: %v and %v", a.DType, b.DType)
}

// arith computes a op b with broadcasting; a and b have the same type.
func arith(c *runCtx, op arithOp, a, b *onnx.Tensor) (*onnx.Tensor, error) {
	p, err := newBroadcast(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	var data any
	switch x := a.Data.(type) {
	case []float32:
		data, err = arithData(c, op, p, x, b)
	case []float64:
		data, err = arithData(c, op, p, x, b)
	case []int64:
		data, err = arithData(c, op, p, x, b)
	case []int32:
		data, err = arithData(c, op, p, x, b)
	case []int16:
		data, err = arithData(c, op, p, x, b)
	case []int8:
		data, err = arithData(c, op, p, x, b)
	case []uint8:
		data, err = arithData(c, op, p, x, b)
	case []uint16:
		data, err = arithData(c, op, p, x, b)
	case []uint32:
		data, err = arithData(c, op, p, x, b)
	case []uint64:
		data, err = arithData(c, op, p, x, b)
	default:
		return nil, fmt.Errorf("element type %v is not supported", a.DType)
	}
	if err != nil {
		return nil, err
	}
	return newTensor(a.DType, p.shape, data), nil
}

func arithData[T numElem](c *runCtx, op arithOp, p *broadcast, a []T, bt *onnx.Tensor) ([]T, error) {
	b, ok := bt.Data.([]T)
	if !ok {
		return nil, fmt.Errorf("input element types differ: %T and %v", a, bt.DType)
	}
	if op == opDiv && !isFloatElem[T]() {
		// Go panics on integer division by zero; ONNX leaves it undefined.
		for _, v := range b {
			if v == 0 {
				return nil, errors.New("integer division by zero")
			}
		}
	}
	o := outSliceRaw[T](c, p.size)
	p.each(c.threads, func(out, n int, off []int) {
		arithRow(op, o[out:out+n], rowSlice(a, off[0], n, p.inc[0]), rowSlice(b, off[1], n, p.inc[1]))
	})
	return o, nil
}

// arithRow computes one broadcast row: a and b hold len(o) elements or one,
// which is repeated. Each operator and layout has its own loop so that the
// hot cases (same shape, scalar or bias operand) are plain array loops.
func arithRow[T numElem](op arithOp, o, a, b []T) {
	if of, ok := asF32(o); ok {
		af, _ := asF32(a)
		bf, _ := asF32(b)
		if k := arithVec(op, of, af, bf); k > 0 {
			// The vector kernel did the head; the loops below do the
			// rest of the row.
			o = o[k:]
			if len(a) > 1 {
				a = a[k:]
			}
			if len(b) > 1 {
				b = b[k:]
			}
			if len(o) == 0 {
				return
			}
		}
	}
	n := len(o)
	va, vb := len(a) == n, len(b) == n
	switch op {
	case opAdd:
		switch {
		case va && vb:
			a, b = a[:n], b[:n]
			for i := range o {
				o[i] = a[i] + b[i]
			}
		case va:
			y := b[0]
			for i, x := range a[:n] {
				o[i] = x + y
			}
		case vb:
			x := a[0]
			for i, y := range b[:n] {
				o[i] = x + y
			}
		default:
			fillRow(o, a[0]+b[0])
		}
	case opSub:
		switch {
		case va && vb:
			a, b = a[:n], b[:n]
			for i := range o {
				o[i] = a[i] - b[i]
			}
		case va:
			y := b[0]
			for i, x := range a[:n] {
				o[i] = x - y
			}
		case vb:
			x := a[0]
			for i, y := range b[:n] {
				o[i] = x - y
			}
		default:
			fillRow(o, a[0]-b[0])
		}
	case opMul:
		switch {
		case va && vb:
			a, b = a[:n], b[:n]
			for i := range o {
				o[i] = a[i] * b[i]
			}
		case va:
			y := b[0]
			for i, x := range a[:n] {
				o[i] = x * y
			}
		case vb:
			x := a[0]
			for i, y := range b[:n] {
				o[i] = x * y
			}
		default:
			fillRow(o, a[0]*b[0])
		}
	case opDiv:
		// Division by a repeated float is not turned into a multiplication
		// by its reciprocal: that would not round like ONNX Runtime.
		switch {
		case va && vb:
			a, b = a[:n], b[:n]
			for i := range o {
				o[i] = a[i] / b[i]
			}
		case va:
			y := b[0]
			for i, x := range a[:n] {
				o[i] = x / y
			}
		case vb:
			x := a[0]
			for i, y := range b[:n] {
				o[i] = x / y
			}
		default:
			fillRow(o, a[0]/b[0])
		}
	case opMin:
		switch {
		case va && vb:
			a, b = a[:n], b[:n]
			for i := range o {
				o[i] = minNaN(a[i], b[i])
			}
		case va:
			y := b[0]
			for i, x := range a[:n] {
				o[i] = minNaN(x, y)
			}
		default:
			x := a[0]
			for i := range o {
				o[i] = minNaN(x, b[i%len(b)])
			}
		}
	case opMax:
		switch {
		case va && vb:
			a, b = a[:n], b[:n]
			for i := range o {
				o[i] = maxNaN(a[i], b[i])
			}
		case va:
			y := b[0]
			for i, x := range a[:n] {
				o[i] = maxNaN(x, y)
			}
		default:
			x := a[0]
			for i := range o {
				o[i] = maxNaN(x, b[i%len(b)])
			}
		}
	}
}

func fillRow[T any](o []T, v T) {
	for i := range o {
		o[i] = v
	}
}

// minNaN is the smaller of x and y, NaN if either is NaN (numpy.minimum).
func minNaN[T numElem](x, y T) T {
	if x < y || x != x {
		return x
	}
	return y
}

// maxNaN is the larger of x and y, NaN if either is NaN (numpy.maximum).
func maxNaN[T numElem](x, y T) T {
	if x > y || x != x {
		return x
	}
	return y
}

// variadic folds Sum, Mean, Min or Max over its inputs with broadcasting.
func variadic(c *runCtx, op arithOp, mean bool, in []*onnx.Tensor) (*onnx.Tensor, error) {
	for i, t := range in {
		if t == nil {
			return nil, fmt.Errorf("input %d is omitted", i)
		}
	}
	acc := in[0]
	for _, t := range in[1:] {
		var err error
		if acc, err = arith(c, op, acc, t); err != nil {
			return nil, err
		}
	}
	if !mean {
		if len(in) == 1 {
			return alias(acc), nil
		}
		return acc, nil
	}
	k := float64(len(in))
	switch x := acc.Data.(type) {
	case []float32:
		o := make([]float32, len(x))
		for i, v := range x {
			o[i] = float32(float64(v) / k)
		}
		return newTensor(acc.DType, acc.Shape, o), nil
	case []float64:
		o := make([]float64, len(x))
		for i, v := range x {
			o[i] = v / k
		}
		return newTensor(acc.DType, acc.Shape, o), nil
	}
	return nil, fmt.Errorf("element type %v is not supported", acc.DType)
}

// pow computes a ** b. The exponent may have another type than the base
// (opset 12 and later); the result has the base's type.
func pow(c *runCtx, a, b *onnx.Tensor) (*onnx.Tensor, error) {
	p, err := newBroadcast(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	e, err := float64s(b)
	if err != nil {
		return nil, fmt.Errorf("exponent: %w", err)
	}
	var data any
	switch x := a.Data.(type) {
	case []float32:
		data = powData(c, p, x, e)
	case []float64:
		data = powData(c, p, x, e)
	case []int64:
		data = powData(c, p, x, e)
	case []int32:
		data = powData(c, p, x, e)
	default:
		return nil, fmt.Errorf("base element type %v is not supported", a.DType)
	}
	return newTensor(a.DType, p.shape, data), nil
}

func powData[T numElem](c *runCtx, p *broadcast, a []T, e []float64) []T {
	o := outSliceRaw[T](c, p.size)
	p.each(c.threads, func(out, n int, off []int) {
		oo := o[out : out+n]
		x := rowSlice(a, off[0], n, p.inc[0])
		y := rowSlice(e, off[1], n, p.inc[1])
		if len(y) == 1 && y[0] == 2 && len(x) == n {
			// Squaring (decomposed LayerNorm, variance): exact products
			// round once either way, so this equals math.Pow.
			for i, v := range x {
				oo[i] = v * v
			}
			return
		}
		for i := range oo {
			oo[i] = T(math.Pow(float64(x[i%len(x)]), y[i%len(y)]))
		}
	})
	return o
}

// float64s converts a numeric tensor's elements to float64 (booleans are
// not numbers here); a float64 tensor's own slice is returned.
func float64s(t *onnx.Tensor) ([]float64, error) {
	if _, isBool := t.Data.([]bool); !isBool {
		if f, err := t.Float64s(); err == nil {
			return f, nil
		}
	}
	return nil, fmt.Errorf("tensor %q: element type %v is not numeric", t.Name, t.DType)
}
