package onnx_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"amq/onnx"
)

// tinyModel builds y = Relu(x·W) for x of shape [1,3] and W of shape [3,2].
func tinyModel() *onnx.Model {
	w := onnx.NewTensor([]int{3, 2}, []float32{1, -1, 2, -2, 3, -3})
	w.Name = "W"
	return &onnx.Model{
		IRVersion: 8,
		Opsets:    map[string]int64{"": 13},
		Graph: &onnx.Graph{
			Name: "tiny",
			Nodes: []*onnx.Node{
				{Name: "mm", OpType: "MatMul", Inputs: []string{"x", "W"}, Outputs: []string{"h"}},
				{Name: "relu", OpType: "Relu", Inputs: []string{"h"}, Outputs: []string{"y"}},
			},
			Inputs:       []*onnx.ValueInfo{{Name: "x", DType: onnx.Float, Shape: onnx.KnownDims([]int{1, 3})}},
			Outputs:      []*onnx.ValueInfo{{Name: "y", DType: onnx.Float}},
			Initializers: map[string]*onnx.Tensor{"W": w},
		},
	}
}

// Example builds a model in Go, saves it, loads it back and infers the
// shape of every tensor.
func Example() {
	dir, err := os.MkdirTemp("", "onnx-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "tiny.onnx")

	if err := tinyModel().Save(path, nil); err != nil {
		log.Fatal(err)
	}
	m, err := onnx.LoadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	shapes, err := onnx.InferShapes(m.Graph, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("opset", m.Opset())
	for _, n := range m.Graph.Nodes {
		fmt.Println(n.OpType, n.Inputs, "->", n.Outputs, shapes[n.Outputs[0]])
	}
	w, _ := m.Graph.Constant("W")
	fmt.Println("W", w.Shape, w.Floats())
	// Output:
	// opset 13
	// MatMul [x W] -> [h] [1 2]
	// Relu [h] -> [y] [1 2]
	// W [3 2] [1 -1 2 -2 3 -3]
}

// ExampleGraph_InsertBefore inserts a node on one input of an existing
// node; the graph's index (Producer, Consumers) stays current.
func ExampleGraph_InsertBefore() {
	g := tinyModel().Graph
	relu := g.Node("relu")
	neg := &onnx.Node{Name: "neg", OpType: "Neg", Inputs: []string{"h"}, Outputs: []string{g.UniqueName("h_neg")}}
	if err := g.InsertBefore(relu, 0, neg); err != nil {
		log.Fatal(err)
	}
	for _, n := range g.Nodes {
		fmt.Println(n.Name, n.Inputs, "->", n.Outputs)
	}
	fmt.Println("producer of relu's input:", g.Producer(relu.Inputs[0]).Name)
	// Output:
	// mm [x W] -> [h]
	// neg [h] -> [h_neg]
	// relu [h_neg] -> [y]
	// producer of relu's input: neg
}

// ExampleNewTensor shows a tensor and its typed data.
func ExampleNewTensor() {
	t := onnx.NewTensor([]int{2, 3}, []int64{1, 2, 3, 4, 5, 6})
	d, err := onnx.Data[int64](t)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(t.DType, t.Shape, t.Len(), d[4])
	// Output:
	// INT64 [2 3] 6 5
}
