package quant

import (
	"math"
	"path/filepath"
	"testing"

	"amq/onnx"
)

// TestRunFlowLeavesIntegerOutputsOutOfSQNR checks that a model with a
// non-float graph output (here the Gemm output cast to INT64, as a
// class-index output would be) is quantized: the SQNR report covers the
// float outputs and leaves the integer one out, instead of the whole run
// failing in evaluation.
func TestRunFlowLeavesIntegerOutputsOutOfSQNR(t *testing.T) {
	t.Parallel()
	b := newBuilder(31)
	x := b.input("x", 2, 4, 6, 6)
	c1 := b.node("Conv", "c1", map[string]any{"pads": []int64{1, 1, 1, 1}}, x, b.init("w1", 0.5, 0, 8, 4, 3, 3), b.init("b1", 0.3, 0, 8))
	f := b.node("Flatten", "f", nil, c1)
	g := b.node("Gemm", "fc", map[string]any{"transB": int64(1)}, f, b.init("wf", 0.2, 0, 5, 288), b.init("bf", 0.2, 0, 5))
	c := b.node("Cast", "cast", map[string]any{"to": int64(onnx.Int64)}, g)
	m := b.model(g)
	m.Graph.Outputs = append(m.Graph.Outputs, &onnx.ValueInfo{Name: c, DType: onnx.Int64})
	m.Graph.Reindex()

	rep, err := RunFlow(m, testSim, calibData(7, 2), filepath.Join(t.TempDir(), "m"), QuantizeOptions{})
	if err != nil {
		t.Fatalf("RunFlow: %v", err)
	}
	if len(rep.Layers) != 2 {
		t.Fatalf("%d layers quantized, want 2", len(rep.Layers))
	}
	db, ok := rep.Outputs[g]
	if !ok || math.IsNaN(db) || db < 10 {
		t.Errorf("float output %q: SQNR %v (reported %v), want a finite value above 10 dB", g, db, ok)
	}
	if db, ok := rep.Outputs[c]; ok {
		t.Errorf("integer output %q has an SQNR of %v", c, db)
	}
}
