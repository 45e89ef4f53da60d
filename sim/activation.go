package sim

import (
	"fmt"
	"math"
	"slices"

	"amq/onnx"
)

// unaryOp is an elementwise function of one float tensor.
type unaryOp int

const (
	opSqrt unaryOp = iota
	opExp
	opLog
	opReciprocal
	opLeakyRelu
	opElu
	opSelu
	opCelu
	opSigmoid
	opTanh
	opSoftplus
	opSoftsign
	opHardSigmoid
	opHardSwish
	opThresholdedRelu
	opErf
	opGelu
	opGeluTanh
	opRound
	opFloor
	opCeil
)

// unaryParams are the attributes of parametrized activations, widened to
// float64 (products of two float32 values are exact in float64, so the
// single rounding at the end matches float32 arithmetic).
type unaryParams struct {
	alpha, beta, gamma float64
}

// unaryDef describes how a float unary operator reads its attributes.
type unaryDef struct {
	op    unaryOp
	attrs []string
	// params reads the attributes; nil when there are none.
	params func(n *onnx.Node) (unaryParams, error)
}

func alphaAttr(def float32) func(n *onnx.Node) (unaryParams, error) {
	return func(n *onnx.Node) (unaryParams, error) {
		return unaryParams{alpha: float64(n.AttrFloat("alpha", def))}, nil
	}
}

var unaryDefs = map[string]unaryDef{
	"Sqrt":       {op: opSqrt},
	"Exp":        {op: opExp},
	"Log":        {op: opLog},
	"Reciprocal": {op: opReciprocal},
	"LeakyRelu":  {op: opLeakyRelu, attrs: []string{"alpha"}, params: alphaAttr(0.01)},
	"Elu":        {op: opElu, attrs: []string{"alpha"}, params: alphaAttr(1)},
	"Celu":       {op: opCelu, attrs: []string{"alpha"}, params: alphaAttr(1)},
	"Selu": {op: opSelu, attrs: []string{"alpha", "gamma"}, params: func(n *onnx.Node) (unaryParams, error) {
		return unaryParams{
			alpha: float64(n.AttrFloat("alpha", 1.67326319217681884765625)),
			gamma: float64(n.AttrFloat("gamma", 1.05070102214813232421875)),
		}, nil
	}},
	"Sigmoid":  {op: opSigmoid},
	"Tanh":     {op: opTanh},
	"Softplus": {op: opSoftplus},
	"Softsign": {op: opSoftsign},
	"HardSigmoid": {op: opHardSigmoid, attrs: []string{"alpha", "beta"}, params: func(n *onnx.Node) (unaryParams, error) {
		return unaryParams{alpha: float64(n.AttrFloat("alpha", 0.2)), beta: float64(n.AttrFloat("beta", 0.5))}, nil
	}},
	"HardSwish":       {op: opHardSwish},
	"ThresholdedRelu": {op: opThresholdedRelu, attrs: []string{"alpha"}, params: alphaAttr(1)},
	"Erf":             {op: opErf},
	"Gelu": {op: opGelu, attrs: []string{"approximate"}, params: func(n *onnx.Node) (unaryParams, error) {
		switch a := n.AttrString("approximate", "none"); a {
		case "none":
			return unaryParams{}, nil
		case "tanh":
			return unaryParams{gamma: 1}, nil
		default:
			return unaryParams{}, fmt.Errorf("approximate %q is not one of none, tanh", a)
		}
	}},
	"Round": {op: opRound},
	"Floor": {op: opFloor},
	"Ceil":  {op: opCeil},
}

// numUnaryOp is an elementwise function defined for integers too.
type numUnaryOp int

const (
	opNeg numUnaryOp = iota
	opAbs
	opSign
	opRelu
)

