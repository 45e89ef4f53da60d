package onnx

import (
	"reflect"
	"strings"
	"testing"
)

func TestRowsShareStorageAlongAxis0(t *testing.T) {
	t.Parallel()
	x := NewTensor([]int{3, 2}, []int64{0, 1, 2, 3, 4, 5})
	r, err := x.Rows(1, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Shape, []int{2, 2}) || !reflect.DeepEqual(r.Data, []int64{2, 3, 4, 5}) || r.DType != Int64 {
		t.Fatalf("Rows(1, 3) = %v %v %v", r.DType, r.Shape, r.Data)
	}
	r.Int64s()[0] = 20
	if x.Int64s()[2] != 20 {
		t.Error("Rows copied the data instead of sharing it")
	}
	// Capped at hi: appending to the rows must not overwrite x.
	y := NewTensor([]int{2, 2}, []float32{1, 2, 3, 4})
	first, _ := y.Rows(0, 1)
	_ = append(first.Floats(), 99)
	if y.Floats()[2] != 3 {
		t.Error("append to Rows(0, 1) wrote into the next row")
	}
}

func TestRowsRejectsBadRanges(t *testing.T) {
	t.Parallel()
	x := NewTensor([]int{2, 2}, []float32{1, 2, 3, 4})
	for _, c := range []struct {
		t      *Tensor
		lo, hi int
		want   string
	}{
		{x, -1, 1, "rows [-1, 1)"},
		{x, 1, 3, "rows [1, 3)"},
		{x, 2, 1, "rows [2, 1)"},
		{NewTensor(nil, []float32{1}), 0, 0, "scalar"},
		{&Tensor{DType: Float, Shape: []int{2, 2}, Data: []float32{1}}, 0, 1, "4 values"},
	} {
		if _, err := c.t.Rows(c.lo, c.hi); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Rows(%d, %d) of %v: error %v, want %q", c.lo, c.hi, c.t.Shape, err, c.want)
		}
	}
}
