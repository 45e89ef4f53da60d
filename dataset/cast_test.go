package dataset

import (
	"errors"
	"math"
	"testing"

	"amq/onnx"
)

// TestCastChecksEveryValueAtTheTypesEdges checks the safe conversion at
// the edges of the integer types, where float64 comparisons could round:
// 2^63 as a float does not fit int64, -2^63 does; uint64 values above
// int64's range do not fit it; negative values do not fit unsigned types;
// and a float that overflows float16 is refused.
func TestCastChecksEveryValueAtTheTypesEdges(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		in   *onnx.Tensor
		to   onnx.DataType
		bad  int // index of the first bad value, -1 for none
	}{
		{"float 2^63 to int64", onnx.NewTensor([]int{2}, []float64{-math.Pow(2, 63), math.Pow(2, 63)}), onnx.Int64, 1},
		{"float below 2^63 to int64", onnx.NewTensor([]int{1}, []float64{math.Nextafter(math.Pow(2, 63), 0)}), onnx.Int64, -1},
		{"uint64 to int64", onnx.NewTensor([]int{2}, []uint64{math.MaxInt64, math.MaxInt64 + 1}), onnx.Int64, 1},
		{"float 2^64 to uint64", onnx.NewTensor([]int{1}, []float64{math.Pow(2, 64)}), onnx.Uint64, 0},
		{"int8 to uint8", onnx.NewTensor([]int{2}, []int8{127, -1}), onnx.Uint8, 1},
		{"int64 to int8", onnx.NewTensor([]int{3}, []int64{-128, 127, 128}), onnx.Int8, 2},
		{"NaN to int32", onnx.NewTensor([]int{1}, []float32{float32(math.NaN())}), onnx.Int32, 0},
		{"float64 to float16", onnx.NewTensor([]int{2}, []float64{65504, 1e5}), onnx.Float16, 1},
		{"infinity stays infinite", onnx.NewTensor([]int{1}, []float64{math.Inf(-1)}), onnx.Float, -1},
		{"int64 to float32", onnx.NewTensor([]int{1}, []int64{1 << 40}), onnx.Float, -1},
	} {
		out, err := cast(c.in, c.to)
		var ve *valueError
		switch {
		case c.bad < 0 && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.bad < 0 && out.DType != c.to:
			t.Errorf("%s: type %v, want %v", c.name, out.DType, c.to)
		case c.bad >= 0 && !errors.As(err, &ve):
			t.Errorf("%s: error %v, want a value error", c.name, err)
		case c.bad >= 0 && ve.index != c.bad:
			t.Errorf("%s: value %d named (%v), want %d", c.name, ve.index, err, c.bad)
		}
	}
}

// TestCastableTypes checks which data types feed which inputs.
func TestCastableTypes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		from, to onnx.DataType
		ok       bool
	}{
		{onnx.Double, onnx.Float, true},
		{onnx.Float, onnx.Float16, true},
		{onnx.Uint8, onnx.Float, true},
		{onnx.Int32, onnx.Int64, true},
		{onnx.Float, onnx.Int64, true},
		{onnx.Bool, onnx.Bool, true},
		{onnx.Bool, onnx.Float, false},
		{onnx.Float, onnx.Bool, false},
		{onnx.String, onnx.Int64, false},
	} {
		if err := castable(c.from, c.to); (err == nil) != c.ok {
			t.Errorf("castable(%v, %v) = %v, want ok %v", c.from, c.to, err, c.ok)
		}
	}
}
