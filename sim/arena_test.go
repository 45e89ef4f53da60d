package sim

import (
	"errors"
	"reflect"
	"testing"

	"amq/onnx"
)

// viewModel computes y = Reshape(Relu(x)) + Reshape(2x): the Relu's
// buffer is last read by the Reshape, whose output is a view of it that
// lives on while 2x is computed, so a run that gave the buffer back at
// the Relu's last reader would compute 2x into the view.
func viewModel() *onnx.Model {
	vi := func(n string, shape ...int) *onnx.ValueInfo {
		return &onnx.ValueInfo{Name: n, DType: onnx.Float, Shape: onnx.KnownDims(shape)}
	}
	m := &onnx.Model{IRVersion: 8, Opsets: map[string]int64{"": 13}, Graph: &onnx.Graph{
		Name: "g",
		Nodes: []*onnx.Node{
			{Name: "relu", OpType: "Relu", Inputs: []string{"x"}, Outputs: []string{"r"}},
			{Name: "view", OpType: "Reshape", Inputs: []string{"r", "shape"}, Outputs: []string{"v"}},
			{Name: "double", OpType: "Mul", Inputs: []string{"x", "two"}, Outputs: []string{"d"}},
			{Name: "dview", OpType: "Reshape", Inputs: []string{"d", "shape"}, Outputs: []string{"dv"}},
			{Name: "sum", OpType: "Add", Inputs: []string{"v", "dv"}, Outputs: []string{"y"}},
		},
		Inputs:  []*onnx.ValueInfo{vi("x", 2, 3)},
		Outputs: []*onnx.ValueInfo{vi("y", 6)},
		Initializers: map[string]*onnx.Tensor{
			"shape": onnx.NewTensor([]int{1}, []int64{6}),
			"two":   onnx.NewTensor(nil, []float32{2}),
		},
		ValueInfo: map[string]*onnx.ValueInfo{},
	}}
	m.Graph.Reindex()
	return m
}

func viewModelWant(x []float32) []float32 {
	want := make([]float32, len(x))
	for i, v := range x {
		want[i] = max(v, 0) + 2*v
	}
	return want
}

// TestRunReusesBuffersOnlyAfterTheirViews: buffers go back to the arena
// when the last tensor in them, views included, is dead; results are the
// caller's and stay as they were while later runs reuse the buffers.
func TestRunReusesBuffersOnlyAfterTheirViews(t *testing.T) {
	t.Parallel()
	s, err := NewSession(viewModel(), &Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	var kept []map[string]*onnx.Tensor
	var wants [][]float32
	for run := range 4 {
		x := []float32{-1, 2, -3, 4, -5, float32(run)}
		var fetch []string
		if run%2 == 1 {
			fetch = []string{"r"} // then r's buffer is not the view's alone
		}
		res, err := s.Run(map[string]*onnx.Tensor{"x": onnx.NewTensor([]int{2, 3}, x)}, fetch...)
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, res)
		wants = append(wants, viewModelWant(x))
	}
	for run, res := range kept {
		if got := res["y"].Floats(); !reflect.DeepEqual(got, wants[run]) {
			t.Errorf("run %d: y = %v, want %v", run, got, wants[run])
		}
		if run%2 == 0 {
			continue
		}
		if got := res["r"].Floats(); got[5] != float32(run) || got[0] != 0 {
			t.Errorf("run %d: fetched r = %v changed after later runs", run, got)
		}
	}
	if n := len(s.mem.idle); n != 1 {
		t.Errorf("%d idle arenas after sequential runs, want 1", n)
	}
	if free := s.mem.idle[0].free; len(free) == 0 || len(free) > 4 {
		t.Errorf("the arena keeps %d buffers for a graph of 4 float tensors", len(free))
	}
}

// TestRunObservedHandsOverTensorsAsComputed: every watched tensor, graph
// input included, reaches the observer once with its value, while the
// run goes on; the observer's error stops the run as it is.
func TestRunObservedHandsOverTensorsAsComputed(t *testing.T) {
	t.Parallel()
	s, err := NewSession(viewModel(), &Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	x := []float32{-1, 2, -3, 4, -5, 6}
	in := map[string]*onnx.Tensor{"x": onnx.NewTensor([]int{2, 3}, x)}
	var order []string
	seen := map[string][]float32{}
	res, err := s.RunObserved(in, []string{"d", "x", "r", "y"}, func(name string, t *onnx.Tensor) error {
		order = append(order, name)
		seen[name] = append([]float32(nil), t.Floats()...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"x", "r", "d", "y"}; !reflect.DeepEqual(order, want) {
		t.Errorf("observed in the order %v, want the graph's %v", order, want)
	}
	wantR, wantD := make([]float32, 6), make([]float32, 6)
	for i, v := range x {
		wantR[i], wantD[i] = max(v, 0), 2*v
	}
	for name, want := range map[string][]float32{"x": x, "r": wantR, "d": wantD, "y": viewModelWant(x)} {
		if !reflect.DeepEqual(seen[name], want) {
			t.Errorf("observed %s = %v, want %v", name, seen[name], want)
		}
	}
	if len(res) != 1 || !reflect.DeepEqual(res["y"].Floats(), viewModelWant(x)) {
		t.Errorf("result %v, want the graph output y only", res)
	}
	stop := errors.New("enough")
	calls := 0
	_, err = s.RunObserved(in, []string{"r", "y"}, func(string, *onnx.Tensor) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Errorf("observer failing: error %v after %d calls, want its own error after 1", err, calls)
	}
	if _, err := s.RunObserved(in, []string{"nope"}, func(string, *onnx.Tensor) error { return nil }); err == nil {
		t.Error("watching an undefined tensor: no error")
	}
}
