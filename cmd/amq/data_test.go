package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNegativeBatchSizeIsReportedAsSuch checks that a negative --batch-size
// is reported as such, not as a model without a fixed batch dimension.
func TestNegativeBatchSizeIsReportedAsSuch(t *testing.T) {
	fx := "../../testdata/fixtures/mlp"
	model := filepath.Join(fx, "model_op17.onnx")
	if _, err := os.Stat(model); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	out := filepath.Join(t.TempDir(), "q")
	_, err := runAmq(t, "quantize", "--model", model, "--data", filepath.Join(fx, "input.npy"), "--batch-size", "-2", "--out", out)
	if err == nil || !strings.Contains(err.Error(), "--batch-size -2") {
		t.Errorf("quantize --batch-size -2: error %v, want one about --batch-size -2", err)
	}
}
