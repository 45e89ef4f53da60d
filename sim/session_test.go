package sim

import (
	"testing"

	"amq/onnx"
)

// TestNewSessionNamesEveryUnsupportedOperatorAtOnce checks that a model
// with several operators sim lacks is refused with all of them named, so
// that the user learns in one run what is missing.
func TestNewSessionNamesEveryUnsupportedOperatorAtOnce(t *testing.T) {
	t.Parallel()
	vi := func(n string) *onnx.ValueInfo {
		return &onnx.ValueInfo{Name: n, DType: onnx.Float, Shape: onnx.KnownDims([]int{4})}
	}
	m := &onnx.Model{IRVersion: 8, Opsets: map[string]int64{"": 13}, Graph: &onnx.Graph{
		Name: "g",
		Nodes: []*onnx.Node{
			{Name: "a", OpType: "Relu", Inputs: []string{"x"}, Outputs: []string{"r"}},
			{Name: "b", OpType: "Frobnicate", Inputs: []string{"r"}, Outputs: []string{"f"}},
			{Name: "c", OpType: "Frobnicate", Inputs: []string{"f"}, Outputs: []string{"g"}},
			{Name: "d", OpType: "Custom", Domain: "com.example", Inputs: []string{"g"}, Outputs: []string{"y"}},
		},
		Inputs: []*onnx.ValueInfo{vi("x")}, Outputs: []*onnx.ValueInfo{vi("y")},
		Initializers: map[string]*onnx.Tensor{}, ValueInfo: map[string]*onnx.ValueInfo{},
	}}
	m.Graph.Reindex()
	_, err := NewSession(m, nil)
	want := `sim does not support 2 operators of this model: Frobnicate (nodes "b", "c"); com.example.Custom (nodes "d")`
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant   %s", err, want)
	}
}
