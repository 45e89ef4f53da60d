package onnx

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

// TestConvertFollowsCast checks Convert where amq's former conversions
// differed: shape inference's folding (no float16 rounding), cann's
// device conversion (through float64, rounding to integers) and sim's
// Cast, whose semantics Convert has.
func TestConvertFollowsCast(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	cases := []struct {
		name string
		in   *Tensor
		to   DataType
		want any
	}{
		{"float to int truncates toward zero", NewTensor([]int{4}, []float32{2.5, -2.5, 3.7, -0.9}), Int32, []int32{2, -2, 3, 0}},
		{"double to int8 truncates", NewTensor([]int{2}, []float64{127.9, -128.9}), Int8, []int8{127, -128}},
		{"int64 to int32 wraps", NewTensor([]int{2}, []int64{1<<31 + 5, -1}), Int32, []int32{-(1 << 31) + 5, -1}},
		{"uint8 to int8 wraps", NewTensor([]int{2}, []uint8{200, 7}), Int8, []int8{-56, 7}},
		{"double to float16 rounds to its precision", NewTensor([]int{3}, []float64{2049, 0.1, 65520}), Float16, []float32{2048, 0.099975586, inf}},
		{"float to bfloat16 rounds half to even", NewTensor([]int{3}, []float32{1 + 1.0/256, 1 + 3.0/256, 0.1}), BFloat16, []float32{1, 1 + 4.0/256, 0.10009765625}},
		{"float16 to bfloat16 rounds again", &Tensor{DType: Float16, Shape: []int{1}, Data: []float32{1.00390625}}, BFloat16, []float32{1}},
		{"bool to float is 0 or 1", NewTensor([]int{2}, []bool{true, false}), Float, []float32{1, 0}},
		{"nonzero and NaN are true", NewTensor([]int{4}, []float32{0, float32(math.Copysign(0, -1)), 0.25, nan}), Bool, []bool{false, false, true, true}},
		{"int to bool", NewTensor([]int{3}, []int64{0, -3, 1 << 40}), Bool, []bool{false, true, true}},
		{"strings parse", NewTensor([]int{5}, []string{"1.5", " -2 ", "INF", "-inf", "1e400"}), Double, []float64{1.5, -2, math.Inf(1), math.Inf(-1), math.Inf(1)}},
		{"strings to int truncate", NewTensor([]int{2}, []string{"3.9", "-3.9"}), Int64, []int64{3, -3}},
		{"string to bool", NewTensor([]int{2}, []string{"0", "0.5"}), Bool, []bool{false, true}},
		{"floats format as numpy's str", NewTensor([]int{5}, []float32{1, 0.1, 1e-5, 1e16, nan}), String, []string{"1.0", "0.1", "1e-05", "1e+16", "nan"}},
		{"doubles format at double precision", NewTensor([]int{1}, []float64{0.1}), String, []string{"0.1"}},
		{"uint64 formats unsigned", NewTensor([]int{1}, []uint64{math.MaxUint64}), String, []string{"18446744073709551615"}},
		{"bools format", NewTensor([]int{2}, []bool{true, false}), String, []string{"true", "false"}},
	}
	for _, c := range cases {
		got, err := c.in.Convert(c.to)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got.DType != c.to || !reflect.DeepEqual(got.Shape, c.in.Shape) {
			t.Errorf("%s: got type %v shape %v, want %v %v", c.name, got.DType, got.Shape, c.to, c.in.Shape)
		}
		if !sameValues(got.Data, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got.Data, c.want)
		}
	}
}