func init() {
	for name, def := range unaryDefs {
		register(name, func(b *buildCtx, n *onnx.Node) (opFunc, error) {
			if err := checkArity(n, 1, 1, 1); err != nil {
				return nil, err
			}
			if err := checkAttrs(n, def.attrs...); err != nil {
				return nil, err
			}
			var p unaryParams
			if def.params != nil {
				var err error
				if p, err = def.params(n); err != nil {
					return nil, err
				}
			}
			op := def.op
			if op == opGelu && p.gamma == 1 {
				op = opGeluTanh
			}
			return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
				t, err := unaryFloat(c, op, p, in[0])
				return []*onnx.Tensor{t}, err
			}, nil
		})
	}
	for name, op := range map[string]numUnaryOp{"Neg": opNeg, "Abs": opAbs, "Sign": opSign, "Relu": opRelu} {
		register(name, func(b *buildCtx, n *onnx.Node) (opFunc, error) {
			if err := checkArity(n, 1, 1, 1); err != nil {
				return nil, err
			}
			if err := checkAttrs(n); err != nil {
				return nil, err
			}
			return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
				t, err := unaryNum(c, op, in[0])
				return []*onnx.Tensor{t}, err
			}, nil
		})
	}
	register("PRelu", func(b *buildCtx, n *onnx.Node) (opFunc, error) {
		if err := checkArity(n, 2, 2, 1); err != nil {
			return nil, err
		}
		if err := checkAttrs(n); err != nil {
			return nil, err
		}
		legacy := b.opset < 7
		return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
			x, slope := in[0], in[1]
			if legacy && len(slope.Shape) == 1 && len(x.Shape) >= 2 && slope.Shape[0] == x.Shape[1] {
				// Before opset 7 a 1-D slope holds one value per channel.
				shape := make([]int, len(x.Shape)-1)
				for i := range shape {
					shape[i] = 1
				}
				shape[0] = slope.Shape[0]
				slope = &onnx.Tensor{Name: slope.Name, DType: slope.DType, Shape: shape, Data: slope.Data}
			}
			t, err := prelu(c, x, slope)
			return []*onnx.Tensor{t}, err
		}, nil
	})
	register("Clip", buildClip)
}

// unaryFloat applies op to every element of a float tensor.
func unaryFloat(c *runCtx, op unaryOp, p unaryParams, x *onnx.Tensor) (*onnx.Tensor, error) {
	switch d := x.Data.(type) {
	case []float32:
		return newTensor(x.DType, x.Shape, unaryData(c, op, p, d)), nil
	case []float64:
		return newTensor(x.DType, x.Shape, unaryData(c, op, p, d)), nil
	}
	return nil, fmt.Errorf("element type %v is not supported (want a float type)", x.DType)
}

func unaryData[T floatElem](c *runCtx, op unaryOp, p unaryParams, x []T) []T {
	o := outSliceRaw[T](c, len(x))
	parallelFor(c.threads, len(x), elemGrain, func(lo, hi int) {
		unaryRange(op, p, o[lo:hi], x[lo:hi])
	})
	return o
}

