package onnx_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"amq/onnx"
)

// constantModel is a graph whose weights are Constant nodes, as
// Paddle2ONNX exports them: a large float32 constant (its raw_data taken
// out of the protobuf by the load's scan), a large float16 one, a large
// int64 one and a small float32 one (decoded as they are).
func constantModel() *onnx.Model {
	big := make([]float32, 5000)
	half := make([]float32, 3000)
	ints := make([]int64, 1000)
	for i := range big {
		big[i] = float32(i)*0.25 - 300
	}
	for i := range half {
		half[i] = float32(i%512) / 8
	}
	for i := range ints {
		ints[i] = int64(i) * -7
	}
	h := onnx.NewTensor([]int{3000}, half) // values exact in float16
	h.DType = onnx.Float16
	g := &onnx.Graph{Name: "constants", Initializers: map[string]*onnx.Tensor{}, ValueInfo: map[string]*onnx.ValueInfo{}}
	add := func(name string, t *onnx.Tensor) {
		n := &onnx.Node{Name: name, OpType: "Constant", Outputs: []string{name}, Attrs: map[string]*onnx.Attr{}}
		n.SetAttr("value", t)
		g.Nodes = append(g.Nodes, n)
		g.Outputs = append(g.Outputs, &onnx.ValueInfo{Name: name, DType: t.DType, Shape: onnx.KnownDims(t.Shape)})
	}
	add("big", onnx.NewTensor([]int{50, 100}, big))
	add("half", h)
	add("ints", onnx.NewTensor([]int{1000}, ints))
	add("small", onnx.NewTensor([]int{3}, []float32{1, 2, 3}))
	return &onnx.Model{IRVersion: 8, Opsets: map[string]int64{"": 13}, Graph: g}
}

// TestLoadFileGivesConstantNodesTheSameTensors checks that the Constant
// nodes' tensors read the same whether the model is decoded from bytes,
// read from its file (large raw_data used in place) or memory-mapped, and,
// with LoadFileHalves, that a float16 Constant is widened as before.
func TestLoadFileGivesConstantNodesTheSameTensors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "constants.onnx")
	if err := constantModel().Save(path, nil); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := onnx.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	loads := map[string]func() (*onnx.Model, error){
		"read":   func() (*onnx.Model, error) { return onnx.LoadFile(path) },
		"halves": func() (*onnx.Model, error) { return onnx.LoadFileHalves(path) },
		"mapped": func() (*onnx.Model, error) {
			defer onnx.SetMapMin(0)()
			return onnx.LoadFile(path)
		},
	}
	for name, load := range loads {
		got, err := load()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, n := range want.Graph.Nodes {
			w := n.Attrs["value"].T
			gn := got.Graph.Node(n.Name)
			if gn == nil || gn.Attrs["value"] == nil || gn.Attrs["value"].T == nil {
				t.Fatalf("%s: node %q has no value tensor", name, n.Name)
			}
			g := gn.Attrs["value"].T
			if g.DType != w.DType || !reflect.DeepEqual(g.Shape, w.Shape) || !reflect.DeepEqual(g.Data, w.Data) {
				t.Errorf("%s: Constant %q is %v %v %T, want %v %v %T as decoded", name, n.Name, g.DType, g.Shape, g.Data, w.DType, w.Shape, w.Data)
			}
		}
	}
	if f, ok := want.Graph.Node("big").Attrs["value"].T.Data.([]float32); !ok || f[4999] != 4999*0.25-300 {
		t.Errorf("decoded Constant big: %T, want its float32 values", want.Graph.Node("big").Attrs["value"].T.Data)
	}
}
