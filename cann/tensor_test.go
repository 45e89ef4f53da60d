package cann

import (
	"reflect"
	"testing"

	"amq/onnx"
)

// TestConvertRoundsToIntegers: device outputs widened to float hold
// integral values; converting back rounds to nearest even instead of
// truncating as onnx's Cast semantics do, and so does a bool target.
func TestConvertRoundsToIntegers(t *testing.T) {
	in := onnx.NewTensor([]int{6}, []float32{2.5, 3.5, -2.5, 126.9999, -0.4, 0.6})
	in.Name = "y"
	for _, c := range []struct {
		to   onnx.DataType
		want any
	}{
		{onnx.Int8, []int8{2, 4, -2, 127, 0, 1}},
		{onnx.Int64, []int64{2, 4, -2, 127, 0, 1}},
		{onnx.Bool, []bool{true, true, true, true, false, true}},
		{onnx.Double, []float64{2.5, 3.5, -2.5, float64(float32(126.9999)), float64(float32(-0.4)), float64(float32(0.6))}},
	} {
		got, err := Convert(in, c.to)
		if err != nil {
			t.Errorf("%v: %v", c.to, err)
			continue
		}
		if got.DType != c.to || got.Name != "y" || !reflect.DeepEqual(got.Data, c.want) {
			t.Errorf("%v: got %v %q %v, want %v", c.to, got.DType, got.Name, got.Data, c.want)
		}
	}
	if got, _ := Convert(in, onnx.Float); got != in {
		t.Error("converting to the tensor's own type made a new tensor")
	}
	if _, err := Convert(onnx.NewTensor([]int{1}, []string{"1"}), onnx.Float); err == nil {
		t.Error("a string tensor converted")
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	in := onnx.NewTensor([]int{2, 2}, []float32{1, 0.1, -3, 65504})
	b, err := Encode(in, onnx.Float16)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 8 {
		t.Fatalf("%d bytes, want 8", len(b))
	}
	back, err := Decode(b, onnx.Float16, []int{2, 2})
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{1, 0.099975586, -3, 65504}
	if back.DType != onnx.Float16 || !reflect.DeepEqual(back.Shape, []int{2, 2}) || !reflect.DeepEqual(back.Data, want) {
		t.Errorf("got %v %v, want FLOAT16 [2 2] %v", back, back.Data, want)
	}
	if _, err := Decode(b, onnx.Float, []int{2, 2}); err == nil {
		t.Error("8 bytes decoded as 4 floats")
	}
	if _, err := Encode(&onnx.Tensor{DType: onnx.Int32, Shape: []int{3}, Data: []int32{1}}, onnx.Int32); err == nil {
		t.Error("a tensor with too few elements encoded")
	}
}
