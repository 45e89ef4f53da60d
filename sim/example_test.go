package sim_test

import (
	"fmt"
	"log"
	"slices"

	"amq/onnx"
	"amq/sim"
)

// Example runs y = Relu(x·W + b) on the pure-Go executor and also fetches
// the intermediate tensor h = x·W, as calibration does to observe
// activations.
func Example() {
	w := onnx.NewTensor([]int{3, 2}, []float32{1, -1, 2, -2, 3, -3})
	w.Name = "W"
	b := onnx.NewTensor([]int{2}, []float32{0.5, 0.5})
	b.Name = "b"
	m := &onnx.Model{
		IRVersion: 8,
		Opsets:    map[string]int64{"": 13},
		Graph: &onnx.Graph{
			Name: "tiny",
			Nodes: []*onnx.Node{
				{Name: "mm", OpType: "MatMul", Inputs: []string{"x", "W"}, Outputs: []string{"h"}},
				{Name: "add", OpType: "Add", Inputs: []string{"h", "b"}, Outputs: []string{"z"}},
				{Name: "relu", OpType: "Relu", Inputs: []string{"z"}, Outputs: []string{"y"}},
			},
			Inputs:       []*onnx.ValueInfo{{Name: "x", DType: onnx.Float, Shape: onnx.KnownDims([]int{2, 3})}},
			Outputs:      []*onnx.ValueInfo{{Name: "y", DType: onnx.Float}},
			Initializers: map[string]*onnx.Tensor{"W": w, "b": b},
		},
	}
	s, err := sim.NewSession(m, &sim.Options{Threads: 1})
	if err != nil {
		log.Fatal(err)
	}
	x := onnx.NewTensor([]int{2, 3}, []float32{1, 0, 0, 1, 1, 1})
	out, err := s.Run(map[string]*onnx.Tensor{"x": x}, "h")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("h", out["h"].Shape, out["h"].Floats())
	fmt.Println("y", out["y"].Shape, out["y"].Floats())
	// Output:
	// h [2 2] [1 -1 6 -6]
	// y [2 2] [1.5 0 6.5 0]
}

// ExampleSupportedOps asks which operators sim executes; they include the
// Ascend operators of deploy models, so sim can validate those too.
func ExampleSupportedOps() {
	ops := sim.SupportedOps()
	for _, op := range []string{"AscendQuant", "AscendDequant", "Conv", "Gemm"} {
		fmt.Println(op, slices.Contains(ops, op))
	}
	fmt.Println("sorted:", slices.IsSorted(ops))
	// Output:
	// AscendQuant true
	// AscendDequant true
	// Conv true
	// Gemm true
	// sorted: true
}