// unaryRange computes o = op(x). The switch is outside the loops, so each
// operator is one tight loop; transcendental functions run in float64 and
// round once, which is as accurate as float32 allows.
func unaryRange[T floatElem](op unaryOp, p unaryParams, o, x []T) {
	x = x[:len(o)]
	if o32, ok := any(o).([]float32); ok && (op == opErf || op == opGelu) {
		// float32 data does not need math.Erf's full float64 accuracy.
		x32 := any(x).([]float32)
		var buf, arg [256]float64
		for len(x32) > 0 {
			f := widen(buf[:], x32)
			if op == opErf {
				erfVec(f)
			} else {
				g := arg[:len(f)]
				for i, v := range f {
					g[i] = v / math.Sqrt2
				}
				erfVec(g)
				for i, v := range f {
					f[i] = 0.5 * v * (1 + g[i])
				}
			}
			for i, v := range f {
				o32[i] = float32(v)
			}
			x32, o32 = x32[len(f):], o32[len(f):]
		}
		return
	}
	if o32, ok := any(o).([]float32); ok && (op == opSigmoid || op == opExp) {
		expRange(op, o32, any(x).([]float32))
		return
	}
	switch op {
	case opSqrt:
		for i, v := range x {
			o[i] = T(math.Sqrt(float64(v)))
		}
	case opExp:
		for i, v := range x {
			o[i] = T(math.Exp(float64(v)))
		}
	case opLog:
		for i, v := range x {
			o[i] = T(math.Log(float64(v)))
		}
	case opReciprocal:
		for i, v := range x {
			o[i] = 1 / v
		}
	case opLeakyRelu:
		for i, v := range x {
			if v < 0 {
				v = T(p.alpha * float64(v))
			}
			o[i] = v
		}
	case opElu:
		for i, v := range x {
			if v < 0 {
				v = T(p.alpha * math.Expm1(float64(v)))
			}
			o[i] = v
		}
	case opCelu:
		for i, v := range x {
			f := float64(v)
			o[i] = T(max(0, f) + min(0, p.alpha*math.Expm1(f/p.alpha)))
		}
	case opSelu:
		for i, v := range x {
			f := float64(v)
			if f > 0 {
				o[i] = T(p.gamma * f)
			} else {
				o[i] = T(p.gamma * p.alpha * math.Expm1(f))
			}
		}
	case opSigmoid:
		for i, v := range x {
			o[i] = T(sigmoid(float64(v)))
		}
	case opTanh:
		for i, v := range x {
			o[i] = T(math.Tanh(float64(v)))
		}
	case opSoftplus:
		for i, v := range x {
			f := float64(v)
			// log(1+e^x) without overflow: x + log(1+e^-x) for x > 0.
			if f > 0 {
				o[i] = T(f + math.Log1p(math.Exp(-f)))
			} else {
				o[i] = T(math.Log1p(math.Exp(f)))
			}
		}
	case opSoftsign:
		for i, v := range x {
			f := float64(v)
			o[i] = T(f / (1 + math.Abs(f)))
		}
	case opHardSigmoid:
		for i, v := range x {
			o[i] = T(max(0, min(1, float64(p.alpha*float64(v))+p.beta)))
		}
	case opHardSwish:
		for i, v := range x {
			f := float64(v)
			o[i] = T(f * max(0, min(1, f/6+0.5)))
		}
	case opThresholdedRelu:
		for i, v := range x {
			if float64(v) <= p.alpha {
				v = 0
			}
			o[i] = v
		}
	case opErf:
		for i, v := range x {
			o[i] = T(math.Erf(float64(v)))
		}
	case opGelu:
		for i, v := range x {
			f := float64(v)
			o[i] = T(0.5 * f * (1 + math.Erf(f/math.Sqrt2)))
		}
	case opGeluTanh:
		k := math.Sqrt(2 / math.Pi)
		for i, v := range x {
			f := float64(v)
			o[i] = T(0.5 * f * (1 + math.Tanh(k*(f+float64(0.044715*f*f*f)))))
		}
	case opRound:
		for i, v := range x {
			o[i] = T(math.RoundToEven(float64(v)))
		}
	case opFloor:
		for i, v := range x {
			o[i] = T(math.Floor(float64(v)))
		}
	case opCeil:
		for i, v := range x {
			o[i] = T(math.Ceil(float64(v)))
		}
	}
}

// expRange computes Sigmoid or Exp of float32 data with expVec, in blocks
// that stay in L1: the bits of sigmoid and math.Exp element by element.
func expRange(op unaryOp, o, x []float32) {
	var arg, e [256]float64
	for len(x) > 0 {
		n := min(len(x), len(arg))
		a := arg[:n]
		if op == opExp {
			widen(a, x)
		} else {
			for i, v := range x[:n] {
				a[i] = -math.Abs(float64(v)) // e^-|x|: sigmoid's two branches
			}
		}
		expVec(e[:n], a)
		if op == opExp {
			for i, v := range e[:n] {
				o[i] = float32(v)
			}
		} else {
			for i, v := range x[:n] {
				if v >= 0 {
					o[i] = float32(1 / (1 + e[i]))
				} else {
					o[i] = float32(e[i] / (1 + e[i]))
				}
			}
		}
		x, o = x[n:], o[n:]
	}
}

// widen converts the first min(len(dst), len(src)) values of src to
// float64 and returns them. Converting in a loop of its own matters: the
// x86 instruction that widens a float32 writes only half of its register,
// so inside a loop of heavy arithmetic it waits for the previous element's
// whole computation, serializing the loop (erf ran 3.5 times slower).
func widen(dst []float64, src []float32) []float64 {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, v := range src {
		dst[i] = float64(v)
	}
	return dst
}

