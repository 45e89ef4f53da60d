package sim

import (
	"fmt"

	"amq/onnx"
)

func init() { register("Cast", buildCast) }

// Cast is onnx.Tensor.Convert, which documents the semantics: between
// float32, float64, float16 and bfloat16 (both held as float32 rounded to
// their precision), int64, int32, int16, int8, uint8, uint16, uint32,
// uint64, bool and string.
func buildCast(b *buildCtx, n *onnx.Node) (opFunc, error) {
	if err := checkAttrs(n, "to"); err != nil {
		return nil, err
	}
	if !n.HasAttr("to") {
		return nil, fmt.Errorf("attribute to is required")
	}
	to := onnx.DataType(n.AttrInt("to", 0))
	switch to {
	case onnx.Float, onnx.Double, onnx.Float16, onnx.BFloat16, onnx.Int64, onnx.Int32, onnx.Int16,
		onnx.Int8, onnx.Uint8, onnx.Uint16, onnx.Uint32, onnx.Uint64, onnx.Bool, onnx.String:
	default:
		return nil, fmt.Errorf("cast to %v is not supported", to)
	}
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		if v := floatView(in[0], to); v != nil {
			return []*onnx.Tensor{v}, nil
		}
		out, err := in[0].Convert(to)
		if err != nil {
			return nil, err
		}
		return []*onnx.Tensor{out}, nil
	}, nil
}
