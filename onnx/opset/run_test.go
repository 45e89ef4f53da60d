package opset_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"amq/internal/ort"
	"amq/onnx"
	"amq/sim"
)

// The references of this package's tests: the model before conversion in
// ONNX Runtime (which implements the old operator versions itself), and the
// conformance suite's stored outputs.

// reload serializes m and reads it back, so that what runs is what a saved
// model holds.
func reload(t *testing.T, m *onnx.Model) *onnx.Model {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	r, err := onnx.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// runORT runs m once in ONNX Runtime.
func runORT(t *testing.T, m *onnx.Model, in map[string]*onnx.Tensor) map[string]*onnx.Tensor {
	t.Helper()
	s, err := ort.NewSessionFromModel(m, nil)
	if err != nil {
		t.Fatalf("ONNX Runtime session (opset %d): %v", m.Opset(), err)
	}
	defer s.Close()
	out, err := s.Run(in)
	if err != nil {
		t.Fatalf("ONNX Runtime (opset %d): %v", m.Opset(), err)
	}
	return out
}

// runSim runs m once in sim.
func runSim(t *testing.T, m *onnx.Model, in map[string]*onnx.Tensor) map[string]*onnx.Tensor {
	t.Helper()
	s, err := sim.NewSession(m, &sim.Options{Threads: 1})
	if err != nil {
		t.Fatalf("sim session (opset %d): %v", m.Opset(), err)
	}
	out, err := s.Run(in)
	if err != nil {
		t.Fatalf("sim (opset %d): %v", m.Opset(), err)
	}
	return out
}

// simRuns reports whether sim has every operator of m's graph.
func simRuns(m *onnx.Model) bool {
	for _, n := range m.Graph.Nodes {
		if n.Domain != "" || !sim.Supports(n.OpType) {
			return false
		}
	}
	return true
}

// compareOutputs checks every output of want in got: same type and shape,
// floating-point values within |got-want| <= atol + rtol·|want| (NaN
// matching NaN), other types equal.
func compareOutputs(got, want map[string]*onnx.Tensor, rtol, atol float64) error {
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			return fmt.Errorf("output %q missing", name)
		}
		if err := compareTensor(g, w, rtol, atol); err != nil {
			return fmt.Errorf("output %q: %w", name, err)
		}
	}
	return nil
}

func compareTensor(got, want *onnx.Tensor, rtol, atol float64) error {
	if got.DType != want.DType || !slices.Equal(got.Shape, want.Shape) {
		return fmt.Errorf("%v %v, want %v %v", got.DType, got.Shape, want.DType, want.Shape)
	}
	switch want.DType {
	case onnx.Float, onnx.Float16, onnx.BFloat16, onnx.Double:
		g, err1 := got.Float64s()
		w, err2 := want.Float64s()
		if err1 != nil || err2 != nil {
			return fmt.Errorf("values: %v, %v", err1, err2)
		}
		for i := range w {
			if math.IsNaN(w[i]) && math.IsNaN(g[i]) {
				continue
			}
			if !(math.Abs(g[i]-w[i]) <= atol+rtol*math.Abs(w[i])) {
				return fmt.Errorf("element %d is %g, want %g", i, g[i], w[i])
			}
		}
		return nil
	}
	if fmt.Sprint(got.Data) != fmt.Sprint(want.Data) {
		return fmt.Errorf("values %v, want %v", got.Data, want.Data)
	}
	return nil
}
