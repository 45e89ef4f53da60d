package testfixture

import (
	"testing"

	"amq/internal/ort"
)

// RequireORT ends the test with Missing when ONNX Runtime cannot be loaded
// (see ort.Available for where it is looked for).
func RequireORT(tb testing.TB) {
	tb.Helper()
	if err := ort.Available(); err != nil {
		Missing(tb, "ONNX Runtime not available: %v", err)
	}
}
