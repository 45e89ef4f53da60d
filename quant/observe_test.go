package quant

import (
	"math"
	"strings"
	"testing"

	"amq/onnx"
)

// TestChannelMaxRejectsInf checks that DMQ's per-channel maximum fails on
// infinite activations, as it does on NaN and as the calibration histograms
// do: an infinite maximum would give the clamped factor 1/FLT_EPSILON to
// its channel and push every zero-weight channel's factor to FLT_EPSILON,
// silently.
func TestChannelMaxRejectsInf(t *testing.T) {
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
