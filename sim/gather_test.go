package sim

import (
	"testing"

	"amq/onnx"
)

// TestGatherWidensOnlyTheRowsOfACompactTable gathers rows of a FLOAT table
// held as onnx.HalfFloats (a float16 model's embedding while it is
// quantized): the session keeps the table compact and the rows equal
// those of the widened table.
func TestGatherWidensOnlyTheRowsOfACompactTable(t *testing.T) {
	t.Parallel()
	const rows, cols = 5, 3
	halves := make(onnx.Halves, rows*cols)
	want := make([]float32, rows*cols)
	for i := range halves {
		halves[i] = onnx.Float32ToFloat16(float32(i)*0.37 - 2)
		want[i] = onnx.Float16ToFloat32(halves[i])
	}
	table := &onnx.Tensor{DType: onnx.Float, Shape: []int{rows, cols}, Data: onnx.HalfFloats{Type: onnx.Float16, Halves: halves}}
	idx := onnx.NewTensor([]int{2, 2}, []int64{4, 0, -3, 2})
	n := shpNode("Gather", []string{"x", "i"}, []string{"y"}, nil)
	m := shpModel(13, n, map[string]*onnx.Tensor{"x": table, "i": idx}, "x")
	s, err := NewSession(m, &Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, compact := s.consts["x"].Data.(onnx.Compact); !compact {
		t.Errorf("the session widened the table whole: %T", s.consts["x"].Data)
	}
	out, err := s.Run(map[string]*onnx.Tensor{"i": idx})
	if err != nil {
		t.Fatal(err)
	}
	var rowsWant []float32
	for _, r := range []int{4, 0, 2, 2} {
		rowsWant = append(rowsWant, want[r*cols:(r+1)*cols]...)
	}
	shpCheck(t, "gather", out["y"], []int{2, 2, cols}, rowsWant)
}
