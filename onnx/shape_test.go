package onnx

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// torchReshapeGraph is what torch.onnx exports for x.view(x.size(0), -1):
// Shape -> Gather(0) -> Unsqueeze -> Concat with [-1] -> Reshape.
func torchReshapeGraph(opset13 bool) *Graph {
	g := &Graph{
		Inputs:  []*ValueInfo{{Name: "x", DType: Float, Shape: []Dim{{Param: "N"}, {Value: 3}, {Value: 4}, {Value: 5}}}},
		Outputs: []*ValueInfo{{Name: "y"}},
		Initializers: map[string]*Tensor{
			"zero":  {Name: "zero", DType: Int64, Shape: []int{}, Data: []int64{0}},
			"minus": {Name: "minus", DType: Int64, Shape: []int{1}, Data: []int64{-1}},
			"ax0":   {Name: "ax0", DType: Int64, Shape: []int{1}, Data: []int64{0}},
		},
	}
	unsq := &Node{Name: "unsq", OpType: "Unsqueeze", Inputs: []string{"n"}, Outputs: []string{"n1"}}
	if opset13 {
		unsq.Inputs = append(unsq.Inputs, "ax0")
	} else {
		unsq.SetAttr("axes", []int64{0})
	}
	cat := &Node{Name: "cat", OpType: "Concat", Inputs: []string{"n1", "minus"}, Outputs: []string{"shape"}}
	cat.SetAttr("axis", int64(0))
	g.Nodes = []*Node{
		{Name: "shape_of", OpType: "Shape", Inputs: []string{"x"}, Outputs: []string{"s"}},
		{Name: "gather", OpType: "Gather", Inputs: []string{"s", "zero"}, Outputs: []string{"n"}},
		unsq, cat,
		{Name: "reshape", OpType: "Reshape", Inputs: []string{"x", "shape"}, Outputs: []string{"flat"}},
		{Name: "relu", OpType: "Relu", Inputs: []string{"flat"}, Outputs: []string{"y"}},
	}
	g.Reindex()
	return g
}

func TestInferShapesFoldsTorchReshape(t *testing.T) {
	for _, opset13 := range []bool{false, true} {
		g := torchReshapeGraph(opset13)
		for _, batch := range []int{1, 7} {
			got, err := InferShapes(g, map[string][]int{"x": {batch, 3, 4, 5}})
			if err != nil {
				t.Fatal(err)
			}
			if want := []int{batch, 60}; !reflect.DeepEqual(got["y"], want) {
				t.Errorf("batch %d: y has shape %v, want %v", batch, got["y"], want)
			}
			if !reflect.DeepEqual(got["shape"], []int{2}) {
				t.Errorf("shape tensor has shape %v, want [2]", got["shape"])
			}
		}
		// Without a shape for the symbolic batch dimension it is an error.
		if _, err := InferShapes(g, nil); err == nil || !strings.Contains(err.Error(), `"x"`) {
			t.Errorf("missing input shape: error %v", err)
		}
	}
}

func TestInferValueInfoWritesTypes(t *testing.T) {
	g := torchReshapeGraph(true)
	if err := g.InferValueInfo(map[string][]int{"x": {2, 3, 4, 5}}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]struct {
		dt    DataType
		shape []int
	}{"s": {Int64, []int{4}}, "n": {Int64, []int{}}, "n1": {Int64, []int{1}}, "flat": {Float, []int{2, 60}}} {
		vi := g.ValueInfo[name]
		if vi == nil {
			t.Errorf("no value info for %q", name)
			continue
		}
		dims, ok := vi.Dims()
		if vi.DType != want.dt || !ok || !reflect.DeepEqual(dims, want.shape) {
			t.Errorf("%q: %v %v, want %v %v", name, vi.DType, vi.Shape, want.dt, want.shape)
		}
	}
	if d, _ := g.Outputs[0].Dims(); g.Outputs[0].DType != Float || !reflect.DeepEqual(d, []int{2, 60}) {
		t.Errorf("graph output: %v %v", g.Outputs[0].DType, g.Outputs[0].Shape)
	}
}

