package sim

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"amq/onnx"
)

func init() { register("Cast", buildCast) }

// Cast converts between float32, float64, float16 and bfloat16 (both held
// as float32 rounded to their precision), int64, int32, int16, int8, uint8,
// uint16, uint32, uint64, bool and string.
//
// Numeric conversions are Go conversions: float to integer truncates toward
// zero; a float that does not fit the integer type (including NaN and
// infinities) gives an implementation-defined value, as Go and C++ runtimes
// such as ONNX Runtime do; there is no saturation (the opset 19 saturate
// attribute applies only to float8 types, which sim does not have).
// float32 to float16 and bfloat16 rounds half to even. Strings are parsed
// with strconv and formatted as numpy's str() does for float32 values.
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
		out, err := castTensor(in[0], to)
		if err != nil {
			return nil, err
		}
		return []*onnx.Tensor{out}, nil
	}, nil
}

// number is the set of numeric element types Cast converts between.
type number interface {
	float32 | float64 | int64 | int32 | int16 | int8 | uint8 | uint16 | uint32 | uint64
}

func castTensor(x *onnx.Tensor, to onnx.DataType) (*onnx.Tensor, error) {
	shape := append([]int(nil), x.Shape...)
	if x.DType == to {
		return aliasAs(x, shape), nil
	}
	var data any
	var err error
	switch to {
	case onnx.Float, onnx.Float16, onnx.BFloat16:
		var d []float32
		if d, err = castTo[float32](x); err == nil {
			narrowFloats(d, x.DType, to)
		}
		data = d
	case onnx.Double:
		data, err = castTo[float64](x)
	case onnx.Int64:
		data, err = castTo[int64](x)
	case onnx.Int32:
		data, err = castTo[int32](x)
	case onnx.Int16:
		data, err = castTo[int16](x)
	case onnx.Int8:
		data, err = castTo[int8](x)
	case onnx.Uint8:
		data, err = castTo[uint8](x)
	case onnx.Uint16:
		data, err = castTo[uint16](x)
	case onnx.Uint32:
		data, err = castTo[uint32](x)
	case onnx.Uint64:
		data, err = castTo[uint64](x)
	case onnx.Bool:
		data, err = castToBool(x)
	case onnx.String:
		data, err = castToString(x)
	default:
		err = fmt.Errorf("cast to %v is not supported", to)
	}
	if err != nil {
		return nil, err
	}
	return &onnx.Tensor{DType: to, Shape: shape, Data: data}, nil
}

// narrowFloats rounds float32 values to the precision of float16 or
// bfloat16 (half to even) when the target is one of those; values already
// of that type (from a float16 source to float16, say) are left alone.
func narrowFloats(d []float32, from, to onnx.DataType) {
	switch {
	case to == onnx.Float16 && from != onnx.Float16:
		for i, v := range d {
			d[i] = onnx.Float16ToFloat32(onnx.Float32ToFloat16(v))
		}
	case to == onnx.BFloat16 && from != onnx.BFloat16:
		for i, v := range d {
			if v != v { // keep NaN a NaN: rounding could carry into the sign
				continue
			}
			b := math.Float32bits(v)
			b += 0x7fff + (b>>16)&1
			d[i] = math.Float32frombits(b &^ 0xffff)
		}
	}
}

// castTo converts any numeric, bool or string tensor to []D.
func castTo[D number](x *onnx.Tensor) ([]D, error) {
	switch s := x.Data.(type) {
	case []float32:
		return castSlice[D](s), nil
	case []float64:
		return castSlice[D](s), nil
	case []int64:
		return castSlice[D](s), nil
	case []int32:
		return castSlice[D](s), nil
	case []int16:
		return castSlice[D](s), nil
	case []int8:
		return castSlice[D](s), nil
	case []uint8:
		return castSlice[D](s), nil
	case []uint16:
		return castSlice[D](s), nil
	case []uint32:
		return castSlice[D](s), nil
	case []uint64:
		return castSlice[D](s), nil
	case []bool:
		out := make([]D, len(s))
		for i, v := range s {
			if v {
				out[i] = 1
			}
		}
		return out, nil
	case []string:
		out := make([]D, len(s))
		for i, v := range s {
			f, err := parseNumber(v)
			if err != nil {
				return nil, err
			}
			out[i] = D(f)
		}
		return out, nil
	}
	return nil, fmt.Errorf("cannot cast %v", x.DType)
}

func castSlice[D, S number](s []S) []D {
	out := make([]D, len(s))
	for i, v := range s {
		out[i] = D(v)
	}
	return out
}

// parseNumber reads a string element: "NaN", "INF", "+INF", "-INF" and
// decimal or exponent notation.
func parseNumber(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return f, nil // ±Inf or 0, as C's strtod gives
		}
		return 0, fmt.Errorf("cannot cast string %q to a number", s)
	}
	return f, nil
}

func castToBool(x *onnx.Tensor) ([]bool, error) {
	switch s := x.Data.(type) {
	case []string:
		out := make([]bool, len(s))
		for i, v := range s {
			f, err := parseNumber(v)
			if err != nil {
				return nil, err
			}
			out[i] = f != 0
		}
		return out, nil
	}
	f, err := castTo[float64](x)
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(f))
	for i, v := range f {
		out[i] = v != 0
	}
	return out, nil
}

// castToString formats numbers as numpy's str() does: the shortest
// representation that reads back to the same value, positional between
// 1e-4 and 1e16 (with ".0" for integral values), scientific otherwise.
func castToString(x *onnx.Tensor) ([]string, error) {
	bits := 64
	if x.DType == onnx.Float || x.DType == onnx.Float16 || x.DType == onnx.BFloat16 {
		bits = 32
	}
	if b, ok := x.Data.([]bool); ok {
		out := make([]string, len(b))
		for i, v := range b {
			out[i] = strconv.FormatBool(v)
		}
		return out, nil
	}
	isFloat := x.DType == onnx.Float || x.DType == onnx.Double || x.DType == onnx.Float16 || x.DType == onnx.BFloat16
	if !isFloat {
		v, err := castTo[int64](x)
		if err != nil {
			return nil, err
		}
		out := make([]string, len(v))
		if u, ok := x.Data.([]uint64); ok {
			for i, e := range u {
				out[i] = strconv.FormatUint(e, 10)
			}
			return out, nil
		}
		for i, e := range v {
			out[i] = strconv.FormatInt(e, 10)
		}
		return out, nil
	}
	f, err := castTo[float64](x)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(f))
	for i, v := range f {
		out[i] = formatFloat(v, bits)
	}
	return out, nil
}

func formatFloat(v float64, bits int) string {
	switch {
	case math.IsNaN(v):
		return "nan"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	a := math.Abs(v)
	if a == 0 || (a >= 1e-4 && a < 1e16) {
		s := strconv.FormatFloat(v, 'f', -1, bits)
		if !strings.ContainsAny(s, ".") {
			s += ".0"
		}
		return s
	}
	return strconv.FormatFloat(v, 'e', -1, bits)
}
