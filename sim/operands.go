package sim

import (
	"fmt"
	"math"

	"amq/onnx"
)

// quantOffset returns the activation offset of an int8 input produced by
// an AscendQuant node (its offset attribute, a float that some writers
// store as an int), or 0 for any other producer.
func quantOffset(b *buildCtx, input string) (int, error) {
	p := b.graph.Producer(input)
	if p == nil || p.OpType != "AscendQuant" {
		return 0, nil
	}
	var off float64
	if a, ok := p.Attrs["offset"]; ok {
		switch a.Type {
		case onnx.AttrFloat:
			off = float64(a.F)
		case onnx.AttrInt:
			off = float64(a.I)
		default:
			return 0, fmt.Errorf("input %q: AscendQuant %q has an offset of type %v, want a float", input, p.Name, a.Type)
		}
	}
	if off != math.Round(off) || off < -128 || off > 127 {
		return 0, fmt.Errorf("input %q: AscendQuant %q has offset %g, want an integer in [-128, 127]", input, p.Name, off)
	}
	return int(off), nil
}

// isInitializer reports whether name is an initializer that no graph
// input overrides, so that its data is the same on every run.
func isInitializer(g *onnx.Graph, name string) bool {
	if _, ok := g.Initializers[name]; !ok {
		return false
	}
	return g.Input(name) == nil
}

// floatOperands returns the float32 data of x, w and the optional bias.
func floatOperands(x, w, bias *onnx.Tensor) (xd, wd, bd []float32, err error) {
	if xd, err = onnx.Data[float32](x); err != nil {
		return
	}
	if wd, err = onnx.Data[float32](w); err != nil {
		return
	}
	if bias != nil {
		bd, err = onnx.Data[float32](bias)
	}
	return
}

// intOperands converts the int8 activation x minus the activation offset
// and the int8 weight w to float32, which holds them exactly (see
// igemmExact), and checks the optional int32 bias.
func intOperands(x, w, bias *onnx.Tensor, offset int) (xd, wd []float32, bd []int32, err error) {
	xq, err := onnx.Data[int8](x)
	if err != nil {
		return nil, nil, nil, err
	}
	wq, ok := w.Data.([]int8)
	if !ok {
		return nil, nil, nil, fmt.Errorf("weight %q has type %v; an INT8 activation needs an INT8 weight", w.Name, w.DType)
	}
	if bias != nil {
		if bd, ok = bias.Data.([]int32); !ok {
			return nil, nil, nil, fmt.Errorf("bias %q has type %v; an INT8 activation needs an INT32 bias", bias.Name, bias.DType)
		}
	}
	xd = make([]float32, len(xq))
	for i, v := range xq {
		xd[i] = float32(int(v) - offset)
	}
	wd = make([]float32, len(wq))
	for i, v := range wq {
		wd[i] = float32(v)
	}
	return xd, wd, bd, nil
}

// saturateInt32 adds the bias of each row (row r uses bias[r%len(bias)])
// to the exact int64 sums and clamps them to int32. The sums are exact;
// clamping only matters for layers with more than 2^31/(255*128), about
// 65 thousand, taps per output, where the NPU's int32 accumulator would
// overflow too.
func saturateInt32(acc []int64, rowLen int, bias []int32) []int32 {
	out := make([]int32, len(acc))
	if rowLen == 0 {
		return out
	}
	for r := 0; r*rowLen < len(acc); r++ {
		var b int64
		if bias != nil {
			b = int64(bias[r%len(bias)])
		}
		for i, v := range acc[r*rowLen : (r+1)*rowLen] {
			out[r*rowLen+i] = int32(max(math.MinInt32, min(math.MaxInt32, v+b)))
		}
	}
	return out
}
