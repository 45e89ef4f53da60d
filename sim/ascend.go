package sim

import (
	"fmt"
	"math"
	"strings"

	"amq/onnx"
)

// Ascend deploy operators, emulated bit for bit (docs/design.md "Deploy
// operators"). The NPU evaluates them in float32, so sim does too: every
// product and sum below is rounded to float32 separately (the explicit
// float32 conversions also stop the Go compiler from fusing x*scale+offset
// into one FMA, which would round only once).

func init() {
	register("AscendQuant", buildAscendQuant)
	register("AscendDequant", buildAscendDequant)
	register("AscendAntiQuant", buildAscendAntiQuant)
}

// geInt8 is GE's DataType value DT_INT8, the integer form of dst_type that
// CANN's operator prototype uses; DT_INT4 is 29.
const (
	geInt8 = 2
	geInt4 = 29
)

// checkSqrtMode accepts sqrt_mode 0 only: with 1 the NPU applies the square
// root of the scale twice, which amq never writes.
func checkSqrtMode(n *onnx.Node) error {
	if a, ok := n.Attrs["sqrt_mode"]; ok {
		if a.Type != onnx.AttrInt || a.I != 0 {
			return fmt.Errorf("sqrt_mode must be 0 (only mode supported), got %v", attrValue(a))
		}
	}
	return nil
}

func attrValue(a *onnx.Attr) any {
	switch a.Type {
	case onnx.AttrInt:
		return a.I
	case onnx.AttrFloat:
		return a.F
	case onnx.AttrString:
		return a.S
	}
	return a.Type
}

// floatAttr reads a float attribute that some writers store as an int.
func floatAttr(n *onnx.Node, name string, def float32, required bool) (float32, error) {
	a, ok := n.Attrs[name]
	switch {
	case !ok && required:
		return 0, fmt.Errorf("attribute %s is required", name)
	case !ok:
		return def, nil
	case a.Type == onnx.AttrFloat:
		return a.F, nil
	case a.Type == onnx.AttrInt:
		return float32(a.I), nil
	}
	return 0, fmt.Errorf("attribute %s must be a float, is %v", name, a.Type)
}

// quantRound returns the rounding function of round_mode.
func quantRound(mode string) (func(float64) float64, error) {
	switch strings.ToLower(mode) {
	case "round":
		return math.RoundToEven, nil
	case "floor":
		return math.Floor, nil
	case "ceil":
		return math.Ceil, nil
	case "trunc":
		return math.Trunc, nil
	}
	return nil, fmt.Errorf("round_mode %q is not supported (Round, Floor, Ceil, Trunc)", mode)
}

// AscendQuant: y = clamp(round(float32(x*scale) + offset), -128, 127) as
// int8, all arithmetic in float32. ±Inf saturate. NaN maps to 0: the NPU's
// result for NaN is not documented, so this is amq's choice.
func buildAscendQuant(b *buildCtx, n *onnx.Node) (opFunc, error) {
	if err := checkAttrs(n, "scale", "offset", "sqrt_mode", "round_mode", "dst_type"); err != nil {
		return nil, err
	}
	if err := checkSqrtMode(n); err != nil {
		return nil, err
	}
	scale, err := floatAttr(n, "scale", 0, true)
	if err != nil {
		return nil, err
	}
	if !(scale > 0) || math.IsInf(float64(scale), 0) {
		return nil, fmt.Errorf("scale %g must be positive and finite", scale)
	}
	offset, err := floatAttr(n, "offset", 0, false)
	if err != nil {
		return nil, err
	}
	mode := n.AttrString("round_mode", "Round")
	if _, err := quantRound(mode); err != nil {
		return nil, err
	}
	if a, ok := n.Attrs["dst_type"]; ok {
		switch {
		case a.Type == onnx.AttrString && strings.EqualFold(a.S, "INT8"):
		case a.Type == onnx.AttrInt && a.I == geInt8:
		case a.Type == onnx.AttrString && strings.EqualFold(a.S, "INT4"), a.Type == onnx.AttrInt && a.I == geInt4:
			return nil, fmt.Errorf("dst_type INT4 is not supported (int8 only)")
		default:
			return nil, fmt.Errorf("dst_type %v is not supported (\"INT8\" or %d)", attrValue(a), geInt8)
		}
	}
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		x, ok := in[0].Data.([]float32)
		if !ok {
			return nil, fmt.Errorf("input must be float32 or float16, got %v", in[0].DType)
		}
		y := make([]int8, len(x))
		parallelFor(c.threads, len(x), 1<<14, func(lo, hi int) {
			quantizeInt8s(y[lo:hi], x[lo:hi], scale, offset, mode)
		})
		return []*onnx.Tensor{onnx.NewTensor(in[0].Shape, y)}, nil
	}, nil
}

