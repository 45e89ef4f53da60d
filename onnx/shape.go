package onnx

import (
	"fmt"
	"math"
)

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

type shapeInfer struct {
	g     *Graph
	shape map[string][]int
	dtype map[string]DataType
	value map[string]*Tensor
}

func inferGraph(g *Graph, inputs map[string][]int) (*shapeInfer, error) {
	s := &shapeInfer{g: g, shape: map[string][]int{}, dtype: map[string]DataType{}, value: map[string]*Tensor{}}
	for name, t := range g.Initializers {
		s.shape[name] = t.Shape
		s.dtype[name] = t.DType
		s.value[name] = t
	}
	for name := range inputs {
		if g.Input(name) == nil {
			return nil, fmt.Errorf("shape given for %q, which is not a graph input", name)
		}
	}
	for _, in := range g.Inputs {
		sh, ok := inputs[in.Name]
		if !ok {
			if sh, ok = in.Dims(); !ok {
				return nil, fmt.Errorf("input %q: shape %v is not fully known; give it", in.Name, in.Shape)
			}
		}
		for _, d := range sh {
			if d < 0 {
				return nil, fmt.Errorf("input %q: negative dimension in %v", in.Name, sh)
			}
		}
		s.shape[in.Name] = append([]int(nil), sh...)
		s.dtype[in.Name] = in.DType
	}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if in == "" {
				continue
			}
			if _, ok := s.shape[in]; !ok {
				return nil, fmt.Errorf("node %q (%s): input %q has no known shape (not produced before the node)", n.Name, n.OpType, in)
			}
		}
		if err := s.node(n); err != nil {
			return nil, fmt.Errorf("node %q (%s): %w", n.Name, n.OpType, err)
		}
		for _, o := range n.Outputs {
			if _, ok := s.shape[o]; o != "" && !ok {
				return nil, fmt.Errorf("node %q (%s): output %q got no shape", n.Name, n.OpType, o)
			}
		}
	}
	return s, nil
}

// in returns the shape of input i, or nil and false when it is omitted.
func (s *shapeInfer) in(n *Node, i int) ([]int, bool) {
	name := n.Input(i)
	if name == "" {
		return nil, false
	}
	return s.shape[name], true
}

func (s *shapeInfer) must(n *Node, i int) ([]int, error) {
	sh, ok := s.in(n, i)
	if !ok {
		return nil, fmt.Errorf("input %d is required", i)
	}
	return sh, nil
}

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

func (s *shapeInfer) set(n *Node, i int, shape []int, dt DataType) {
	if i < len(n.Outputs) && n.Outputs[i] != "" {
		s.shape[n.Outputs[i]] = shape
		s.dtype[n.Outputs[i]] = dt
	}
}

func (s *shapeInfer) setValue(n *Node, t *Tensor) {
	s.shape[n.Outputs[0]] = t.Shape
	s.dtype[n.Outputs[0]] = t.DType
	s.value[n.Outputs[0]] = t
}

