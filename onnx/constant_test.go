package onnx

import (
	"reflect"
	"strings"
	"testing"
)

func TestConstantValueReadsEachValueAttribute(t *testing.T) {
	tensor := NewTensor([]int{2}, []float32{1, 2})
	cases := []struct {
		attr  string
		value any
		want  *Tensor
	}{
		{"value", tensor, tensor},
		{"value_float", float32(1.5), NewTensor([]int{}, []float32{1.5})},
		{"value_floats", []float32{1, 2, 3}, NewTensor([]int{3}, []float32{1, 2, 3})},
		{"value_int", int64(-4), NewTensor([]int{}, []int64{-4})},
		{"value_ints", []int64{4, 5}, NewTensor([]int{2}, []int64{4, 5})},
		{"value_string", "a", NewTensor([]int{}, []string{"a"})},
		{"value_strings", []string{"a", "b"}, NewTensor([]int{2}, []string{"a", "b"})},
	}
	for _, c := range cases {
		n := &Node{OpType: "Constant"}
		n.SetAttr(c.attr, c.value)
		got, err := ConstantValue(n)
		if err != nil {
			t.Errorf("%s: %v", c.attr, err)
			continue
		}
		if got.DType != c.want.DType || !reflect.DeepEqual(got.Shape, c.want.Shape) || !reflect.DeepEqual(got.Data, c.want.Data) {
			t.Errorf("%s: got %v %v, want %v %v", c.attr, got, got.Data, c.want, c.want.Data)
		}
	}
}

func TestConstantValueTensorIsTheAttributes(t *testing.T) {
	n := &Node{OpType: "Constant"}
	n.SetAttr("value", NewTensor([]int{1}, []int64{7}))
	got, _ := ConstantValue(n)
	if got != n.Attrs["value"].T {
		t.Error("the value attribute's tensor was copied")
	}
	ints := []int64{1, 2}
	n = &Node{OpType: "Constant"}
	n.SetAttr("value_ints", ints)
	got, _ = ConstantValue(n)
	got.Int64s()[0] = 9
	if ints[0] != 1 {
		t.Error("the tensor of value_ints shares the attribute's list")
	}
}

func TestConstantValueRejectsMalformedNodes(t *testing.T) {
	none := &Node{OpType: "Constant"}
	two := &Node{OpType: "Constant"}
	two.SetAttr("value_int", 1)
	two.SetAttr("value_float", 1.0)
	mistyped := &Node{OpType: "Constant"}
	mistyped.SetAttr("value_int", 1.0) // a FLOAT under an INT attribute's name
	sparse := &Node{OpType: "Constant", Attrs: map[string]*Attr{"sparse_value": {Name: "sparse_value", Type: 11}}}
	for _, c := range []struct {
		name string
		n    *Node
		want string
	}{
		{"no attribute", none, "exactly one value attribute, has 0"},
		{"two attributes", two, "exactly one value attribute, has 2"},
		{"mistyped", mistyped, `attribute "value_int" (FLOAT) is not supported`},
		{"sparse", sparse, `attribute "sparse_value" (SPARSE_TENSOR) is not supported`},
	} {
		if _, err := ConstantValue(c.n); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
}

func TestGraphConstantFollowsIdentityToTensorValues(t *testing.T) {
	w := NewTensor([]int{1}, []float32{3})
	c := &Node{Name: "c", OpType: "Constant", Outputs: []string{"c"}}
	c.SetAttr("value", w)
	f := &Node{Name: "f", OpType: "Constant", Outputs: []string{"f"}}
	f.SetAttr("value_float", 2.0)
	id := &Node{Name: "id", OpType: "Identity", Inputs: []string{"c"}, Outputs: []string{"id"}}
	g := &Graph{Nodes: []*Node{c, f, id}, Initializers: map[string]*Tensor{"init": w}}
	for _, name := range []string{"init", "c", "id"} {
		if got, ok := g.Constant(name); !ok || got != w {
			t.Errorf("Constant(%q) = %v, %v; want the graph's tensor", name, got, ok)
		}
	}
	if _, ok := g.Constant("f"); ok {
		t.Error("a value_float Constant counts as a graph constant")
	}
	if got := g.ConstantSource("id"); got != "" {
		t.Errorf("ConstantSource of a Constant node's output = %q, want none", got)
	}
}