// quantizeInt8s is AscendQuant on x into y, with the rounding of
// round_mode (checked by quantRound). It clamps before rounding, which
// gives the same results as rounding first, since each rounding is
// monotone and keeps the integers −128 and 127, and it names the rounding
// function directly so that the compiler inlines it as one instruction.
func quantizeInt8s(y []int8, x []float32, scale, offset float32, mode string) {
	y = y[:len(x)]
	pre := func(v float32) float64 {
		v = float32(float32(v*scale) + offset)
		if v != v {
			return 0 // NaN maps to 0
		}
		return float64(min(max(v, -128), 127))
	}
	switch strings.ToLower(mode) {
	case "round":
		done := quantRoundVec(y, x, scale, offset)
		y, x = y[done:], x[done:]
		for i, v := range x {
			y[i] = int8(math.RoundToEven(pre(v)))
		}
	case "floor":
		for i, v := range x {
			y[i] = int8(math.Floor(pre(v)))
		}
	case "ceil":
		for i, v := range x {
			y[i] = int8(math.Ceil(pre(v)))
		}
	default:
		for i, v := range x {
			y[i] = int8(math.Trunc(pre(v)))
		}
	}
}

// dequantAxis decides the channel axis of AscendDequant's input from the
// node producing it: convolutions put channels on axis 1 (N, C, ...),
// Gemm and MatMul on the last axis. For any other producer (or a graph
// input) axis 1 is assumed, the layout of every Ascend 4-D feature map; a
// rank-2 tensor has the same channel axis either way. It returns -1 for
// "last axis".
func dequantAxis(b *buildCtx, n *onnx.Node) int {
	if b.graph == nil {
		return 1
	}
	name := n.Input(0)
	for range 16 { // look through layout-neutral ops in between
		p := b.graph.Producer(name)
		if p == nil {
			return 1
		}
		switch p.OpType {
		case "Conv", "ConvTranspose", "ConvInteger":
			return 1
		case "Gemm", "MatMul", "MatMulInteger":
			return -1
		case "Identity":
			name = p.Input(0)
		default:
			return 1
		}
	}
	return 1
}

// unpackDeqScale extracts the float32 scales of a deq_scale tensor
// (uint64, or int64 with the same bits): bits 0-31 the float32 scale,
// bits 32-39 shift_n, bits 40-47 offset_w. AMCT writes shift_n = 0 and
// offset_w = 0; other values would need arithmetic sim does not emulate,
// so they are errors.
func unpackDeqScale(t *onnx.Tensor) ([]float32, error) {
	var bits []uint64
	switch d := t.Data.(type) {
	case []uint64:
		bits = d
	case []int64:
		bits = make([]uint64, len(d))
		for i, v := range d {
			bits[i] = uint64(v)
		}
	default:
		return nil, fmt.Errorf("deq_scale must be uint64, got %v", t.DType)
	}
	s := make([]float32, len(bits))
	for i, v := range bits {
		if shift := (v >> 32) & 0xff; shift != 0 {
			return nil, fmt.Errorf("deq_scale[%d] has shift_n %d; only 0 is supported", i, shift)
		}
		if off := int8(v >> 40); off != 0 {
			return nil, fmt.Errorf("deq_scale[%d] has offset_w %d; only 0 is supported", i, off)
		}
		s[i] = math.Float32frombits(uint32(v))
	}
	return s, nil
}