// AsInt64s reads an int64 or int32 tensor, such as a shape or axes input,
// as int64; what names the tensor's role in the error. An int64 tensor's
// own slice is returned, not a copy.
func (t *Tensor) AsInt64s(what string) ([]int64, error) {
	switch d := t.Data.(type) {
	case []int64:
		return d, nil
	case []int32:
		out := make([]int64, len(d))
		for i, v := range d {
			out[i] = int64(v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s must be an int64 or int32 tensor, got %v", what, t.DType)
}

// asFloat64s reads a numeric tensor as float64.
func (t *Tensor) asFloat64s() ([]float64, bool) {
	switch d := t.Data.(type) {
	case []float32:
		return widen(d), true
	case []float64:
		return d, true
	case []int64:
		return widen(d), true
	case []int32:
		return widen(d), true
	case []int8:
		return widen(d), true
	case []uint8:
		return widen(d), true
	case []bool:
		out := make([]float64, len(d))
		for i, v := range d {
			if v {
				out[i] = 1
			}
		}
		return out, true
	}
	return nil, false
}

func widen[T float32 | float64 | int64 | int32 | int8 | uint8](d []T) []float64 {
	out := make([]float64, len(d))
	for i, v := range d {
		out[i] = float64(v)
	}
	return out
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

// BroadcastShapes applies numpy multidirectional broadcasting to any number
// of shapes: they are right-aligned, and each dimension must be equal across
// the shapes or 1.
func BroadcastShapes(shapes ...[]int) ([]int, error) {
	r := 0
	for _, s := range shapes {
		r = max(r, len(s))
	}
	out := make([]int, r)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := r - len(s)
		for i, d := range s {
			switch o := out[off+i]; {
			case o == d || d == 1:
			case o == 1:
				out[off+i] = d
			default:
				return nil, fmt.Errorf("shapes %v do not broadcast", shapes)
			}
		}
	}
	return out, nil
}

var (
	unaryOps = set("Relu", "LeakyRelu", "Elu", "Selu", "Sigmoid", "Tanh", "Softplus", "Softsign", "HardSigmoid",
		"HardSwish", "Clip", "Erf", "Round", "Floor", "Ceil", "Sqrt", "Exp", "Log", "Neg", "Abs", "Reciprocal",
		"Not", "Softmax", "LogSoftmax", "Hardmax", "Sign", "Sin", "Cos", "Tan", "Gelu", "Mish", "Celu",
		"ThresholdedRelu", "Identity", "LRN", "InstanceNormalization", "CumSum", "Shrink", "Trilu")
	broadcastOps = set("Add", "Sub", "Mul", "Div", "Pow", "Mod", "Min", "Max", "Sum", "Mean", "And", "Or", "Xor",
		"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Where", "PRelu", "BitShift")
	boolOps   = set("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Not", "IsNaN", "IsInf")
	reduceOps = set("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
		"ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")
)

func set(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

func (s *shapeInfer) node(n *Node) error {
	if n.Domain != "" && n.Domain != "ai.onnx" {
		return fmt.Errorf("operator of domain %q is not supported by shape inference", n.Domain)
	}
	op := n.OpType
	switch {
	case unaryOps[op]:
		x, err := s.must(n, 0)
		if err != nil {
			return err
		}
		dt := s.dt(n, 0)
		if boolOps[op] {
			dt = Bool
		}
		s.set(n, 0, x, dt)
		return s.fold(n)
	case op == "IsNaN" || op == "IsInf":
		x, err := s.must(n, 0)
		if err != nil {
			return err
		}
		s.set(n, 0, x, Bool)
		return nil
	case broadcastOps[op]:
		var shapes [][]int
		for i := range n.Inputs {
			if sh, ok := s.in(n, i); ok {
				shapes = append(shapes, sh)
			}
		}
		out, err := BroadcastShapes(shapes...)
		if err != nil {
			return err
		}
		dt := s.dt(n, 0)
		switch {
		case boolOps[op]:
			dt = Bool
		case op == "Where":
			dt = s.dt(n, 1)
		}
		s.set(n, 0, out, dt)
		return s.fold(n)
	case reduceOps[op]:
		return s.reduce(n)
	}
	switch op {
	case "Conv", "ConvInteger":
		return s.conv(n, false)
	case "ConvTranspose":
		return s.conv(n, true)
	case "MaxPool", "AveragePool", "LpPool":
		return s.pool(n)
	case "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool":
		x, err := s.must(n, 0)
		if err != nil {
			return err
		}
		if len(x) < 2 {
			return fmt.Errorf("input shape %v has no channel axis", x)
		}
		out := append([]int(nil), x...)
		for i := 2; i < len(out); i++ {
			out[i] = 1
		}
		s.set(n, 0, out, s.dt(n, 0))
		return nil
	case "Gemm":
		return s.gemm(n)
	case "MatMul", "MatMulInteger":
		a, err := s.must(n, 0)
		if err != nil {
			return err
		}
		b, err := s.must(n, 1)
		if err != nil {
			return err
		}
		out, err := matMulShape(a, b)
		if err != nil {
			return err
		}
		dt := s.dt(n, 0)
		if op == "MatMulInteger" {
			dt = Int32
		}
		s.set(n, 0, out, dt)
		return nil
	case "BatchNormalization":
		x, err := s.must(n, 0)
		if err != nil {
			return err
		}
		s.set(n, 0, x, s.dt(n, 0))
		if len(x) >= 2 {
			for i := 1; i < len(n.Outputs); i++ {
				s.set(n, i, []int{x[1]}, s.dt(n, 0))
			}
		}
		return nil
	case "LayerNormalization":
		x, err := s.must(n, 0)
		if err != nil {
			return err
		}
		a, err := Axis(n.AttrInt("axis", -1), len(x))
		if err != nil {
			return err
		}
		s.set(n, 0, x, s.dt(n, 0))
		stat := append([]int(nil), x...)
		for i := a; i < len(stat); i++ {
			stat[i] = 1
		}
		st := DataType(n.AttrInt("stash_type", int64(Float)))
		s.set(n, 1, stat, st)
		s.set(n, 2, stat, st)
		return nil
	case "GroupNormalization":
		x, err := s.must(n, 0)
		if err != nil {
			return err
		}
		s.set(n, 0, x, s.dt(n, 0))
		return nil
	case "Dropout":
		x, err := s.must(n, 0)
		if err != nil {
			return err
		}
		s.set(n, 0, x, s.dt(n, 0))
		s.set(n, 1, x, Bool)
		return s.fold(n)
	case "AscendQuant":
		x, err := s.must(n, 0)
		if err != nil {
			return err
		}
		s.set(n, 0, x, Int8)
		return nil
	case "AscendDequant", "AscendAntiQuant":
		x, err := s.must(n, 0)
		if err != nil {
			return err
		}
		dt := Float
		if n.AttrInt("dtype", 0) == 1 {
			dt = Float16
		}
		s.set(n, 0, x, dt)
		return nil
	case "ArgMax", "ArgMin":
		x, err := s.must(n, 0)
		if err != nil {
			return err
		}
		a, err := Axis(n.AttrInt("axis", 0), len(x))
		if err != nil {
			return err
		}
		s.set(n, 0, reducedShape(x, []int{a}, n.AttrInt("keepdims", 1) != 0), Int64)
		return nil
	case "Cast":
		x, err := s.must(n, 0)
		if err != nil {
			return err
		}
		s.set(n, 0, x, DataType(n.AttrInt("to", 0)))
		return s.fold(n)
	case "CastLike":
		x, err := s.must(n, 0)
		if err != nil {
			return err
		}
		s.set(n, 0, x, s.dt(n, 1))
		return nil
	case "Constant":
		t, err := constantNodeValue(n)
		if err != nil {
			return err
		}
		s.setValue(n, t)
		return nil
	case "Shape":
		x, err := s.must(n, 0)
		if err != nil {
			return err
		}
		r := int64(len(x))
		clamp := func(v int64) int64 {
			if v < 0 {
				v += r
			}
			return min(max(v, 0), r)
		}
		start, end := clamp(n.AttrInt("start", 0)), r
		if n.HasAttr("end") {
			end = clamp(n.AttrInt("end", 0))
		}
		vals := []int64{}
		for i := start; i < end; i++ {
			vals = append(vals, int64(x[i]))
		}
		s.setValue(n, NewTensor([]int{len(vals)}, vals))
		return nil
	case "Size":
		x, err := s.must(n, 0)
		if err != nil {
			return err
		}
		s.setValue(n, NewTensor([]int{}, []int64{int64(NumElems(x))}))
		return nil
	}
	return s.movement(n)
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

func (s *shapeInfer) reduce(n *Node) error {
	x, err := s.must(n, 0)
	if err != nil {
		return err
	}
	axes := n.AttrInts("axes")
	if n.Input(1) != "" {
		if axes, err = s.ints(n, 1, "axes"); err != nil {
			return err
		}
	}
	var ax []int
	if len(axes) == 0 {
		if n.AttrInt("noop_with_empty_axes", 0) != 0 {
			s.set(n, 0, x, s.dt(n, 0))
			return nil
		}
		for i := range x {
			ax = append(ax, i)
		}
	}
	for _, v := range axes {
		a, err := Axis(v, len(x))
		if err != nil {
			return err
		}
		ax = append(ax, a)
	}
	s.set(n, 0, reducedShape(x, ax, n.AttrInt("keepdims", 1) != 0), s.dt(n, 0))
	return nil
}

// spatialAttr returns an INTS attribute of k entries, or def repeated.
func spatialAttr(n *Node, name string, k int, def int) ([]int, error) {
	v := n.AttrInts(name)
	out := make([]int, k)
	if v == nil {
		for i := range out {
			out[i] = def
		}
		return out, nil
	}
	if len(v) != k {
		return nil, fmt.Errorf("%s %v has %d entries, want %d", name, v, len(v), k)
	}
	for i, e := range v {
		out[i] = int(e)
	}
	return out, nil
}

// windowShape computes the spatial output size of a convolution or pooling
// window sliding over in, following the ONNX operator definitions.
func windowShape(n *Node, in, kernel []int, transpose bool) ([]int, error) {
	k := len(kernel)
	strides, err := spatialAttr(n, "strides", k, 1)
	if err != nil {
		return nil, err
	}
	dil, err := spatialAttr(n, "dilations", k, 1)
	if err != nil {
		return nil, err
	}
	pads, err := spatialAttr(n, "pads", 2*k, 0)
	if err != nil {
		return nil, err
	}
	autoPad := n.AttrString("auto_pad", "NOTSET")
	ceil := n.AttrInt("ceil_mode", 0) != 0
	outPad, err := spatialAttr(n, "output_padding", k, 0)
	if err != nil {
		return nil, err
	}
	out := make([]int, k)
	for i := range k {
		if strides[i] < 1 || dil[i] < 1 {
			return nil, fmt.Errorf("strides %v and dilations %v must be positive", strides, dil)
		}
		ek := (kernel[i]-1)*dil[i] + 1
		if transpose {
			switch autoPad {
			case "SAME_UPPER", "SAME_LOWER":
				out[i] = in[i] * strides[i]
			default:
				out[i] = strides[i]*(in[i]-1) + outPad[i] + ek - pads[i] - pads[i+k]
			}
			continue
		}
		switch autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			out[i] = (in[i] + strides[i] - 1) / strides[i]
		case "VALID":
			out[i] = (in[i]-ek)/strides[i] + 1
		case "NOTSET", "":
			span := in[i] + pads[i] + pads[i+k] - ek
			if span < 0 {
				return nil, fmt.Errorf("kernel %v (dilated %d) is larger than the padded input %v", kernel, ek, in)
			}
			out[i] = span/strides[i] + 1
			if ceil && span%strides[i] != 0 {
				out[i]++
				// The last window must start inside the input or the left padding.
				if (out[i]-1)*strides[i] >= in[i]+pads[i] {
					out[i]--
				}
			}
		default:
			return nil, fmt.Errorf("auto_pad %q is not supported", autoPad)
		}
		if out[i] < 0 {
			out[i] = 0
		}
	}
	return out, nil
}

func (s *shapeInfer) conv(n *Node, transpose bool) error {
	x, err := s.must(n, 0)
	if err != nil {
		return err
	}
	w, err := s.must(n, 1)
	if err != nil {
		return err
	}
	if len(x) < 3 || len(w) != len(x) {
		return fmt.Errorf("input %v and weight %v need the same rank >= 3", x, w)
	}
	k := len(x) - 2
	kernel := w[2:]
	if ks := n.AttrInts("kernel_shape"); ks != nil {
		if kernel, err = spatialAttr(n, "kernel_shape", k, 1); err != nil {
			return err
		}
	}
	sp, err := windowShape(n, x[2:], kernel, transpose)
	if err != nil {
		return err
	}
	group := int(n.AttrInt("group", 1))
	ch := w[0]
	if transpose {
		ch = w[1] * group
		if os := n.AttrInts("output_shape"); os != nil {
			if len(os) == len(x) {
				os = os[2:]
			}
			if len(os) != k {
				return fmt.Errorf("output_shape %v does not match %d spatial axes", os, k)
			}
			for i, v := range os {
				sp[i] = int(v)
			}
		}
	}
	dt := s.dt(n, 0)
	switch {
	case n.OpType == "ConvInteger", dt == Int8 || dt == Uint8:
		dt = Int32 // integer convolutions accumulate in int32 (sim's deploy emulation)
	}
	s.set(n, 0, append([]int{x[0], ch}, sp...), dt)
	return nil
}

func (s *shapeInfer) pool(n *Node) error {
	x, err := s.must(n, 0)
	if err != nil {
		return err
	}
	if len(x) < 3 {
		return fmt.Errorf("input %v has no spatial axes", x)
	}
	kernel, err := spatialAttr(n, "kernel_shape", len(x)-2, 0)
	if err != nil {
		return err
	}
	if n.AttrInts("kernel_shape") == nil {
		return fmt.Errorf("attribute kernel_shape is required")
	}
	sp, err := windowShape(n, x[2:], kernel, false)
	if err != nil {
		return err
	}
	out := append([]int{x[0], x[1]}, sp...)
	s.set(n, 0, out, s.dt(n, 0))
	s.set(n, 1, out, Int64)
	return nil
}

func (s *shapeInfer) gemm(n *Node) error {
	a, err := s.must(n, 0)
	if err != nil {
		return err
	}
	b, err := s.must(n, 1)
	if err != nil {
		return err
	}
	if len(a) != 2 || len(b) != 2 {
		return fmt.Errorf("A %v and B %v must be matrices", a, b)
	}
	m, k := a[0], a[1]
	if n.AttrInt("transA", 0) != 0 {
		m, k = k, m
	}
	k2, nn := b[0], b[1]
	if n.AttrInt("transB", 0) != 0 {
		k2, nn = nn, k2
	}
	if k != k2 {
		return fmt.Errorf("A %v and B %v disagree on the inner dimension", a, b)
	}
	dt := s.dt(n, 0)
	if dt == Int8 || dt == Uint8 {
		dt = Int32
	}
	s.set(n, 0, []int{m, nn}, dt)
	return nil
}

// matMulShape follows numpy.matmul: 1-D operands are promoted and the
// batch dimensions broadcast.
func matMulShape(a, b []int) ([]int, error) {
	if len(a) == 0 || len(b) == 0 {
		return nil, fmt.Errorf("matmul of scalars %v and %v", a, b)
	}
	aa, bb := a, b
	if len(a) == 1 {
		aa = []int{1, a[0]}
	}
	if len(b) == 1 {
		bb = []int{b[0], 1}
	}
	if aa[len(aa)-1] != bb[len(bb)-2] {
		return nil, fmt.Errorf("matmul of %v and %v: inner dimensions differ", a, b)
	}
	batch, err := BroadcastShapes(aa[:len(aa)-2], bb[:len(bb)-2])
	if err != nil {
		return nil, err
	}
	out := batch
	if len(a) > 1 {
		out = append(out, aa[len(aa)-2])
	}
	if len(b) > 1 {
		out = append(out, bb[len(bb)-1])
	}
	return out, nil
}

// constantNodeValue is the tensor of a Constant node.
func constantNodeValue(n *Node) (*Tensor, error) {
	for name, a := range n.Attrs {
		switch name {
		case "value":
			return a.T, nil
		case "value_float":
			return NewTensor([]int{}, []float32{a.F}), nil
		case "value_floats":
			return NewTensor([]int{len(a.Floats)}, a.Floats), nil
		case "value_int":
			return NewTensor([]int{}, []int64{a.I}), nil
		case "value_ints":
			return NewTensor([]int{len(a.Ints)}, a.Ints), nil
		case "value_string":
			return NewTensor([]int{}, []string{a.S}), nil
		case "value_strings":
			return NewTensor([]int{len(a.Strings)}, a.Strings), nil
		}
	}
	return nil, fmt.Errorf("no supported value attribute")
}

func denseStrides(shape []int) []int {
	st := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = acc
		acc *= shape[i]
	}
	return st
}

// stridedIndex lists, for each element of shape in row-major order, the
// source offset off + sum(i_k * strides_k).
func stridedIndex(shape, strides []int, off int) []int {
	n := NumElems(shape)
	idx := make([]int, 0, n)
	if n == 0 {
		return idx
	}
	pos := make([]int, len(shape))
	for range n {
		o := off
		for k, p := range pos {
			o += p * strides[k]
		}
		idx = append(idx, o)
		for k := len(pos) - 1; k >= 0; k-- {
			pos[k]++
			if pos[k] < shape[k] {
				break
			}
			pos[k] = 0
		}
	}
	return idx
}

// bcastStrides returns the strides that read shape in as shape out under
// numpy broadcasting (0 on broadcast axes).
func bcastStrides(in, out []int) []int {
	st := make([]int, len(out))
	is := denseStrides(in)
	off := len(out) - len(in)
	for i, d := range in {
		if d != 1 {
			st[off+i] = is[i]
		}
	}
	return st
}

// pick builds a tensor of type dt and shape whose i-th element is element
// idx[i] of data.
func pick(dt DataType, data any, shape []int, idx []int) (*Tensor, error) {
	var out any
	switch d := data.(type) {
	case []int64:
		out = pickAs(d, idx)
	case []int32:
		out = pickAs(d, idx)
	case []float32:
		out = pickAs(d, idx)
	case []float64:
		out = pickAs(d, idx)
	case []bool:
		out = pickAs(d, idx)
	case []int8:
		out = pickAs(d, idx)
	case []uint8:
		out = pickAs(d, idx)
	case []string:
		out = pickAs(d, idx)
	default:
		return nil, fmt.Errorf("cannot fold tensors of type %v", dt)
	}
	return &Tensor{DType: dt, Shape: shape, Data: out}, nil
}

func pickAs[T any](d []T, idx []int) []T {
	out := make([]T, len(idx))
	for i, j := range idx {
		out[i] = d[j]
	}
	return out
}

// joinData concatenates the data slices of tensors of one type.
func joinData(ts []*Tensor) (any, error) {
	switch ts[0].Data.(type) {
	case []int64:
		return joinAs[int64](ts)
	case []int32:
		return joinAs[int32](ts)
	case []float32:
		return joinAs[float32](ts)
	case []float64:
		return joinAs[float64](ts)
	case []bool:
		return joinAs[bool](ts)
	}
	return nil, fmt.Errorf("cannot fold tensors of type %v", ts[0].DType)
}

func joinAs[T any](ts []*Tensor) ([]T, error) {
	var out []T
	for _, t := range ts {
		d, ok := t.Data.([]T)
		if !ok {
			return nil, fmt.Errorf("inputs differ in type")
		}
		out = append(out, d...)
	}
	return out, nil
}

// foldable reports whether every input of n has a known value and the
// output is small enough to compute.
func (s *shapeInfer) foldable(n *Node, out []int) bool {
	if NumElems(out) > foldLimit {
		return false
	}
	for i := range n.Inputs {
		if n.Inputs[i] == "" {
			continue
		}
		if _, ok := s.val(n, i); !ok {
			return false
		}
	}
	return true
}

// setPicked records output 0 with its shape and, when foldable, its value
// gathered from the concatenated input data by idx (built lazily).
func (s *shapeInfer) setPicked(n *Node, shape []int, dt DataType, src []*Tensor, idx func() []int) error {
	s.set(n, 0, shape, dt)
	if len(src) == 0 || !s.foldable(n, shape) {
		return nil
	}
	data, err := joinData(src)
	if err != nil {
		return nil // not foldable; the shape is still right
	}
	t, err := pick(dt, data, shape, idx())
	if err != nil {
		return nil
	}
	s.setValue(n, t)
	return nil
}

func iota(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// movementOps are the shape and data-movement operators handled by
// movement.
var movementOps = set("Flatten", "Reshape", "Unsqueeze", "Squeeze", "Transpose", "Concat", "Split", "Slice",
	"Gather", "Expand", "Tile", "ConstantOfShape", "Pad", "Resize", "Upsample", "Range", "NonZero",
	"GatherElements", "DepthToSpace", "SpaceToDepth")

func (s *shapeInfer) movement(n *Node) error {
	if !movementOps[n.OpType] {
		return fmt.Errorf("operator %s is not supported by shape inference", n.OpType)
	}
	x, err := s.must(n, 0)
	if err != nil && n.OpType != "Range" {
		return err
	}
	dt := s.dt(n, 0)
	xv, _ := s.val(n, 0)
	src := []*Tensor{}
	if xv != nil {
		src = append(src, xv)
	}
	same := func(shape []int) error {
		return s.setPicked(n, shape, dt, src, func() []int { return iota(NumElems(shape)) })
	}
	switch n.OpType {
	case "Flatten":
		r := len(x)
		a := n.AttrInt("axis", 1)
		if a < 0 {
			a += int64(r)
		}
		if a < 0 || a > int64(r) {
			return fmt.Errorf("axis %d is out of range for rank %d", n.AttrInt("axis", 1), r)
		}
		return same([]int{NumElems(x[:a]), NumElems(x[a:])})
	case "Reshape":
		spec, err := s.ints(n, 1, "shape")
		if err != nil {
			return err
		}
		out, err := ReshapeShape(x, spec, n.AttrInt("allowzero", 0) != 0)
		if err != nil {
			return err
		}
		return same(out)
	case "Unsqueeze", "Squeeze":
		axes := n.AttrInts("axes")
		if n.Input(1) != "" {
			if axes, err = s.ints(n, 1, "axes"); err != nil {
				return err
			}
		}
		var out []int
		if n.OpType == "Unsqueeze" {
			out, err = UnsqueezeShape(x, axes)
		} else {
			out, err = SqueezeShape(x, axes)
		}
		if err != nil {
			return err
		}
		return same(out)
	case "Transpose":
		r := len(x)
		perm := n.AttrInts("perm")
		if perm == nil {
			for i := range r {
				perm = append(perm, int64(r-1-i))
			}
		}
		if len(perm) != r {
			return fmt.Errorf("perm %v does not match rank %d", perm, r)
		}
		out, st := make([]int, r), make([]int, r)
		xs := denseStrides(x)
		for i, p := range perm {
			if p < 0 || p >= int64(r) {
				return fmt.Errorf("perm %v is not a permutation", perm)
			}
			out[i], st[i] = x[p], xs[p]
		}
		return s.setPicked(n, out, dt, src, func() []int { return stridedIndex(out, st, 0) })
	case "Concat":
		a, err := Axis(n.AttrInt("axis", 0), len(x))
		if err != nil {
			return err
		}
		out := append([]int(nil), x...)
		out[a] = 0
		var srcs []*Tensor
		var shapes [][]int
		for i := range n.Inputs {
			sh, ok := s.in(n, i)
			if !ok {
				continue
			}
			if len(sh) != len(x) {
				return fmt.Errorf("input %d has shape %v, input 0 has %v", i, sh, x)
			}
			for k := range sh {
				if k != a && sh[k] != x[k] {
					return fmt.Errorf("input %d has shape %v, incompatible with %v", i, sh, x)
				}
			}
			out[a] += sh[a]
			shapes = append(shapes, sh)
			if v, ok := s.val(n, i); ok {
				srcs = append(srcs, v)
			}
		}
		return s.setPicked(n, out, dt, srcs, func() []int {
			// Output position (o, j, i) on the axis comes from the input
			// holding j, at its offset in the concatenated data.
			outer, inner := NumElems(out[:a]), NumElems(out[a+1:])
			idx := make([]int, 0, NumElems(out))
			for o := range outer {
				base := 0
				for _, sh := range shapes {
					blk := sh[a] * inner
					for j := range blk {
						idx = append(idx, base+o*blk+j)
					}
					base += NumElems(sh)
				}
			}
			return idx
		})
	case "Split":
		a, err := Axis(n.AttrInt("axis", 0), len(x))
		if err != nil {
			return err
		}
		k := len(n.Outputs)
		split := n.AttrInts("split")
		if n.Input(1) != "" {
			if split, err = s.ints(n, 1, "split"); err != nil {
				return err
			}
		}
		sizes := make([]int, k)
		switch {
		case split != nil:
			if len(split) != k {
				return fmt.Errorf("split %v has %d entries for %d outputs", split, len(split), k)
			}
			sum := 0
			for i, v := range split {
				sizes[i] = int(v)
				sum += int(v)
			}
			if sum != x[a] {
				return fmt.Errorf("split %v sums to %d, axis %d has %d", split, sum, a, x[a])
			}
		case n.HasAttr("num_outputs"):
			chunk := (x[a] + k - 1) / k
			left := x[a]
			for i := range sizes {
				sizes[i] = min(chunk, left)
				left -= sizes[i]
			}
		default:
			if x[a]%k != 0 {
				return fmt.Errorf("axis %d of size %d does not split into %d equal parts", a, x[a], k)
			}
			for i := range sizes {
				sizes[i] = x[a] / k
			}
		}
		for i, sz := range sizes {
			out := append([]int(nil), x...)
			out[a] = sz
			s.set(n, i, out, dt)
		}
		return nil
	case "Slice":
		return s.slice(n, x, dt, src)
	case "Gather":
		a, err := Axis(n.AttrInt("axis", 0), len(x))
		if err != nil {
			return err
		}
		ind, err := s.must(n, 1)
		if err != nil {
			return err
		}
		out := append(append(append([]int{}, x[:a]...), ind...), x[a+1:]...)
		if !s.foldable(n, out) {
			s.set(n, 0, out, dt)
			return nil
		}
		raw, err := s.ints(n, 1, "indices")
		if err != nil {
			return err
		}
		iv := make([]int64, len(raw)) // raw may alias an initializer
		for i, v := range raw {
			if v < -int64(x[a]) || v >= int64(x[a]) {
				return fmt.Errorf("index %d is out of range for axis %d of size %d", v, a, x[a])
			}
			if v < 0 {
				v += int64(x[a])
			}
			iv[i] = v
		}
		return s.setPicked(n, out, dt, src, func() []int {
			outer, inner := NumElems(x[:a]), NumElems(x[a+1:])
			idx := make([]int, 0, NumElems(out))
			for o := range outer {
				for _, v := range iv {
					for i := range inner {
						idx = append(idx, (o*x[a]+int(v))*inner+i)
					}
				}
			}
			return idx
		})
	case "Expand":
		spec, err := s.ints(n, 1, "shape")
		if err != nil {
			return err
		}
		sp := make([]int, len(spec))
		for i, v := range spec {
			if v < 0 {
				return fmt.Errorf("shape %v has a negative dimension", spec)
			}
			sp[i] = int(v)
		}
		out, err := BroadcastShapes(x, sp)
		if err != nil {
			return err
		}
		return s.setPicked(n, out, dt, src, func() []int { return stridedIndex(out, bcastStrides(x, out), 0) })
	case "Tile":
		reps, err := s.ints(n, 1, "repeats")
		if err != nil {
			return err
		}
		if len(reps) != len(x) {
			return fmt.Errorf("repeats %v does not match rank %d", reps, len(x))
		}
		out := make([]int, len(x))
		var pairs, st []int
		xs := denseStrides(x)
		for i, r := range reps {
			if r < 0 {
				return fmt.Errorf("repeats %v has a negative entry", reps)
			}
			out[i] = int(r) * x[i]
			pairs = append(pairs, int(r), x[i])
			st = append(st, 0, xs[i])
		}
		return s.setPicked(n, out, dt, src, func() []int { return stridedIndex(pairs, st, 0) })
	case "ConstantOfShape":
		spec, err := s.ints(n, 0, "shape")
		if err != nil {
			return err
		}
		out := make([]int, len(spec))
		for i, v := range spec {
			if v < 0 {
				return fmt.Errorf("shape %v has a negative dimension", spec)
			}
			out[i] = int(v)
		}
		val := n.AttrTensor("value")
		if val == nil {
			val = NewTensor([]int{1}, []float32{0})
		}
		s.set(n, 0, out, val.DType)
		if NumElems(out) <= foldLimit {
			if t, err := pick(val.DType, val.Data, out, make([]int, NumElems(out))); err == nil {
				s.setValue(n, t)
			}
		}
		return nil
	case "Pad":
		pads := n.AttrInts("pads")
		if n.Input(1) != "" {
			if pads, err = s.ints(n, 1, "pads"); err != nil {
				return err
			}
		}
		axes := iota(len(x))
		if n.Input(3) != "" {
			av, err := s.ints(n, 3, "axes")
			if err != nil {
				return err
			}
			axes = axes[:0]
			for _, v := range av {
				a, err := Axis(v, len(x))
				if err != nil {
					return err
				}
				axes = append(axes, a)
			}
		}
		if len(pads) != 2*len(axes) {
			return fmt.Errorf("pads %v needs %d entries", pads, 2*len(axes))
		}
		out := append([]int(nil), x...)
		for k, a := range axes {
			out[a] += int(pads[k] + pads[k+len(axes)])
			if out[a] < 0 {
				return fmt.Errorf("pads %v crop axis %d below zero", pads, a)
			}
		}
		s.set(n, 0, out, dt)
		return nil
	case "Resize", "Upsample":
		return s.resize(n, x, dt)
	case "Range":
		return s.rangeOp(n)
	case "NonZero":
		if xv == nil {
			return fmt.Errorf("output shape depends on the values of %q, known only at run time", n.Input(0))
		}
		f, ok := xv.asFloat64s()
		if !ok {
			return fmt.Errorf("cannot read %v values", xv.DType)
		}
		var nz []int
		for i, v := range f {
			if v != 0 {
				nz = append(nz, i)
			}
		}
		out := []int{len(x), len(nz)}
		vals := make([]int64, 0, NumElems(out))
		st := denseStrides(x)
		for k := range x {
			for _, i := range nz {
				vals = append(vals, int64(i/st[k]%x[k]))
			}
		}
		s.setValue(n, NewTensor(out, vals))
		return nil
	case "GatherElements":
		ind, err := s.must(n, 1)
		if err != nil {
			return err
		}
		s.set(n, 0, ind, dt)
		return nil
	case "DepthToSpace", "SpaceToDepth":
		if len(x) != 4 {
			return fmt.Errorf("input %v must be 4-D", x)
		}
		b := int(n.AttrInt("blocksize", 0))
		if b < 1 {
			return fmt.Errorf("blocksize must be positive")
		}
		if n.OpType == "DepthToSpace" {
			s.set(n, 0, []int{x[0], x[1] / (b * b), x[2] * b, x[3] * b}, dt)
		} else {
			s.set(n, 0, []int{x[0], x[1] * b * b, x[2] / b, x[3] / b}, dt)
		}
		return nil
	}
	return fmt.Errorf("operator %s is not supported by shape inference", n.OpType)
}

// ReshapeShape resolves Reshape's shape input spec against the input
// shape: 0 copies the input dimension (unless allowZero), -1 is inferred.
func ReshapeShape(in []int, spec []int64, allowZero bool) ([]int, error) {
	out := make([]int, len(spec))
	infer, known := -1, 1
	for i, v := range spec {
		switch {
		case v == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("shape %v has more than one -1", spec)
			}
			infer = i
			continue
		case v == 0 && !allowZero:
			if i >= len(in) {
				return nil, fmt.Errorf("shape %v copies dimension %d (0) of input shape %v, which has no such dimension", spec, i, in)
			}
			out[i] = in[i]
		case v < 0:
			return nil, fmt.Errorf("shape %v has invalid dimension %d", spec, v)
		case v > maxElems:
			return nil, fmt.Errorf("shape %v has a dimension too large", spec)
		default:
			out[i] = int(v)
		}
		known *= out[i]
	}
	total := NumElems(in)
	if infer >= 0 {
		if known == 0 || total%known != 0 {
			return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v", in, total, spec)
		}
		out[infer] = total / known
	} else if known != total {
		return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v (%d elements)", in, total, spec, known)
	}
	return out, nil
}

// UnsqueezeShape inserts unit dimensions at axes of the output rank.
func UnsqueezeShape(in []int, axes []int64) ([]int, error) {
	r := len(in) + len(axes)
	ins := make([]bool, r)
	for _, v := range axes {
		a, err := Axis(v, r)
		if err != nil {
			return nil, err
		}
		if ins[a] {
			return nil, fmt.Errorf("axes %v repeat axis %d", axes, a)
		}
		ins[a] = true
	}
	out := make([]int, 0, r)
	k := 0
	for i := range r {
		if ins[i] {
			out = append(out, 1)
		} else {
			out = append(out, in[k])
			k++
		}
	}
	return out, nil
}

// SqueezeShape removes the unit dimensions at axes, or all of them when
// axes is empty.
func SqueezeShape(in []int, axes []int64) ([]int, error) {
	drop := make([]bool, len(in))
	for i, d := range in {
		drop[i] = len(axes) == 0 && d == 1
	}
	for _, v := range axes {
		a, err := Axis(v, len(in))
		if err != nil {
			return nil, err
		}
		if in[a] != 1 {
			return nil, fmt.Errorf("cannot squeeze axis %d of shape %v", a, in)
		}
		drop[a] = true
	}
	out := []int{}
	for i, d := range in {
		if !drop[i] {
			out = append(out, d)
		}
	}
	return out, nil
}

func (s *shapeInfer) slice(n *Node, x []int, dt DataType, src []*Tensor) error {
	var args [4][]int64
	names := [4]string{"starts", "ends", "axes", "steps"}
	for i := range 4 {
		if n.Input(i+1) == "" {
			continue
		}
		v, err := s.ints(n, i+1, names[i])
		if err != nil {
			return err
		}
		args[i] = v
	}
	starts, ends, axes, steps := args[0], args[1], args[2], args[3]
	if n.Input(1) == "" { // opset < 10: attributes
		starts, ends, axes = n.AttrInts("starts"), n.AttrInts("ends"), n.AttrInts("axes")
	}
	if len(starts) != len(ends) || (axes != nil && len(axes) != len(starts)) || (steps != nil && len(steps) != len(starts)) {
		return fmt.Errorf("starts %v, ends %v, axes %v, steps %v differ in length", starts, ends, axes, steps)
	}
	out := append([]int(nil), x...)
	xs := denseStrides(x)
	st := append([]int(nil), xs...)
	off := 0
	for k := range starts {
		ax := int64(k)
		if axes != nil {
			ax = axes[k]
		}
		a, err := Axis(ax, len(x))
		if err != nil {
			return err
		}
		step := int64(1)
		if steps != nil {
			step = steps[k]
		}
		if step == 0 {
			return fmt.Errorf("step 0 on axis %d", a)
		}
		d := int64(x[a])
		b, e := starts[k], ends[k]
		if b < 0 {
			b += d
		}
		if e < 0 {
			e += d
		}
		var cnt int64
		if step > 0 {
			b, e = min(max(b, 0), d), min(max(e, 0), d)
			if e > b {
				cnt = (e - b + step - 1) / step
			}
		} else {
			b, e = min(max(b, 0), d-1), min(max(e, -1), d-1)
			if b > e {
				cnt = (b - e - step - 1) / -step
			}
		}
		if cnt == 0 {
			b = 0
		}
		step = min(max(step, -d-1), d+1)
		out[a] = int(cnt)
		st[a] = int(step) * xs[a]
		off += int(b) * xs[a]
	}
	return s.setPicked(n, out, dt, src, func() []int { return stridedIndex(out, st, off) })
}

func (s *shapeInfer) resize(n *Node, x []int, dt DataType) error {
	scalesIn, sizesIn := 2, 3
	if n.OpType == "Upsample" || len(n.Inputs) == 2 {
		scalesIn, sizesIn = 1, -1 // opset 10 Resize and Upsample: (X, scales)
	}
	var axes []int
	if av := n.AttrInts("axes"); av != nil {
		for _, v := range av {
			a, err := Axis(v, len(x))
			if err != nil {
				return err
			}
			axes = append(axes, a)
		}
	} else {
		axes = iota(len(x))
	}
	out := append([]int(nil), x...)
	sizes, hasSizes := s.val(n, sizesIn)
	if hasSizes && sizes.Len() > 0 {
		sz, err := sizes.AsInt64s("sizes")
		if err != nil {
			return err
		}
		if len(sz) != len(axes) {
			return fmt.Errorf("sizes %v has %d entries for %d axes", sz, len(sz), len(axes))
		}
		policy := n.AttrString("keep_aspect_ratio_policy", "stretch")
		if policy == "stretch" {
			for k, a := range axes {
				out[a] = int(sz[k])
			}
		} else {
			sc := math.NaN()
			for k, a := range axes {
				r := float64(sz[k]) / float64(x[a])
				if math.IsNaN(sc) || (policy == "not_larger" && r < sc) || (policy == "not_smaller" && r > sc) {
					sc = r
				}
			}
			for _, a := range axes {
				out[a] = int(math.Floor(sc*float64(x[a]) + 0.5))
			}
		}
		s.set(n, 0, out, dt)
		return nil
	}
	if sizesIn >= 0 && n.Input(sizesIn) != "" && !hasSizes {
		return fmt.Errorf("sizes (%q) is computed from data at run time; its value is needed for the output shape", n.Input(sizesIn))
	}
	scales, ok := s.val(n, scalesIn)
	if !ok {
		return fmt.Errorf("scales (%q) is not known before running the graph", n.Input(scalesIn))
	}
	f, ok := scales.asFloat64s()
	if !ok || len(f) != len(axes) {
		return fmt.Errorf("scales %v does not give one float per axis", scales.Shape)
	}
	for k, a := range axes {
		out[a] = int(f[k] * float64(x[a]))
	}
	s.set(n, 0, out, dt)
	return nil
}

func (s *shapeInfer) rangeOp(n *Node) error {
	var v [3]float64
	var iv [3]int64
	isInt := true
	for i := range 3 {
		t, ok := s.val(n, i)
		if !ok {
			return fmt.Errorf("input %d (%q) is computed from data at run time; Range's length depends on it", i, n.Input(i))
		}
		f, ok := t.asFloat64s()
		if !ok || len(f) != 1 {
			return fmt.Errorf("input %d must be a numeric scalar", i)
		}
		v[i] = f[0]
		if ints, err := t.AsInt64s(""); err == nil {
			iv[i] = ints[0]
		} else {
			isInt = false
		}
	}
	if v[2] == 0 {
		return fmt.Errorf("delta is 0")
	}
	cnt := max(int(math.Ceil((v[1]-v[0])/v[2])), 0)
	dt := s.dt(n, 0)
	out := []int{cnt}
	s.set(n, 0, out, dt)
	if cnt > foldLimit {
		return nil
	}
	switch {
	case isInt:
		vals := make([]int64, cnt)
		for i := range vals {
			vals[i] = iv[0] + int64(i)*iv[2]
		}
		t := NewTensor(out, vals)
		if dt == Int32 {
			t = convertTensor(t, Int32)
		}
		s.setValue(n, t)
	default:
		vals := make([]float64, cnt)
		for i := range vals {
			vals[i] = v[0] + float64(i)*v[2]
		}
		s.setValue(n, convertTensor(NewTensor(out, vals), dt))
	}
	return nil
}

// convertTensor converts int64 or float64 values to type dt (the folding
// arithmetic's output types).
func convertTensor(t *Tensor, dt DataType) *Tensor {
	out := &Tensor{DType: dt, Shape: t.Shape}
	f, _ := t.asFloat64s()
	ints, _ := t.Data.([]int64)
	switch dt {
	case Float, Float16, BFloat16:
		d := make([]float32, len(f))
		for i, v := range f {
			d[i] = float32(v)
		}
		out.Data = d
	case Double:
		out.Data = f
	case Int64:
		d := make([]int64, len(f))
		for i, v := range f {
			if ints != nil {
				d[i] = ints[i]
			} else {
				d[i] = int64(v)
			}
		}
		out.Data = d
	case Int32:
		d := make([]int32, len(f))
		for i, v := range f {
			if ints != nil {
				d[i] = int32(ints[i])
			} else {
				d[i] = int32(v)
			}
		}
		out.Data = d
	case Bool:
		d := make([]bool, len(f))
		for i, v := range f {
			d[i] = v != 0
		}
		out.Data = d
	default:
		return nil
	}
	return out
}

// fold computes the value of an elementwise node (and Cast, Identity,
// Dropout) whose inputs are all known and small. Integer inputs are
// computed in int64, others in float64; results are converted to the
// output type. Ops it does not know are left unfolded.
func (s *shapeInfer) fold(n *Node) error {
	out := s.shape[n.Outputs[0]]
	if !s.foldable(n, out) {
		return nil
	}
	dt := s.dtype[n.Outputs[0]]
	var ins []*Tensor
	for i := range n.Inputs {
		if t, ok := s.val(n, i); ok {
			ins = append(ins, t)
		}
	}
	if len(ins) == 0 {
		return nil
	}
	allInt := true
	for _, t := range ins {
		if _, err := t.AsInt64s(""); err != nil {
			allInt = false
		}
	}
	// Operands broadcast to the output shape, as int64 and float64.
	fs := make([][]float64, len(ins))
	is := make([][]int64, len(ins))
	for k, t := range ins {
		idx := stridedIndex(out, bcastStrides(t.Shape, out), 0)
		f, ok := t.asFloat64s()
		if !ok {
			return nil
		}
		fs[k] = make([]float64, len(idx))
		for i, j := range idx {
			fs[k][i] = f[j]
		}
		if allInt {
			iv, _ := t.AsInt64s("")
			is[k] = make([]int64, len(idx))
			for i, j := range idx {
				is[k][i] = iv[j]
			}
		}
	}
	m := NumElems(out)
	resF := make([]float64, m)
	var resI []int64
	if allInt {
		resI = make([]int64, m)
	}
	b2f := func(c bool) float64 {
		if c {
			return 1
		}
		return 0
	}
	for i := range m {
		a := fs[0][i]
		var b float64
		if len(fs) > 1 {
			b = fs[1][i]
		}
		var r float64
		switch n.OpType {
		case "Identity", "Cast", "Dropout":
			r = a
		case "Neg":
			r = -a
		case "Abs":
			r = math.Abs(a)
		case "Floor":
			r = math.Floor(a)
		case "Ceil":
			r = math.Ceil(a)
		case "Round":
			r = math.RoundToEven(a)
		case "Sqrt":
			r = math.Sqrt(a)
		case "Reciprocal":
			r = 1 / a
		case "Not":
			r = b2f(a == 0)
		case "Add":
			r = a + b
		case "Sub":
			r = a - b
		case "Mul":
			r = a * b
		case "Div":
			r = a / b
		case "Min":
			r = math.Min(a, b)
		case "Max":
			r = math.Max(a, b)
		case "Equal":
			r = b2f(a == b)
		case "Less":
			r = b2f(a < b)
		case "Greater":
			r = b2f(a > b)
		case "LessOrEqual":
			r = b2f(a <= b)
		case "GreaterOrEqual":
			r = b2f(a >= b)
		case "And":
			r = b2f(a != 0 && b != 0)
		case "Or":
			r = b2f(a != 0 || b != 0)
		case "Where":
			if a != 0 {
				r = b
			} else {
				r = fs[2][i]
			}
		default:
			return nil
		}
		resF[i] = r
		if allInt {
			x := is[0][i]
			var y int64
			if len(is) > 1 {
				y = is[1][i]
			}
			switch n.OpType {
			case "Identity", "Cast", "Dropout":
				resI[i] = x
			case "Neg":
				resI[i] = -x
			case "Abs":
				resI[i] = max(x, -x)
			case "Add":
				resI[i] = x + y
			case "Sub":
				resI[i] = x - y
			case "Mul":
				resI[i] = x * y
			case "Div":
				if y == 0 {
					return fmt.Errorf("integer division by zero in constant folding")
				}
				resI[i] = x / y
			case "Min":
				resI[i] = min(x, y)
			case "Max":
				resI[i] = max(x, y)
			case "Where":
				if x != 0 {
					resI[i] = y
				} else {
					resI[i] = is[2][i]
				}
			default:
				resI[i] = int64(r)
			}
		}
	}
	var t *Tensor
	if allInt && (dt == Int64 || dt == Int32) {
		t = convertTensor(NewTensor(out, resI), dt)
	} else {
		t = convertTensor(NewTensor(out, resF), dt)
	}
	if t != nil {
		s.setValue(n, t)
	}
	return nil
}
