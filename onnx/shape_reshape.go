package onnx

import "fmt"

// Operators that rearrange the elements of one tensor: the output shape
// comes from attributes or a constant input, and a known input value is
// carried through, rearranged.

func init() {
	inferAs((*shapeInfer).flatten, "Flatten")
	inferAs((*shapeInfer).reshape, "Reshape")
	inferAs((*shapeInfer).unsqueeze, "Unsqueeze")
	inferAs((*shapeInfer).squeeze, "Squeeze")
	inferAs((*shapeInfer).transpose, "Transpose")
	inferAs((*shapeInfer).depthToSpace, "DepthToSpace")
	inferAs((*shapeInfer).spaceToDepth, "SpaceToDepth")
}

func (s *shapeInfer) flatten(n *Node) error {
	x, err := s.must(n, 0)
	if err != nil {
		return err
	}
	r := len(x)
	a := n.AttrInt("axis", 1)
	if a < 0 {
		a += int64(r)
	}
	if a < 0 || a > int64(r) {
		return fmt.Errorf("axis %d is out of range for rank %d", n.AttrInt("axis", 1), r)
	}
	return s.setReshaped(n, []int{NumElems(x[:a]), NumElems(x[a:])})
}

func (s *shapeInfer) reshape(n *Node) error {
	x, err := s.must(n, 0)
	if err != nil {
		return err
	}
	spec, err := s.ints(n, 1, "shape")
	if err != nil {
		return err
	}
	out, err := ReshapeShape(x, spec, n.AttrInt("allowzero", 0) != 0)
	if err != nil {
		return err
	}
	return s.setReshaped(n, out)
}

func (s *shapeInfer) unsqueeze(n *Node) error { return s.reshapeAxes(n, UnsqueezeShape) }

func (s *shapeInfer) squeeze(n *Node) error { return s.reshapeAxes(n, SqueezeShape) }

// reshapeAxes reshapes input 0 to the shape that shape computes from its
// shape and the node's axes.
func (s *shapeInfer) reshapeAxes(n *Node, shape func(in []int, axes []int64) ([]int, error)) error {
	x, axes, err := s.inputAxes(n)
	if err != nil {
		return err
	}
	out, err := shape(x, axes)
	if err != nil {
		return err
	}
	return s.setReshaped(n, out)
}

// setReshaped records output 0 as input 0 under another shape, with its
// value when known.
func (s *shapeInfer) setReshaped(n *Node, shape []int) error {
	return s.setPicked(n, shape, s.dt(n, 0), s.values(n, 0), func() []int { return iota(NumElems(shape)) })
}

func (s *shapeInfer) transpose(n *Node) error {
	x, err := s.must(n, 0)
	if err != nil {
		return err
	}
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
	return s.setPicked(n, out, s.dt(n, 0), s.values(n, 0), func() []int { return stridedIndex(out, st, 0) })
}

func (s *shapeInfer) depthToSpace(n *Node) error {
	x, b, err := s.blocks(n)
	if err != nil {
		return err
	}
	s.set(n, 0, []int{x[0], x[1] / (b * b), x[2] * b, x[3] * b}, s.dt(n, 0))
	return nil
}

func (s *shapeInfer) spaceToDepth(n *Node) error {
	x, b, err := s.blocks(n)
	if err != nil {
		return err
	}
	s.set(n, 0, []int{x[0], x[1] * b * b, x[2] / b, x[3] / b}, s.dt(n, 0))
	return nil
}

// blocks returns the 4-D input shape and the blocksize of DepthToSpace
// and SpaceToDepth.
func (s *shapeInfer) blocks(n *Node) ([]int, int, error) {
	x, err := s.must(n, 0)
	if err != nil {
		return nil, 0, err
	}
	if len(x) != 4 {
		return nil, 0, fmt.Errorf("input %v must be 4-D", x)
	}
	b := int(n.AttrInt("blocksize", 0))
	if b < 1 {
		return nil, 0, fmt.Errorf("blocksize must be positive")
	}
	return x, b, nil
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
