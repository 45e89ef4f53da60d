package dataset

import (
	"math"
	"strings"
	"testing"

	"amq/onnx"
)

// TestBatchNamesFileSampleAndInputOfANonFiniteValue checks that a NaN or
// infinity in the data is reported as its batch is read, naming the file,
// the sample and the input, and that batches without one are served.
func TestBatchNamesFileSampleAndInputOfANonFiniteValue(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		bad  float64
		want string
	}{{math.NaN(), "NaN"}, {math.Inf(-1), "-Inf"}} {
		vals := make([]float64, 8*3)
		vals[5*3+1] = c.bad // sample 5, second value
		p := writeNpy(t, "calib.npy", onnx.NewTensor([]int{8, 3}, vals))
		s, _ := open(t, model(onnx.Float, -1, 3), p, Options{BatchSize: 4})
		if _, err := s.Batch(0); err != nil {
			t.Errorf("batch 0 (samples 0-3) has only finite values: %v", err)
		}
		_, err := s.Batch(1)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), `sample 5, input "x"`) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("batch 1 with %v at sample 5: error %v, want the file, sample 5, input x and the value", c.bad, err)
		}
	}
}
