package onnx

import "fmt"

// Shape inference for concrete input shapes.
//
// InferShapes walks the graph in order and computes every tensor's shape
// from the shapes of the node's inputs. Shapes that depend on tensor
// values (Reshape's shape, Slice's starts, Resize's sizes, ...) need those
// values: initializers and Constant nodes provide them, and small integer
// and float computations on them are folded on the way (Shape -> Gather ->
// Unsqueeze -> Concat -> Reshape as torch.onnx exports, Range,
// ConstantOfShape, Slice on shapes, Cast, arithmetic). A shape that depends
// on data only known at run time is an error naming the node.
//
// Each operator has an inference function, registered in inferOps by the
// file of its family: shape_elementwise.go, shape_conv.go, shape_matmul.go,
// shape_norm.go, shape_reduce.go, shape_reshape.go, shape_select.go (data
// movement), shape_source.go (ops that make values: Constant, Shape,
// Range, ...), with the constant folding in shape_fold.go.

// foldLimit bounds the size of tensors that inference computes values for:
// shape computations are tiny, and folding is no substitute for running the
// graph.
const foldLimit = 1 << 12

// InferShapes returns the concrete shape of every tensor of g (inputs,
// initializers and node outputs) for the given input shapes. An input
// missing from inputs takes its shape from the graph when every dimension
// is known there.
func InferShapes(g *Graph, inputs map[string][]int) (map[string][]int, error) {
	s, err := inferGraph(g, inputs)
	if err != nil {
		return nil, err
	}
	return s.shape, nil
}

// InferValueInfo runs InferShapes and records the result, with element
// types, in g.ValueInfo for every node output, and in the ValueInfo of the
// graph outputs.
func (g *Graph) InferValueInfo(inputs map[string][]int) error {
	s, err := inferGraph(g, inputs)
	if err != nil {
		return err
	}
	if g.ValueInfo == nil {
		g.ValueInfo = map[string]*ValueInfo{}
	}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o == "" {
				continue
			}
			g.ValueInfo[o] = &ValueInfo{Name: o, DType: s.dtype[o], Shape: KnownDims(s.shape[o])}
		}
	}
	for _, o := range g.Outputs {
		if sh, ok := s.shape[o.Name]; ok {
			o.Shape = KnownDims(sh)
			o.DType = s.dtype[o.Name]
			delete(g.ValueInfo, o.Name) // graph outputs carry their own
		}
	}
	return nil
}

// shapeInfer holds what inference knows of each tensor: its shape and
// element type, and its value when it is constant and small.
type shapeInfer struct {
	g     *Graph
	shape map[string][]int
	dtype map[string]DataType
	value map[string]*Tensor
}

// inferFunc records the outputs of node n: their shapes and types, and
// their values when it can compute them.
type inferFunc func(s *shapeInfer, n *Node) error

// inferOps maps the operator types of the default domain to their
// inference; the files of the operator families fill it.
var inferOps = map[string]inferFunc{}

// inferAs registers f for the operator types ops.
func inferAs(f inferFunc, ops ...string) {
	for _, op := range ops {
		inferOps[op] = f
	}
}

