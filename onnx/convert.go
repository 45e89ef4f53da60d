package onnx

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Number is the set of numeric element types, and types defined on them.
type Number interface {
	~float32 | ~float64 | ~int64 | ~int32 | ~int16 | ~int8 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

// ConvertSlice converts every element of s to D with Go's conversion.
func ConvertSlice[D, S Number](s []S) []D {
	d := make([]D, len(s))
	for i, v := range s {
		d[i] = D(v)
	}
	return d
}

// Convert returns t's elements as type to, with the semantics of ONNX's
// Cast operator (sim's Cast is this function). It converts between float,
// double, float16 and bfloat16 (the last two held as float32 rounded to
// their precision), int64, int32, int16, int8, uint8, uint16, uint32,
// uint64, bool and string. The result keeps t's name and shape; when t
// already has type to, it shares t's data.
//
// Numeric conversions are Go conversions: float to integer truncates
// toward zero; a float that does not fit the integer type (including NaN
// and infinities) gives an implementation-defined value, as Go and C++
// runtimes such as ONNX Runtime do; there is no saturation (the opset 19
// saturate attribute applies only to float8 types, which amq does not
// have). Narrowing to float16 and bfloat16 rounds half to even, from the
// value converted to float32. Any nonzero number, NaN included, is true;
// true is 1. Strings are parsed with strconv ("NaN", "INF", "-INF" and
// decimal or exponent notation; out of range gives ±Inf or 0) and
// numbers formatted as numpy's str() does.
func (t *Tensor) Convert(to DataType) (*Tensor, error) {
	t = t.Widened()
	shape := append([]int(nil), t.Shape...)
	if t.DType == to {
		return &Tensor{Name: t.Name, DType: to, Shape: shape, Data: t.Data}, nil
	}
	var data any
	var err error
	switch to {
	case Float, Float16, BFloat16:
		var d []float32
		if d, err = convertTo[float32](t); err == nil {
			RoundToPrecision(d, to)
		}
		data = d
	case Double:
		data, err = convertTo[float64](t)
	case Int64:
		data, err = convertTo[int64](t)
	case Int32:
		data, err = convertTo[int32](t)
	case Int16:
		data, err = convertTo[int16](t)
	case Int8:
		data, err = convertTo[int8](t)
	case Uint8:
		data, err = convertTo[uint8](t)
	case Uint16:
		data, err = convertTo[uint16](t)
	case Uint32:
		data, err = convertTo[uint32](t)
	case Uint64:
		data, err = convertTo[uint64](t)
	case Bool:
		data, err = convertToBool(t)
	case String:
		data, err = convertToString(t)
	default:
		err = fmt.Errorf("cast to %v is not supported", to)
	}
	if err != nil {
		return nil, err
	}
	return &Tensor{Name: t.Name, DType: to, Shape: shape, Data: data}, nil
}

// RoundToPrecision rounds float32 values in place to the precision of dt
// when it is Float16 or BFloat16, half to even; for other types it does
// nothing. A NaN stays the same NaN.
func RoundToPrecision(d []float32, dt DataType) {
	switch dt {
	case Float16:
		for i, v := range d {
			d[i] = Float16ToFloat32(Float32ToFloat16(v))
		}
	case BFloat16:
		for i, v := range d {
			if v != v { // keep NaN a NaN: rounding could carry into the sign
				continue
			}
			d[i] = BFloat16ToFloat32(Float32ToBFloat16(v))
		}
	}
}

// Float64s returns t's numeric elements as float64, booleans as 0 and 1.
// A float64 tensor's own slice is returned, not a copy.
func (t *Tensor) Float64s() ([]float64, error) {
	switch d := t.Data.(type) {
	case []float64:
		return d, nil
	case []bool:
		out := make([]float64, len(d))
		for i, v := range d {
			if v {
				out[i] = 1
			}
		}
		return out, nil
	case []string:
	default:
		if f, ok := convertNumbers[float64](d); ok {
			return f, nil
		}
	}
	return nil, fmt.Errorf("element type %v is not numeric", t.DType)
}

// AsInt64s reads an int64 or int32 tensor, such as a shape or axes input,
// as int64; what names the tensor's role in the error. An int64 tensor's
// own slice is returned, not a copy.
func (t *Tensor) AsInt64s(what string) ([]int64, error) {
	switch d := t.Data.(type) {
	case []int64:
		return d, nil
	case []int32:
		return ConvertSlice[int64](d), nil
	}
	return nil, fmt.Errorf("%s must be an int64 or int32 tensor, got %v", what, t.DType)
}

// convertNumbers converts a slice of any Number type to []D; ok is false
// when data is not such a slice.
func convertNumbers[D Number](data any) (out []D, ok bool) {
	switch s := data.(type) {
	case []float32:
		return ConvertSlice[D](s), true
	case []float64:
		return ConvertSlice[D](s), true
	case []int64:
		return ConvertSlice[D](s), true
	case []int32:
		return ConvertSlice[D](s), true
	case []int16:
		return ConvertSlice[D](s), true
	case []int8:
		return ConvertSlice[D](s), true
	case []uint8:
		return ConvertSlice[D](s), true
	case []uint16:
		return ConvertSlice[D](s), true
	case []uint32:
		return ConvertSlice[D](s), true
	case []uint64:
		return ConvertSlice[D](s), true
	}
	return nil, false
}

// convertTo converts any numeric, bool or string tensor to []D.
func convertTo[D Number](t *Tensor) ([]D, error) {
	if out, ok := convertNumbers[D](t.Data); ok {
		return out, nil
	}
	switch s := t.Data.(type) {
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
	return nil, fmt.Errorf("cannot cast %v", t.DType)
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

func convertToBool(t *Tensor) ([]bool, error) {
	switch s := t.Data.(type) {
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
	f, err := convertTo[float64](t)
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(f))
	for i, v := range f {
		out[i] = v != 0
	}
	return out, nil
}

// convertToString formats numbers as numpy's str() does: the shortest
// representation that reads back to the same value, positional between
// 1e-4 and 1e16 (with ".0" for integral values), scientific otherwise.
func convertToString(t *Tensor) ([]string, error) {
	if b, ok := t.Data.([]bool); ok {
		out := make([]string, len(b))
		for i, v := range b {
			out[i] = strconv.FormatBool(v)
		}
		return out, nil
	}
	switch t.DType {
	case Float, Float16, BFloat16, Double:
		return formatFloats(t)
	}
	if u, ok := t.Data.([]uint64); ok {
		out := make([]string, len(u))
		for i, e := range u {
			out[i] = strconv.FormatUint(e, 10)
		}
		return out, nil
	}
	v, err := convertTo[int64](t)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(v))
	for i, e := range v {
		out[i] = strconv.FormatInt(e, 10)
	}
	return out, nil
}

// formatFloats formats a floating-point tensor, float32 types to the
// shortest representation of their float32 value.
func formatFloats(t *Tensor) ([]string, error) {
	bits := 64
	if t.DType != Double {
		bits = 32
	}
	f, err := convertTo[float64](t)
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