// outputDType reads the dtype attribute of the dequantizing ops: 0 float32,
// 1 float16 (rounded half to even, held as float32).
func outputDType(n *onnx.Node) (onnx.DataType, error) {
	switch d := n.AttrInt("dtype", 0); d {
	case 0:
		return onnx.Float, nil
	case 1:
		return onnx.Float16, nil
	default:
		return 0, fmt.Errorf("dtype %d is not supported (0 float32, 1 float16)", d)
	}
}

// AscendDequant: y = float32(x) * deq_scale[c] in float32 (x is the int32
// accumulator; float32(x) rounds above 2^24 as the NPU's conversion does),
// then ReLU if relu_flag, then float16 rounding if dtype is 1.
func buildAscendDequant(b *buildCtx, n *onnx.Node) (opFunc, error) {
	if err := checkAttrs(n, "sqrt_mode", "relu_flag", "dtype"); err != nil {
		return nil, err
	}
	if err := checkSqrtMode(n); err != nil {
		return nil, err
	}
	dt, err := outputDType(n)
	if err != nil {
		return nil, err
	}
	relu := n.AttrInt("relu_flag", 0) != 0
	if n.Input(1) == "" {
		return nil, fmt.Errorf("input deq_scale is required")
	}
	axis := dequantAxis(b, n)
	if b.graph != nil {
		if t, ok := b.graph.Constant(n.Input(1)); ok {
			if _, err := unpackDeqScale(t); err != nil {
				return nil, fmt.Errorf("%q: %w", n.Input(1), err)
			}
		}
	}
	// A Relu after it (AMCT keeps the layer's Relu as a node) is applied
	// as each value is written: max(v, 0), which also turns relu_flag's
	// −0 into +0 as the Relu node does.
	b.fusable = func(act *onnx.Node) opFunc {
		if act.OpType != "Relu" || dt != onnx.Float {
			return nil
		}
		return dequantOp(axis, relu, true, dt)
	}
	return dequantOp(axis, relu, false, dt), nil
}

// dequantOp is AscendDequant on channel axis (-1 for the last), with
// relu_flag relu, a fused Relu node reluNode, and output type dt.
func dequantOp(axis int, relu, reluNode bool, dt onnx.DataType) opFunc {
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		x, ok := in[0].Data.([]int32)
		if !ok {
			return nil, fmt.Errorf("input must be int32, got %v", in[0].DType)
		}
		scales, err := unpackDeqScale(in[1])
		if err != nil {
			return nil, err
		}
		shape := in[0].Shape
		inner, channels := 1, 1
		if len(scales) != 1 {
			a := axis
			if a < 0 {
				a = len(shape) - 1
			}
			if a >= len(shape) || shape[a] != len(scales) {
				return nil, fmt.Errorf("deq_scale has %d channels, input %v has %v on its channel axis %d", len(scales), shape, dimAt(shape, a), a)
			}
			inner, channels = onnx.NumElems(shape[a+1:]), len(scales)
		}
		y := outSliceRaw[float32](c, len(x)) // every value written below
		parallelFor(c.threads, len(x), 1<<14, func(lo, hi int) {
			if channels == 1 { // one scale
				dequantRun(y[lo:hi], x[lo:hi], scales[0], relu, reluNode)
				return
			}
			if inner == 1 { // a scale per element along rows
				for i := lo; i < hi; {
					c0 := i % channels
					end := min(hi, i-c0+channels)
					dequantCols(y[i:end], x[i:end], scales[c0:c0+end-i], relu, reluNode)
					i = end
				}
				return
			}
			// Runs of inner elements share a scale.
			for i := lo; i < hi; {
				end := min(hi, (i/inner+1)*inner)
				dequantRun(y[i:end], x[i:end], scales[(i/inner)%channels], relu, reluNode)
				i = end
			}
		})
		return []*onnx.Tensor{floatResult(shape, y, dt)}, nil
	}
}