func inferGraph(g *Graph, inputs map[string][]int) (*shapeInfer, error) {
	s := &shapeInfer{g: g, shape: map[string][]int{}, dtype: map[string]DataType{}, value: map[string]*Tensor{}}
	for name, t := range g.Initializers {
		s.shape[name] = t.Shape
		s.dtype[name] = t.DType
		s.value[name] = t
	}
	if err := s.setInputs(inputs); err != nil {
		return nil, err
	}
	for _, n := range g.Nodes {
		if err := s.node(n); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// setInputs records the shapes of the graph inputs: given, or complete in
// the graph.
func (s *shapeInfer) setInputs(inputs map[string][]int) error {
	for name := range inputs {
		if s.g.Input(name) == nil {
			return fmt.Errorf("shape given for %q, which is not a graph input", name)
		}
	}
	for _, in := range s.g.Inputs {
		sh, ok := inputs[in.Name]
		if !ok {
			if sh, ok = in.Dims(); !ok {
				return fmt.Errorf("input %q: shape %v is not fully known; give it", in.Name, in.Shape)
			}
		}
		for _, d := range sh {
			if d < 0 {
				return fmt.Errorf("input %q: negative dimension in %v", in.Name, sh)
			}
		}
		s.shape[in.Name] = append([]int(nil), sh...)
		s.dtype[in.Name] = in.DType
	}
	return nil
}

// node infers the outputs of n; errors name the node.
func (s *shapeInfer) node(n *Node) error {
	for _, in := range n.Inputs {
		if in == "" {
			continue
		}
		if _, ok := s.shape[in]; !ok {
			return fmt.Errorf("node %q (%s): input %q has no known shape (not produced before the node)", n.Name, n.OpType, in)
		}
	}
	if err := s.infer(n); err != nil {
		return fmt.Errorf("node %q (%s): %w", n.Name, n.OpType, err)
	}
	for _, o := range n.Outputs {
		if _, ok := s.shape[o]; o != "" && !ok {
			return fmt.Errorf("node %q (%s): output %q got no shape", n.Name, n.OpType, o)
		}
	}
	return nil
}

func (s *shapeInfer) infer(n *Node) error {
	if n.Domain != "" && n.Domain != "ai.onnx" {
		return fmt.Errorf("operator of domain %q is not supported by shape inference", n.Domain)
	}
	f, ok := inferOps[n.OpType]
	if !ok {
		return fmt.Errorf("operator %s is not supported by shape inference", n.OpType)
	}
	return f(s, n)
}

// in returns the shape of input i, or nil and false when it is omitted.
func (s *shapeInfer) in(n *Node, i int) ([]int, bool) {
	name := n.Input(i)
	if name == "" {
		return nil, false
	}
	return s.shape[name], true
}

// must returns the shape of input i, which the operator requires.
func (s *shapeInfer) must(n *Node, i int) ([]int, error) {
	sh, ok := s.in(n, i)
	if !ok {
		return nil, fmt.Errorf("input %d is required", i)
	}
	return sh, nil
}

// dt returns the element type of input i.
func (s *shapeInfer) dt(n *Node, i int) DataType { return s.dtype[n.Input(i)] }

// val returns the known value of input i.
func (s *shapeInfer) val(n *Node, i int) (*Tensor, bool) {
	if i < 0 {
		return nil, false
	}
	name := n.Input(i)
	if name == "" {
		return nil, false
	}
	t, ok := s.value[name]
	return t, ok
}

// ints returns the value of input i as integers; an error says that the
// value is not known before running the graph.
func (s *shapeInfer) ints(n *Node, i int, what string) ([]int64, error) {
	t, ok := s.val(n, i)
	if !ok {
		return nil, fmt.Errorf("%s (%q) is computed from data at run time; its value is needed for the output shape", what, n.Input(i))
	}
	return t.AsInt64s(what)
}

// operands returns the shapes of inputs 0 and 1, which the operator
// requires.
func (s *shapeInfer) operands(n *Node) (a, b []int, err error) {
	if a, err = s.must(n, 0); err != nil {
		return nil, nil, err
	}
	if b, err = s.must(n, 1); err != nil {
		return nil, nil, err
	}
	return a, b, nil
}

// inputAxis returns the shape of input 0 and the node's axis attribute
// (def when absent) mapped into [0, rank).
func (s *shapeInfer) inputAxis(n *Node, def int64) ([]int, int, error) {
	x, err := s.must(n, 0)
	if err != nil {
		return nil, 0, err
	}
	a, err := Axis(n.AttrInt("axis", def), len(x))
	if err != nil {
		return nil, 0, err
	}
	return x, a, nil
}

// inputAxes returns the shape of input 0 and the node's axes: input 1
// when given (opset 13 and later), else the axes attribute.
func (s *shapeInfer) inputAxes(n *Node) ([]int, []int64, error) {
	x, err := s.must(n, 0)
	if err != nil {
		return nil, nil, err
	}
	if n.Input(1) == "" {
		return x, n.AttrInts("axes"), nil
	}
	axes, err := s.ints(n, 1, "axes")
	if err != nil {
		return nil, nil, err
	}
	return x, axes, nil
}

// set records the shape and type of output i, when the node has it.
func (s *shapeInfer) set(n *Node, i int, shape []int, dt DataType) {
	if i < len(n.Outputs) && n.Outputs[i] != "" {
		s.shape[n.Outputs[i]] = shape
		s.dtype[n.Outputs[i]] = dt
	}
}

// setValue records output 0 as the known value t.
func (s *shapeInfer) setValue(n *Node, t *Tensor) {
	s.shape[n.Outputs[0]] = t.Shape
	s.dtype[n.Outputs[0]] = t.DType
	s.value[n.Outputs[0]] = t
}

// sameAs gives output 0 the shape of input 0 and element type dt.
func (s *shapeInfer) sameAs(n *Node, dt DataType) error {
	x, err := s.must(n, 0)
	if err != nil {
		return err
	}
	s.set(n, 0, x, dt)
	return nil
}

// Axis maps a possibly negative axis into [0, rank).
func Axis(axis int64, rank int) (int, error) {
	if axis < -int64(rank) || axis >= int64(rank) {
		return 0, fmt.Errorf("axis %d is out of range for rank %d", axis, rank)
	}
	if axis < 0 {
		axis += int64(rank)
	}
	return int(axis), nil
}

// normAxes maps possibly negative axes into [0, rank).
func normAxes(v []int64, rank int) ([]int, error) {
	out := make([]int, 0, len(v))
	for _, a := range v {
		k, err := Axis(a, rank)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}
