package sim

import (
	"reflect"
	"strings"
	"testing"

	"amq/backend"
	"amq/onnx"
)

// TestBackendReturnsObservedTensors checks the backend.Backend of sim, as
// the flow opens it by name: observed intermediate tensors come back with
// the outputs (computed here independently), and an undefined one is
// refused at Prepare.
func TestBackendReturnsObservedTensors(t *testing.T) {
	t.Parallel()
	m := &onnx.Model{
		IRVersion: 8,
		Opsets:    map[string]int64{"": 13},
		Graph: &onnx.Graph{
			Name: "g",
			Nodes: []*onnx.Node{
				{Name: "relu", OpType: "Relu", Inputs: []string{"x"}, Outputs: []string{"r"}},
				{Name: "add", OpType: "Add", Inputs: []string{"r", "x"}, Outputs: []string{"y"}},
			},
			Inputs:       []*onnx.ValueInfo{{Name: "x", DType: onnx.Float, Shape: onnx.KnownDims([]int{4})}},
			Outputs:      []*onnx.ValueInfo{{Name: "y", DType: onnx.Float}},
			Initializers: map[string]*onnx.Tensor{},
			ValueInfo:    map[string]*onnx.ValueInfo{},
		},
	}
	m.Graph.Reindex()
	b, err := backend.Open("sim", backend.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Prepare(m, []string{"nope"}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("observing an undefined tensor: error %v", err)
	}
	r, err := b.Prepare(m, []string{"r"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	xs := []float32{-2, -0.5, 0, 3}
	res, err := r.Run(map[string]*onnx.Tensor{"x": onnx.NewTensor([]int{4}, xs)})
	if err != nil {
		t.Fatal(err)
	}
	wantR, wantY := make([]float32, 4), make([]float32, 4)
	for i, v := range xs {
		wantR[i] = max(v, 0)
		wantY[i] = wantR[i] + v
	}
	if res["r"] == nil || !reflect.DeepEqual(res["r"].Data, wantR) {
		t.Errorf("observed r = %v, want %v", res["r"], wantR)
	}
	if res["y"] == nil || !reflect.DeepEqual(res["y"].Data, wantY) {
		t.Errorf("output y = %v, want %v", res["y"], wantY)
	}
}