// TestInferShapesWindows checks the convolution and pooling formulas
// against sizes worked out by hand.
func TestInferShapesWindows(t *testing.T) {
	node := func(op string, attrs map[string]any, inputs ...string) *Node {
		n := &Node{Name: "n", OpType: op, Inputs: inputs, Outputs: []string{"y"}}
		for k, v := range attrs {
			n.SetAttr(k, v)
		}
		return n
	}
	cases := []struct {
		name string
		n    *Node
		x, w []int
		want []int
	}{
		// (32 + 2 - 3)/2 + 1 = 16
		{"conv stride 2 pad 1", node("Conv", map[string]any{"strides": []int64{2, 2}, "pads": []int64{1, 1, 1, 1}}, "x", "w"), []int{1, 3, 32, 32}, []int{8, 3, 3, 3}, []int{1, 8, 16, 16}},
		// dilation 2: kernel spans 5; (10 - 5)/1 + 1 = 6; group 2 keeps W[0] = 4 channels
		{"conv dilated grouped", node("Conv", map[string]any{"dilations": []int64{2}, "group": int64(2)}, "x", "w"), []int{2, 4, 10}, []int{4, 2, 3}, []int{2, 4, 6}},
		// SAME_UPPER: ceil(7/2) = 4
		{"conv same", node("Conv", map[string]any{"auto_pad": "SAME_UPPER", "strides": []int64{2, 2}}, "x", "w"), []int{1, 1, 7, 7}, []int{1, 1, 3, 3}, []int{1, 1, 4, 4}},
		// 2*(5-1) + 1 + 3 - 1 - 1 = 10; channels W[1]*group = 3*2
		{"convtranspose", node("ConvTranspose", map[string]any{"strides": []int64{2, 2}, "pads": []int64{1, 1, 1, 1}, "output_padding": []int64{1, 1}, "group": int64(2)}, "x", "w"), []int{1, 4, 5, 5}, []int{4, 3, 3, 3}, []int{1, 6, 10, 10}},
		// floor((6 - 3)/2) + 1 = 2; ceil: 3, and the 3rd window starts at 4 < 6
		{"maxpool floor", node("MaxPool", map[string]any{"kernel_shape": []int64{3, 3}, "strides": []int64{2, 2}}, "x"), []int{1, 2, 6, 6}, nil, []int{1, 2, 2, 2}},
		{"maxpool ceil", node("MaxPool", map[string]any{"kernel_shape": []int64{3, 3}, "strides": []int64{2, 2}, "ceil_mode": int64(1)}, "x"), []int{1, 2, 6, 6}, nil, []int{1, 2, 3, 3}},
		// ceil mode with padding 1: span 5+2-2 = 5, ceil(5/2)+1 = 4 windows,
		// but the 4th would start at 6 >= 5+1 (in the right padding only):
		// dropped, as PyTorch's AvgPool1d(2, 2, padding=1, ceil_mode=True) gives 3.
		{"avgpool ceil pad", node("AveragePool", map[string]any{"kernel_shape": []int64{2}, "strides": []int64{2}, "pads": []int64{1, 1}, "ceil_mode": int64(1)}, "x"), []int{1, 1, 5}, nil, []int{1, 1, 3}},
		{"global pool", node("GlobalAveragePool", nil, "x"), []int{3, 5, 7, 9}, nil, []int{3, 5, 1, 1}},
		{"gemm transB", node("Gemm", map[string]any{"transB": int64(1)}, "x", "w"), []int{4, 16}, []int{10, 16}, []int{4, 10}},
		{"matmul batched", node("MatMul", nil, "x", "w"), []int{2, 1, 5, 3}, []int{4, 3, 6}, []int{2, 4, 5, 6}},
		{"matmul vector", node("MatMul", nil, "x", "w"), []int{3}, []int{2, 3, 6}, []int{2, 6}},
		{"reduce keepdims", node("ReduceMean", map[string]any{"axes": []int64{-1}}, "x"), []int{2, 3, 4}, nil, []int{2, 3, 1}},
		{"reduce all", node("ReduceSum", map[string]any{"keepdims": int64(0)}, "x"), []int{2, 3, 4}, nil, []int{}},
		{"broadcast", node("Add", nil, "x", "w"), []int{2, 1, 4}, []int{3, 1}, []int{2, 3, 4}},
	}
	for _, c := range cases {
		g := &Graph{Nodes: []*Node{c.n}, Inputs: []*ValueInfo{{Name: "x", DType: Float}}, Outputs: []*ValueInfo{{Name: "y"}}}
		shapes := map[string][]int{"x": c.x}
		if c.w != nil {
			g.Inputs = append(g.Inputs, &ValueInfo{Name: "w", DType: Float})
			shapes["w"] = c.w
		}
		got, err := InferShapes(g, shapes)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !slices.Equal(got["y"], c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got["y"], c.want)
		}
	}
}

func TestInferShapesErrorsNameTheNode(t *testing.T) {
	g := &Graph{
		Inputs:  []*ValueInfo{{Name: "x", DType: Float}, {Name: "s", DType: Int64}},
		Outputs: []*ValueInfo{{Name: "y"}},
		Nodes:   []*Node{{Name: "my_reshape", OpType: "Reshape", Inputs: []string{"x", "s"}, Outputs: []string{"y"}}},
	}
	_, err := InferShapes(g, map[string][]int{"x": {2, 3}, "s": {2}})
	if err == nil || !strings.Contains(err.Error(), `"my_reshape"`) || !strings.Contains(err.Error(), "run time") {
		t.Errorf("data-dependent reshape: error %v", err)
	}
	g.Nodes = []*Node{{Name: "weird", OpType: "FancyOp", Inputs: []string{"x"}, Outputs: []string{"y"}}}
	_, err = InferShapes(g, map[string][]int{"x": {2, 3}, "s": {2}})
	if err == nil || !strings.Contains(err.Error(), `"weird"`) || !strings.Contains(err.Error(), "FancyOp") {
		t.Errorf("unknown op: error %v", err)
	}
	if _, err := InferShapes(g, map[string][]int{"nope": {1}}); err == nil {
		t.Error("shape for a non-input accepted")
	}
}
