package onnx

import "fmt"

// Elementwise operators: the output has the shape of the input, or of the
// inputs broadcast together.

func init() {
	inferAs((*shapeInfer).unary, "Relu", "LeakyRelu", "Elu", "Selu", "Sigmoid", "Tanh", "Softplus", "Softsign",
		"HardSigmoid", "HardSwish", "Clip", "Erf", "Round", "Floor", "Ceil", "Sqrt", "Exp", "Log", "Neg", "Abs",
		"Reciprocal", "Softmax", "LogSoftmax", "Hardmax", "Sign", "Sin", "Cos", "Tan", "Gelu", "Mish", "Celu",
		"ThresholdedRelu", "Identity", "LRN", "InstanceNormalization", "CumSum", "Shrink", "Trilu")
	inferAs((*shapeInfer).not, "Not")
	inferAs((*shapeInfer).isClass, "IsNaN", "IsInf")
	inferAs((*shapeInfer).arith, "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Min", "Max", "Sum", "Mean",
		"PRelu", "BitShift")
	inferAs((*shapeInfer).compare, "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor")
	inferAs((*shapeInfer).where, "Where")
	inferAs((*shapeInfer).cast, "Cast")
	inferAs((*shapeInfer).castLike, "CastLike")
	inferAs((*shapeInfer).dropout, "Dropout")
	inferAs((*shapeInfer).ascendQuant, "AscendQuant")
	inferAs((*shapeInfer).ascendDequant, "AscendDequant", "AscendAntiQuant")
}

// unary: the input's shape and type, folded when the value is known.
func (s *shapeInfer) unary(n *Node) error {
	if err := s.sameAs(n, s.dt(n, 0)); err != nil {
		return err
	}
	return s.fold(n)
}

func (s *shapeInfer) not(n *Node) error {
	if err := s.sameAs(n, Bool); err != nil {
		return err
	}
	return s.fold(n)
}

// isClass: IsNaN and IsInf, which classify each element.
func (s *shapeInfer) isClass(n *Node) error { return s.sameAs(n, Bool) }

// arith: the inputs broadcast, in the type of input 0.
func (s *shapeInfer) arith(n *Node) error { return s.broadcast(n, s.dt(n, 0)) }

// compare: comparisons and logical operators, which give booleans.
func (s *shapeInfer) compare(n *Node) error { return s.broadcast(n, Bool) }

// where: the condition and both branches broadcast, in the branches' type.
func (s *shapeInfer) where(n *Node) error { return s.broadcast(n, s.dt(n, 1)) }

// broadcast gives output 0 the broadcast shape of the inputs and type dt,
// folded when the values are known.
func (s *shapeInfer) broadcast(n *Node, dt DataType) error {
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
	s.set(n, 0, out, dt)
	return s.fold(n)
}

func (s *shapeInfer) cast(n *Node) error {
	if err := s.sameAs(n, DataType(n.AttrInt("to", 0))); err != nil {
		return err
	}
	return s.fold(n)
}

func (s *shapeInfer) castLike(n *Node) error { return s.sameAs(n, s.dt(n, 1)) }

// dropout: inference mode, the input passes through; the mask is boolean.
func (s *shapeInfer) dropout(n *Node) error {
	x, err := s.must(n, 0)
	if err != nil {
		return err
	}
	s.set(n, 0, x, s.dt(n, 0))
	s.set(n, 1, x, Bool)
	return s.fold(n)
}

func (s *shapeInfer) ascendQuant(n *Node) error { return s.sameAs(n, Int8) }

// ascendDequant: AscendDequant and AscendAntiQuant, whose dtype attribute
// chooses float16 (1) or float (otherwise).
func (s *shapeInfer) ascendDequant(n *Node) error {
	dt := Float
	if n.AttrInt("dtype", 0) == 1 {
		dt = Float16
	}
	return s.sameAs(n, dt)
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