// sigmoid is 1/(1+e^-x), computed so that neither branch overflows.
func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// unaryNum applies Neg, Abs, Sign or Relu to a numeric tensor.
func unaryNum(c *runCtx, op numUnaryOp, x *onnx.Tensor) (*onnx.Tensor, error) {
	var data any
	switch d := x.Data.(type) {
	case []float32:
		data = unaryNumData(c, op, d)
	case []float64:
		data = unaryNumData(c, op, d)
	case []int64:
		data = unaryNumData(c, op, d)
	case []int32:
		data = unaryNumData(c, op, d)
	case []int16:
		data = unaryNumData(c, op, d)
	case []int8:
		data = unaryNumData(c, op, d)
	case []uint8:
		data = unaryNumData(c, op, d)
	case []uint16:
		data = unaryNumData(c, op, d)
	case []uint32:
		data = unaryNumData(c, op, d)
	case []uint64:
		data = unaryNumData(c, op, d)
	default:
		return nil, fmt.Errorf("element type %v is not supported", x.DType)
	}
	return newTensor(x.DType, x.Shape, data), nil
}

func unaryNumData[T numElem](c *runCtx, op numUnaryOp, x []T) []T {
	o := outSlice[T](c, len(x))
	parallelFor(c.threads, len(x), elemGrain, func(lo, hi int) {
		oo, xx := o[lo:hi], x[lo:hi]
		switch op {
		case opNeg:
			for i, v := range xx {
				oo[i] = -v
			}
		case opAbs:
			for i, v := range xx {
				if v < 0 {
					v = -v
				}
				oo[i] = v
			}
		case opSign:
			var one T = 1
			for i, v := range xx {
				switch {
				case v > 0:
					oo[i] = 1
				case v < 0:
					oo[i] = -one // never reached for unsigned T
				default:
					oo[i] = v // keeps zero and NaN
				}
			}
		case opRelu:
			for i, v := range xx {
				if !(v > 0) && v == v { // v <= 0, keeping NaN
					v = 0
				}
				oo[i] = v
			}
		}
	})
	return o
}

// prelu computes x < 0 ? slope*x : x, slope broadcast to x's shape.
func prelu(c *runCtx, x, slope *onnx.Tensor) (*onnx.Tensor, error) {
	p, err := newBroadcast(x.Shape, slope.Shape)
	if err != nil {
		return nil, err
	}
	if !slices.Equal(p.shape, x.Shape) {
		return nil, fmt.Errorf("slope shape %v does not broadcast to input shape %v", slope.Shape, x.Shape)
	}
	var data any
	switch d := x.Data.(type) {
	case []float32:
		data, err = preluData(c, p, d, slope)
	case []float64:
		data, err = preluData(c, p, d, slope)
	case []int64:
		data, err = preluData(c, p, d, slope)
	case []int32:
		data, err = preluData(c, p, d, slope)
	default:
		return nil, fmt.Errorf("element type %v is not supported", x.DType)
	}
	if err != nil {
		return nil, err
	}
	return newTensor(x.DType, x.Shape, data), nil
}

func preluData[T numElem](c *runCtx, p *broadcast, x []T, st *onnx.Tensor) ([]T, error) {
	s, ok := st.Data.([]T)
	if !ok {
		return nil, fmt.Errorf("input element types differ: %T and %v", x, st.DType)
	}
	o := outSlice[T](c, p.size)
	p.each(c.threads, func(out, n int, off []int) {
		oo, xx := o[out:out+n], x[off[0]:off[0]+n]
		if !p.inc[1] {
			k := s[off[1]]
			for i, v := range xx {
				if v < 0 {
					v *= k
				}
				oo[i] = v
			}
			return
		}
		ss := s[off[1] : off[1]+n]
		for i, v := range xx {
			if v < 0 {
				v *= ss[i]
			}
			oo[i] = v
		}
	})
	return o, nil
}

