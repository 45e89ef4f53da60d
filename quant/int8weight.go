package quant

import (
	"fmt"

	"amq/onnx"
)

// int8Weight is a float weight held as its int8 codes and per-channel
// scales, widened on demand to the float32 values code·scale
// (onnx.Compact): the fake-quantized weights calibration observes through,
// and the integer-valued weights of the fake-quant model (scale 1). A
// quarter of the float32 weight's memory; sim's MatMul widens it a panel
// at a time, so a model's worth of fake-quantized weights is never float32
// at once (docs/design.md "Loading large models").
type int8Weight struct {
	codes  []int8
	scales []float32 // nil: every scale is 1
	// cols > 0: element i is in channel i % cols (MatMul, Gemm); else
	// chanOf says (nil with one scale).
	cols   int
	chanOf func(int) int
}

// Len is the number of elements.
func (w *int8Weight) Len() int { return len(w.codes) }

// WidenTo writes elements off.. as float32: Dequantize(q, s, 0) rounded
// to float32, the value FakeQuantWeight writes. That is float32(q)·s in
// float32: the exact product of an 8-bit and a 24-bit significand is
// rounded once either way.
func (w *int8Weight) WidenTo(dst []float32, off int) {
	codes := w.codes[off : off+len(dst)]
	switch {
	case w.scales == nil:
		for i, q := range codes {
			dst[i] = float32(q)
		}
	case len(w.scales) == 1:
		s := w.scales[0]
		for i, q := range codes {
			dst[i] = float32(q) * s
		}
	case w.cols > 0:
		// Runs of consecutive columns, a row's worth at most at a time.
		for len(codes) > 0 {
			c := off % w.cols
			n := min(len(codes), w.cols-c)
			sc, cs, ds := w.scales[c:c+n], codes[:n], dst[:n]
			for i, q := range cs {
				ds[i] = float32(q) * sc[i]
			}
			codes, dst, off = codes[n:], dst[n:], off+n
		}
	default:
		for i, q := range codes {
			dst[i] = float32(q) * w.scales[w.chanOf(off+i)]
		}
	}
}

// integerWeight is codes as a FLOAT tensor's elements (the fake-quant
// model's weights), held as int8.
func integerWeight(codes []int8) *int8Weight { return &int8Weight{codes: codes} }

// fakeQuantCodes is FakeQuantWeight held as codes: the int8 codes of w's
// elements under the per-channel (or single) scales ARQ returned for
// layer node n of type op, widening to the values FakeQuantWeight would
// write into w.
func fakeQuantCodes(op string, n *onnx.Node, w *onnx.Tensor, scales []float32) (*int8Weight, error) {
	data, err := weightFloats(w)
	if err != nil {
		return nil, err
	}
	count, chanOf, err := outputChannels(op, n, w.Shape)
	if err != nil {
		return nil, err
	}
	q := &int8Weight{codes: make([]int8, len(data)), scales: scales, chanOf: chanOf}
	switch {
	case len(scales) == 1:
		q.chanOf = nil
	case len(scales) != count:
		return nil, fmt.Errorf("weight %q: %d scales for %d output channels", w.Name, len(scales), count)
	case (op == "MatMul" || op == "Gemm" && n.AttrInt("transB", 0) == 0) && len(w.Shape) == 2:
		q.cols, q.chanOf = w.Shape[1], nil
	}
	for i, v := range data {
		s := scales[0]
		if len(scales) > 1 {
			s = scales[chanOf(i)]
		}
		q.codes[i] = Quantize(float64(v), s, 0)
	}
	return q, nil
}

// weightFloats returns the float32 elements of w, widened into a new slice
// when w holds them compactly (a float16 model's weight, int8 codes): for
// reading one layer's weight at a time, never for writing into w.
func weightFloats(w *onnx.Tensor) ([]float32, error) {
	return onnx.Data[float32](w.Widened())
}
