package quant

import (
	"strings"
	"testing"

	"amq/onnx"
)

// TestNewTensorSourceRejectsShortDataAndNoInputs checks that
// NewTensorSource rejects, with an error naming the problem, inputs that
// would make Batch panic or report a nonsensical sample count.
func TestNewTensorSourceRejectsShortDataAndNoInputs(t *testing.T) {
	t.Parallel()
	// Shape says 4 samples of 3 values, the data holds 6 values.
	short := &onnx.Tensor{Name: "x", DType: onnx.Float, Shape: []int{4, 3}, Data: make([]float32, 6)}
	s, err := NewTensorSource(map[string]*onnx.Tensor{"x": short}, 2)
	if err == nil {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("Batch(1) panicked: %v", r)
				}
			}()
			_, err = s.Batch(1)
		}()
		t.Fatalf("NewTensorSource accepted data of %d values for shape %v (Batch(1) error: %v)", short.Len(), short.Shape, err)
	}
	if !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("error %q does not name the input", err)
	}

	_, err = NewTensorSource(map[string]*onnx.Tensor{}, 2)
	if err == nil || strings.Contains(err.Error(), "-1") {
		t.Errorf("no inputs: error %v, want one saying there are no inputs", err)
	}
}
