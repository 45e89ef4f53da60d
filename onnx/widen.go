package onnx

// WidenHalfFloats rewrites g, in place, to compute in float32 where it
// computed in float16 or bfloat16: FLOAT16 and BFLOAT16 initializers,
// Constant and ConstantOfShape values and intermediate value infos become
// FLOAT (the values are those the model holds, widened exactly), Casts to
// them cast to FLOAT, and graph inputs and outputs keep their types
// through a Cast after each such input and before each such output. It
// reports whether anything changed. Tensors and attributes are replaced,
// never written, so that a graph sharing them with another (CloneShared)
// leaves the other's alone. Subgraphs (If, Loop, Scan) are not rewritten.
//
// An initializer held as Halves (LoadFileHalves) becomes a FLOAT tensor
// holding HalfFloats: the same values, still 16 bits each in memory.
//
// This is how amq quantizes a float16 model (docs/design.md "Loading large
// models"): the flow computes, balances and quantizes in float32 from the
// model's own values.
func (g *Graph) WidenHalfFloats() bool {
	half := func(dt DataType) bool { return dt == Float16 || dt == BFloat16 }
	asFloat := func(t *Tensor) *Tensor {
		w := t.Widened()
		return &Tensor{Name: w.Name, DType: Float, Shape: w.Shape, Data: w.Data}
	}
	changed := false
	for name, t := range g.Initializers {
		if !half(t.DType) {
			continue
		}
		if h, ok := t.Data.(Halves); ok {
			// Kept 16-bit (LoadFileHalves): widened by whoever reads it.
			g.Initializers[name] = &Tensor{Name: t.Name, DType: Float, Shape: t.Shape, Data: HalfFloats{Type: t.DType, Halves: h}}
		} else {
			g.Initializers[name] = asFloat(t)
		}
		changed = true
	}
	for _, n := range g.Nodes {
		for k, a := range n.Attrs {
			switch {
			case a.Type == AttrTensor && a.T != nil && half(a.T.DType) && n.Domain == "":
				c := *a
				c.T = asFloat(a.T)
				n.Attrs[k] = &c
				changed = true
			case k == "to" && a.Type == AttrInt && half(DataType(a.I)) && n.OpType == "Cast" && n.Domain == "":
				c := *a
				c.I = int64(Float)
				n.Attrs[k] = &c
				changed = true
			}
		}
	}
	for name, vi := range g.ValueInfo {
		if half(vi.DType) {
			c := *vi
			c.DType = Float
			g.ValueInfo[name] = &c
			changed = true
		}
	}
	var head, tail []*Node
	for _, in := range g.Inputs {
		if !half(in.DType) {
			continue
		}
		wide := in.Name + "/amq_float"
		for _, n := range g.Nodes {
			for i, x := range n.Inputs {
				if x == in.Name {
					n.Inputs[i] = wide
				}
			}
		}
		head = append(head, castNode(in.Name, wide, Float))
		changed = true
	}
	for _, out := range g.Outputs {
		if !half(out.DType) {
			continue
		}
		name := out.Name
		if name == "" {
			continue
		}
		wide := name + "/amq_float"
		for _, n := range g.Nodes {
			for i, x := range n.Outputs {
				if x == name {
					n.Outputs[i] = wide
				}
			}
			for i, x := range n.Inputs {
				if x == name {
					n.Inputs[i] = wide
				}
			}
		}
		tail = append(tail, castNode(wide, name, out.DType))
		changed = true
	}
	if changed {
		g.Nodes = append(append(head, g.Nodes...), tail...)
		g.Reindex()
	}
	return changed
}

// castNode is a Cast of in to type to, named after its output.
func castNode(in, out string, to DataType) *Node {
	n := &Node{Name: out + "/Cast", OpType: "Cast", Inputs: []string{in}, Outputs: []string{out}, Attrs: map[string]*Attr{}}
	n.SetAttr("to", int64(to))
	return n
}
