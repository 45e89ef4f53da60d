package sim

import (
	"fmt"

	"amq/onnx"
)

func init() { register("Pad", buildPad) }

// Pad (opset 11 and later: pads and constant_value are inputs, axes is an
// input from opset 18). Modes constant, reflect and edge; negative pads
// crop. "wrap" (opset 19) is not supported.
func buildPad(b *buildCtx, n *onnx.Node) (opFunc, error) {
	if b.opset < 11 {
		return buildLegacyPad(b, n)
	}
	if err := checkAttrs(n, "mode"); err != nil {
		return nil, err
	}
	mode := n.AttrString("mode", "constant")
	switch mode {
	case "constant", "reflect", "edge":
	default:
		return nil, fmt.Errorf("mode %q is not supported", mode)
	}
	if n.Input(1) == "" {
		return nil, fmt.Errorf("input pads is required")
	}
	if n.Input(3) != "" && b.opset < 18 {
		return nil, fmt.Errorf("input axes needs opset 18, the model has %d", b.opset)
	}
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		x := in[0]
		r := len(x.Shape)
		pads, err := shapeInts(in[1], "pads")
		if err != nil {
			return nil, err
		}
		axes := make([]int, r)
		for i := range axes {
			axes[i] = i
		}
		if len(in) > 3 && in[3] != nil {
			raw, err := shapeInts(in[3], "axes")
			if err != nil {
				return nil, err
			}
			axes = axes[:0]
			for _, v := range raw {
				a, err := onnx.Axis(v, r)
				if err != nil {
					return nil, err
				}
				axes = append(axes, a)
			}
		}
		if len(pads) != 2*len(axes) {
			return nil, fmt.Errorf("pads %v needs %d entries for %d axes", pads, 2*len(axes), len(axes))
		}
		begin, end := make([]int, r), make([]int, r)
		for k, a := range axes {
			begin[a], end[a] = int(pads[k]), int(pads[k+len(axes)])
		}
		shape := make([]int, r)
		for i, d := range x.Shape {
			shape[i] = d + begin[i] + end[i]
			if shape[i] < 0 {
				return nil, fmt.Errorf("pads %v crop axis %d of size %d below zero", pads, i, d)
			}
		}
		if mode == "constant" {
			return padConstant(c, x, in, shape, begin, end)
		}
		return padIndexed(c, x, mode, begin, end)
	}, nil
}

// padConstant fills the output with the constant and copies the part of x
// that survives cropping into place.
func padConstant(c *runCtx, x *onnx.Tensor, in []*onnx.Tensor, shape, begin, end []int) ([]*onnx.Tensor, error) {
	out, err := allocTensor(c, x.DType, shape)
	if err != nil {
		return nil, err
	}
	if len(in) > 2 && in[2] != nil && dataLen(in[2]) > 0 {
		if in[2].DType != x.DType {
			return nil, fmt.Errorf("constant_value is %v, data is %v", in[2].DType, x.DType)
		}
		if err := fillValue(out, in[2]); err != nil {
			return nil, err
		}
	}
	r := len(shape)
	sub := make([]int, r)
	xs, os := denseStrides(x.Shape), denseStrides(shape)
	sOff, dOff := 0, 0
	for i := range r {
		cropB, cropE := max(0, -begin[i]), max(0, -end[i])
		sub[i] = max(0, x.Shape[i]-cropB-cropE)
		sOff += cropB * xs[i]
		dOff += max(0, begin[i]) * os[i]
	}
	if err := copyStrided(c.threads, out, x, dOff, os, sOff, xs, sub); err != nil {
		return nil, err
	}
	return []*onnx.Tensor{out}, nil
}

// padIndexed handles edge and reflect padding one axis at a time: output
// position j of an axis reads input position src(j - begin), gathered as
// blocks.
func padIndexed(c *runCtx, x *onnx.Tensor, mode string, begin, end []int) ([]*onnx.Tensor, error) {
	idxs := make([][]int, len(x.Shape))
	for a, d := range x.Shape {
		if begin[a] == 0 && end[a] == 0 {
			continue
		}
		size := d + begin[a] + end[a]
		if d == 0 && size > 0 {
			return nil, fmt.Errorf("cannot %s-pad axis %d of size 0", mode, a)
		}
		idx := make([]int, size)
		for j := range idx {
			p := j - begin[a]
			switch {
			case mode == "edge":
				p = min(max(p, 0), d-1)
			case d == 1:
				p = 0
			default:
				// Reflect without repeating the border: period 2(d-1).
				period := 2 * (d - 1)
				p %= period
				if p < 0 {
					p += period
				}
				if p >= d {
					p = period - p
				}
			}
			idx[j] = p
		}
		idxs[a] = idx
	}
	y, err := gatherAxes(c.threads, x, idxs)
	if err != nil {
		return nil, err
	}
	return []*onnx.Tensor{y}, nil
}

// buildLegacyPad runs Pad-2, whose pads and value are attributes, as the
// opset-11 form with those attributes turned into constant inputs.
func buildLegacyPad(b *buildCtx, n *onnx.Node) (opFunc, error) {
	if err := checkAttrs(n, "mode", "pads", "value"); err != nil {
		return nil, err
	}
	if !n.HasAttr("pads") {
		return nil, fmt.Errorf("attribute pads is required")
	}
	pads := n.AttrInts("pads")
	value := n.AttrFloat("value", 0)
	m := *n
	m.Attrs = map[string]*onnx.Attr{}
	if a, ok := n.Attrs["mode"]; ok {
		m.Attrs["mode"] = a
	}
	m.Inputs = []string{n.Input(0), "pads", "value"}
	b11 := *b
	b11.opset = 11
	run, err := buildPad(&b11, &m)
	if err != nil {
		return nil, err
	}
	padsT := onnx.NewTensor([]int{len(pads)}, append([]int64(nil), pads...))
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		x := in[0]
		v, err := onnx.Zeros(x.DType, nil)
		if err != nil {
			return nil, err
		}
		if f, ok := v.Data.([]float32); ok {
			f[0] = value
		} else if d, ok := v.Data.([]float64); ok {
			d[0] = float64(value)
		} else if value != 0 {
			return nil, fmt.Errorf("pad value %g for %v input is not supported", value, x.DType)
		}
		return run(c, []*onnx.Tensor{x, padsT, v})
	}, nil
}
