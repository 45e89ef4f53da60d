package main

import (
	"path/filepath"
	"strings"
	"testing"

	"amq/internal/testfixture"
)

// TestNegativeBatchSizeIsReportedAsSuch checks that a negative --batch-size
// is reported as such, not as a model without a fixed batch dimension.
func TestNegativeBatchSizeIsReportedAsSuch(t *testing.T) {
	t.Parallel()
	model := testfixture.Path(t, "fixtures", "mlp", "model_op17.onnx")
	data := testfixture.Path(t, "fixtures", "mlp", "input.npy")
	out := filepath.Join(t.TempDir(), "q")
	_, err := amq(t, "quantize", "--model", model, "--data", data, "--batch-size", "-2", "--out", out)
	if err == nil || !strings.Contains(err.Error(), "--batch-size -2") {
		t.Errorf("quantize --batch-size -2: error %v, want one about --batch-size -2", err)
	}
}