// sameValues is reflect.DeepEqual with NaN equal to NaN.
func sameValues(got, want any) bool {
	if g, ok := got.([]float32); ok {
		w, ok := want.([]float32)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range g {
			if g[i] != w[i] && !(g[i] != g[i] && w[i] != w[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(got, want)
}

func TestConvertToBFloat16KeepsNaN(t *testing.T) {
	// A NaN whose payload would carry into the sign when rounded.
	nan := math.Float32frombits(0x7fffffff)
	got, err := NewTensor([]int{1}, []float32{nan}).Convert(BFloat16)
	if err != nil {
		t.Fatal(err)
	}
	if v := got.Floats()[0]; v == v {
		t.Errorf("NaN became %v", v)
	}
	if h := Float32ToBFloat16(nan); BFloat16ToFloat32(h) == BFloat16ToFloat32(h) {
		t.Errorf("Float32ToBFloat16(NaN) = %#04x, not a NaN", h)
	}
}

func TestConvertToSameTypeSharesData(t *testing.T) {
	in := NewTensor([]int{2}, []int64{1, 2})
	in.Name = "x"
	got, err := in.Convert(Int64)
	if err != nil {
		t.Fatal(err)
	}
	if got == in || got.Name != "x" || &got.Int64s()[0] != &in.Int64s()[0] {
		t.Errorf("got %p %q sharing %v; want a new header named x over the same data", got, got.Name, &got.Int64s()[0] == &in.Int64s()[0])
	}
}

func TestConvertErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		in   *Tensor
		to   DataType
		want string
	}{
		{"unknown target", NewTensor([]int{1}, []float32{1}), Undefined, "cast to UNDEFINED is not supported"},
		{"unparsable string", NewTensor([]int{1}, []string{"one"}), Float, `cannot cast string "one"`},
	} {
		if _, err := c.in.Convert(c.to); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
}

func TestFloat64sReadsNumbersAndBools(t *testing.T) {
	f := []float64{1.5}
	if got, err := NewTensor([]int{1}, f).Float64s(); err != nil || &got[0] != &f[0] {
		t.Errorf("float64 tensor: got %v, %v; want its own slice", got, err)
	}
	got, err := NewTensor([]int{3}, []bool{true, false, true}).Float64s()
	if err != nil || !reflect.DeepEqual(got, []float64{1, 0, 1}) {
		t.Errorf("bool tensor: got %v, %v", got, err)
	}
	got, err = NewTensor([]int{2}, []uint16{65535, 0}).Float64s()
	if err != nil || !reflect.DeepEqual(got, []float64{65535, 0}) {
		t.Errorf("uint16 tensor: got %v, %v", got, err)
	}
	if _, err := NewTensor([]int{1}, []string{"1"}).Float64s(); err == nil || err.Error() != "element type STRING is not numeric" {
		t.Errorf("string tensor: %v", err)
	}
}

func TestRoundToPrecisionLeavesOtherTypes(t *testing.T) {
	d := []float32{0.1}
	RoundToPrecision(d, Float)
	if d[0] != 0.1 {
		t.Errorf("Float: %v changed", d[0])
	}
	RoundToPrecision(d, Float16)
	if d[0] != 0.099975586 {
		t.Errorf("Float16: got %v, want 0.099975586", d[0])
	}
}

func TestRawRoundTripsEveryType(t *testing.T) {
	for _, in := range []*Tensor{
		NewTensor([]int{2}, []float32{1.5, -2}),
		{DType: Float16, Shape: []int{2}, Data: []float32{1.5, -2}},
		{DType: BFloat16, Shape: []int{2}, Data: []float32{1.5, -2}},
		NewTensor([]int{2}, []float64{1.5, -2}),
		NewTensor([]int{2}, []int64{1 << 40, -2}),
		NewTensor([]int{2}, []uint64{1 << 63, 2}),
		NewTensor([]int{2}, []int32{-7, 2}),
		NewTensor([]int{2}, []uint32{1 << 31, 2}),
		NewTensor([]int{2}, []int16{-7, 2}),
		NewTensor([]int{2}, []uint16{65535, 2}),
		NewTensor([]int{2}, []int8{-7, 2}),
		NewTensor([]int{2}, []uint8{255, 2}),
		NewTensor([]int{2}, []bool{true, false}),
	} {
		raw, err := in.Raw()
		if err != nil {
			t.Errorf("%v: %v", in.DType, err)
			continue
		}
		if len(raw) != 2*in.DType.Size() {
			t.Errorf("%v: %d bytes, want %d", in.DType, len(raw), 2*in.DType.Size())
		}
		back, err := TensorFromRaw(in.DType, in.Shape, raw)
		if err != nil || !reflect.DeepEqual(back.Data, in.Data) {
			t.Errorf("%v: read back %v, %v; want %v", in.DType, back, err, in.Data)
		}
	}
	if _, err := TensorFromRaw(Float, []int{2}, make([]byte, 7)); err == nil {
		t.Error("7 bytes read as 2 floats")
	}
}
