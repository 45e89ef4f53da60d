package onnx

// Reductions over axes.

func init() {
	inferAs((*shapeInfer).reduce, "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
		"ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")
	inferAs((*shapeInfer).argMinMax, "ArgMax", "ArgMin")
}

// reduce: the axes come from the attribute or, opset 13 and later for
// ReduceSum and 18 for the others, from input 1.
func (s *shapeInfer) reduce(n *Node) error {
	x, axes, err := s.inputAxes(n)
	if err != nil {
		return err
	}
	var ax []int
	if len(axes) == 0 {
		if n.AttrInt("noop_with_empty_axes", 0) != 0 {
			s.set(n, 0, x, s.dt(n, 0))
			return nil
		}
		ax = iota(len(x))
	}
	more, err := normAxes(axes, len(x))
	if err != nil {
		return err
	}
	ax = append(ax, more...)
	s.set(n, 0, reducedShape(x, ax, n.AttrInt("keepdims", 1) != 0), s.dt(n, 0))
	return nil
}

func (s *shapeInfer) argMinMax(n *Node) error {
	x, a, err := s.inputAxis(n, 0)
	if err != nil {
		return err
	}
	s.set(n, 0, reducedShape(x, []int{a}, n.AttrInt("keepdims", 1) != 0), Int64)
	return nil
}

// reducedShape removes (or sets to 1 with keep) the axes of x.
func reducedShape(x []int, axes []int, keep bool) []int {
	red := make([]bool, len(x))
	for _, a := range axes {
		red[a] = true
	}
	out := []int{}
	for i, d := range x {
		switch {
		case !red[i]:
			out = append(out, d)
		case keep:
			out = append(out, 1)
		}
	}
	return out
}
