package quant

import (
	"math"
	"strings"
	"testing"

	"amq/onnx"
)

// TestReviewChannelMaxRejectsInf checks that DMQ's per-channel maximum fails
// on infinite activations, as it does on NaN and as the calibration
// histograms do: an infinite maximum would give the clamped factor
// 1/FLT_EPSILON to its channel and push every zero-weight channel's factor
// to FLT_EPSILON, silently.
func TestReviewChannelMaxRejectsInf(t *testing.T) {
	for _, v := range []float32{float32(math.Inf(1)), float32(math.Inf(-1))} {
		x := onnx.NewTensor([]int{2, 3}, []float32{1, 2, 3, 4, v, 6})
		x.Name = "act"
		c := &ChannelMax{Axis: -1}
		err := c.Observe(x)
		if err == nil {
			t.Fatalf("value %v: Observe returned no error; Max = %v", v, c.Max)
		}
		if !strings.Contains(err.Error(), `"act"`) || !strings.Contains(err.Error(), "channel 1") {
			t.Errorf("value %v: error %q does not name the tensor and channel", v, err)
		}
	}
}

// TestReviewTensorSourceBadInputs checks that NewTensorSource rejects, with
// an error naming the problem, inputs that would make Batch panic or report
// a nonsensical sample count.
func TestReviewTensorSourceBadInputs(t *testing.T) {
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