// buildClip reads min and max from inputs (opset 11 and later) or from
// attributes (earlier opsets).
func buildClip(b *buildCtx, n *onnx.Node) (opFunc, error) {
	if b.opset < 11 {
		if err := checkArity(n, 1, 1, 1); err != nil {
			return nil, err
		}
		if err := checkAttrs(n, "min", "max"); err != nil {
			return nil, err
		}
		lo, hi := float64(n.AttrFloat("min", 0)), float64(n.AttrFloat("max", 0))
		hasLo, hasHi := n.HasAttr("min"), n.HasAttr("max")
		return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
			t, err := clip(c, in[0], lo, hi, hasLo, hasHi)
			return []*onnx.Tensor{t}, err
		}, nil
	}
	if err := checkArity(n, 1, 3, 1); err != nil {
		return nil, err
	}
	if err := checkAttrs(n); err != nil {
		return nil, err
	}
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		var bounds [2]float64
		var has [2]bool
		for i, name := range []string{"min", "max"} {
			if 1+i >= len(in) || in[1+i] == nil {
				continue
			}
			t := in[1+i]
			if t.Len() != 1 {
				return nil, fmt.Errorf("%s must be a scalar, has shape %v", name, t.Shape)
			}
			if t.DType != in[0].DType {
				return nil, fmt.Errorf("%s has type %v, input has %v", name, t.DType, in[0].DType)
			}
			v, err := float64s(t)
			if err != nil {
				return nil, err
			}
			bounds[i], has[i] = v[0], true
		}
		t, err := clip(c, in[0], bounds[0], bounds[1], has[0], has[1])
		return []*onnx.Tensor{t}, err
	}, nil
}

// clip bounds x to [lo, hi]; a missing bound does not apply. NaN stays NaN.
func clip(c *runCtx, x *onnx.Tensor, lo, hi float64, hasLo, hasHi bool) (*onnx.Tensor, error) {
	var data any
	switch d := x.Data.(type) {
	case []float32:
		data = clipData(c, d, lo, hi, hasLo, hasHi)
	case []float64:
		data = clipData(c, d, lo, hi, hasLo, hasHi)
	case []int64:
		data = clipData(c, d, lo, hi, hasLo, hasHi)
	case []int32:
		data = clipData(c, d, lo, hi, hasLo, hasHi)
	case []int16:
		data = clipData(c, d, lo, hi, hasLo, hasHi)
	case []int8:
		data = clipData(c, d, lo, hi, hasLo, hasHi)
	case []uint8:
		data = clipData(c, d, lo, hi, hasLo, hasHi)
	case []uint16:
		data = clipData(c, d, lo, hi, hasLo, hasHi)
	case []uint32:
		data = clipData(c, d, lo, hi, hasLo, hasHi)
	case []uint64:
		data = clipData(c, d, lo, hi, hasLo, hasHi)
	default:
		return nil, fmt.Errorf("element type %v is not supported", x.DType)
	}
	return newTensor(x.DType, x.Shape, data), nil
}

func clipData[T numElem](c *runCtx, x []T, lo, hi float64, hasLo, hasHi bool) []T {
	// The bounds came from tensors of type T (or float32 attributes for a
	// float input), so converting them back is exact.
	l, h := T(lo), T(hi)
	o := outSliceRaw[T](c, len(x))
	parallelFor(c.threads, len(x), elemGrain, func(lo, hi int) {
		oo, xx := o[lo:hi], x[lo:hi]
		if of, ok := asF32(oo); ok {
			xf, _ := asF32(xx)
			clipRowF32(of, xf, float32(l), float32(h), hasLo, hasHi)
			return
		}
		for i, v := range xx {
			if hasLo && v < l {
				v = l
			}
			if hasHi && v > h {
				v = h
			}
			oo[i] = v
		}
	})
	return o
}

// clipRowF32 is clipData's loop for float32: o = x bounded to [lo, hi],
// a missing bound not applied; o may be x.
func clipRowF32(o, x []float32, lo, hi float32, hasLo, hasHi bool) {
	fl, fh := float32(math.Inf(-1)), float32(math.Inf(1))
	if hasLo {
		fl = lo
	}
	if hasHi {
		fh = hi
	}
	k := clipF32(o, x, fl, fh)
	for i, v := range x[k:len(o)] {
		if hasLo && v < lo {
			v = lo
		}
		if hasHi && v > hi {
			v = hi
		}
		o[k+i] = v
	}
}