// dequantCols is AscendDequant on x into y with scale sc[i] for x[i], and
// a fused Relu node after it when reluNode is set.
func dequantCols(y []float32, x []int32, sc []float32, relu, reluNode bool) {
	y, sc = y[:len(x)], sc[:len(x)]
	finite := true
	for _, v := range sc {
		if math.IsInf(float64(v), 0) || v != v {
			finite = false
			break
		}
	}
	if finite {
		done := dequantColsVec(y, x, sc, dequantMode(relu, reluNode))
		y, x, sc = y[done:], x[done:], sc[done:]
	}
	for i, v := range x {
		f := float32(float32(v) * sc[i])
		switch {
		case reluNode:
			f = max(f, 0)
		case relu && f < 0:
			f = 0
		}
		y[i] = f
	}
}

// dequantMode is the mode argument of the vector routines: 0 plain, 1
// relu_flag, 2 a fused Relu node.
func dequantMode(relu, reluNode bool) int {
	switch {
	case reluNode:
		return 2
	case relu:
		return 1
	}
	return 0
}

// dequantRun is AscendDequant on x into y with one scale, and a fused
// Relu node after it when reluNode is set.
func dequantRun(y []float32, x []int32, scale float32, relu, reluNode bool) {
	y = y[:len(x)]
	if !math.IsInf(float64(scale), 0) && scale == scale { // no NaN products
		done := dequantVec(y, x, scale, dequantMode(relu, reluNode))
		y, x = y[done:], x[done:]
	}
	if reluNode {
		for i, v := range x {
			y[i] = max(float32(float32(v)*scale), 0)
		}
		return
	}
	if relu {
		for i, v := range x {
			if f := float32(float32(v) * scale); f < 0 {
				y[i] = 0
			} else {
				y[i] = f
			}
		}
		return
	}
	for i, v := range x {
		y[i] = float32(float32(v) * scale)
	}
}

func dimAt(shape []int, a int) any {
	if a < len(shape) {
		return shape[a]
	}
	return "nothing"
}

// floatResult wraps float32 results as dtype dt (Float or Float16).
func floatResult(shape []int, y []float32, dt onnx.DataType) *onnx.Tensor {
	t := onnx.NewTensor(shape, y)
	if dt == onnx.Float16 {
		onnx.RoundToPrecision(y, onnx.Float16)
		t.DType = onnx.Float16
	}
	return t
}

// AscendAntiQuant: y = float32(float32(x) + offset) * scale, in float32.
func buildAscendAntiQuant(b *buildCtx, n *onnx.Node) (opFunc, error) {
	if err := checkAttrs(n, "scale", "offset", "dtype", "sqrt_mode"); err != nil {
		return nil, err
	}
	if err := checkSqrtMode(n); err != nil {
		return nil, err
	}
	scale, err := floatAttr(n, "scale", 0, true)
	if err != nil {
		return nil, err
	}
	offset, err := floatAttr(n, "offset", 0, false)
	if err != nil {
		return nil, err
	}
	dt, err := outputDType(n)
	if err != nil {
		return nil, err
	}
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		x, ok := in[0].Data.([]int8)
		if !ok {
			return nil, fmt.Errorf("input must be int8, got %v", in[0].DType)
		}
		y := make([]float32, len(x))
		for i, v := range x {
			y[i] = float32(float32(v)+offset) * scale
		}
		return []*onnx.Tensor{floatResult(in[0].Shape, y, dt)}, nil
	}, nil
}
