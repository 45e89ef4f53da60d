package onnx

import "fmt"

// ConstantValue returns the value of a Constant node from its one value
// attribute: value (the tensor itself, not a copy), value_float and
// value_int (scalars), value_floats and value_ints (1-D tensors of a copy
// of the list), value_string and value_strings. Other attributes, such as
// sparse_value, and a node with other than one attribute are errors.
func ConstantValue(n *Node) (*Tensor, error) {
	if len(n.Attrs) != 1 {
		return nil, fmt.Errorf("needs exactly one value attribute, has %d", len(n.Attrs))
	}
	for name, a := range n.Attrs {
		switch {
		case name == "value" && a.Type == AttrTensor:
			return a.T, nil
		case name == "value_float" && a.Type == AttrFloat:
			return NewTensor([]int{}, []float32{a.F}), nil
		case name == "value_floats" && a.Type == AttrFloats:
			return NewTensor([]int{len(a.Floats)}, append([]float32(nil), a.Floats...)), nil
		case name == "value_int" && a.Type == AttrInt:
			return NewTensor([]int{}, []int64{a.I}), nil
		case name == "value_ints" && a.Type == AttrInts:
			return NewTensor([]int{len(a.Ints)}, append([]int64(nil), a.Ints...)), nil
		case name == "value_string" && a.Type == AttrString:
			return NewTensor([]int{}, []string{a.S}), nil
		case name == "value_strings" && a.Type == AttrStrings:
			return NewTensor([]int{len(a.Strings)}, append([]string(nil), a.Strings...)), nil
		}
		return nil, fmt.Errorf("attribute %q (%v) is not supported", name, a.Type)
	}
	return nil, nil // unreachable: one attribute exists
}

// Constant returns the constant value of tensor name when it is an
// initializer, the output of a Constant node with a tensor value, or the
// output of an Identity chain over one of those (torch.onnx shares equal
// initializers that way). The tensor is the graph's own, which callers may
// edit in place; for that reason the Constant forms that ConstantValue
// builds a new tensor for (value_float, value_ints, ...) do not count.
func (g *Graph) Constant(name string) (*Tensor, bool) {
	for range len(g.Nodes) + 1 {
		if t, ok := g.Initializers[name]; ok {
			return t, true
		}
		p := g.Producer(name)
		switch {
		case p == nil:
			return nil, false
		case p.OpType == "Constant" && p.Domain == "":
			if t := p.AttrTensor("value"); t != nil {
				return t, true
			}
			return nil, false
		case p.OpType == "Identity" && p.Domain == "":
			name = p.Inputs[0]
		default:
			return nil, false
		}
	}
	return nil, false
}

// ConstantSource returns the initializer name behind tensor name, following
// Identity nodes, or "" when name is not an initializer-backed constant.
func (g *Graph) ConstantSource(name string) string {
	for range len(g.Nodes) + 1 {
		if _, ok := g.Initializers[name]; ok {
			return name
		}
		p := g.Producer(name)
		if p == nil || p.OpType != "Identity" || p.Domain != "" {
			return ""
		}
		name = p.Inputs[0]
	}
	return ""
}
