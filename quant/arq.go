package quant

import (
	"fmt"
	"math"

	"amq/onnx"
)

// ARQ returns the weight scales of AMCT's ARQ algorithm for layer node n of
// type op with weight w: symmetric int8 with offset 0,
// scale = SymmetricScale(min W, max W) over each output channel when
// channelWise is set, or over the whole tensor (one scale) otherwise.
//
// Output channels: Conv W[O, I/g, k...] axis 0; ConvTranspose W[I, O/g, k...]
// has O = g * W.shape[1] output channels, channel o of group gi being column
// o - gi*O/g of rows gi*I/g ... (gi+1)*I/g-1; Gemm B[K, N] axis 1, or axis 0
// with transB=1; MatMul B[K, N] axis 1.
func ARQ(op string, n *onnx.Node, w *onnx.Tensor, channelWise bool) ([]float32, error) {
	data, err := weightFloats(w)
	if err != nil {
		return nil, err
	}
	count, chanOf, err := outputChannels(op, n, w.Shape)
	if err != nil {
		return nil, err
	}
	if !channelWise {
		count = 1
		chanOf = func(int) int { return 0 }
	}
	lo := make([]float64, count)
	hi := make([]float64, count)
	for i, v := range data {
		x := float64(v)
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("weight %q: non-finite value %v at element %d", w.Name, v, i)
		}
		c := chanOf(i)
		lo[c] = min(lo[c], x)
		hi[c] = max(hi[c], x)
	}
	scales := make([]float32, count)
	for c := range scales {
		scales[c] = SymmetricScale(lo[c], hi[c])
	}
	return scales, nil
}

// FakeQuantWeight replaces every element of w with its int8
// quantize-dequantize under the per-channel (or single) scales that ARQ
// returned. Calibration observes activations through these weights, as
// AMCT does, so that activation ranges account for the weights' error.
func FakeQuantWeight(op string, n *onnx.Node, w *onnx.Tensor, scales []float32) error {
	data, err := onnx.Data[float32](w)
	if err != nil {
		return err
	}
	count, chanOf, err := outputChannels(op, n, w.Shape)
	if err != nil {
		return err
	}
	if len(scales) == 1 {
		chanOf = func(int) int { return 0 }
	} else if len(scales) != count {
		return fmt.Errorf("weight %q: %d scales for %d output channels", w.Name, len(scales), count)
	}
	for i, v := range data {
		data[i] = float32(FakeQuant(float64(v), scales[chanOf(i)], 0))
	}
	return nil
}

// outputChannels returns the number of output channels of a layer's weight
// and a function mapping a flat element index of the weight to its output
// channel.
func outputChannels(op string, n *onnx.Node, shape []int) (int, func(int) int, error) {
	switch op {
	case "Conv":
		if len(shape) < 3 {
			return 0, nil, fmt.Errorf("conv weight of shape %v: want rank >= 3", shape)
		}
		inner := onnx.NumElems(shape[1:])
		return shape[0], func(i int) int { return i / inner }, nil
	case "ConvTranspose":
		if len(shape) < 3 {
			return 0, nil, fmt.Errorf("convtranspose weight of shape %v: want rank >= 3", shape)
		}
		g := int(n.AttrInt("group", 1))
		if g < 1 || shape[0]%g != 0 {
			return 0, nil, fmt.Errorf("convtranspose group %d does not divide %d input channels", g, shape[0])
		}
		perIn := shape[0] / g // input channels per group
		perOut := shape[1]    // output channels per group
		k := onnx.NumElems(shape[2:])
		return g * perOut, func(i int) int {
			row := i / (perOut * k)
			col := (i / k) % perOut
			return (row/perIn)*perOut + col
		}, nil
	case "Gemm", "MatMul":
		if len(shape) != 2 {
			return 0, nil, fmt.Errorf("%s weight of shape %v: want rank 2", op, shape)
		}
		cols := shape[1]
		if op == "Gemm" && n.AttrInt("transB", 0) != 0 {
			return shape[0], func(i int) int { return i / cols }, nil
		}
		return cols, func(i int) int { return i % cols }, nil
	}
	return 0, nil, fmt.Errorf("layer type %s is not quantizable", op)
}
