package onnx

import "fmt"

// Matrix products.

func init() {
	inferAs((*shapeInfer).gemm, "Gemm")
	inferAs((*shapeInfer).matMul, "MatMul", "MatMulInteger")
}

func (s *shapeInfer) gemm(n *Node) error {
	a, b, err := s.operands(n)
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

func (s *shapeInfer) matMul(n *Node) error {
	a, b, err := s.operands(n)
	if err != nil {
		return err
	}
	out, err := matMulShape(a, b)
	if err != nil {
		return err
	}
	dt := s.dt(n, 0)
	if n.OpType == "MatMulInteger" {
		dt = Int32
	}
	s.set(n, 0, out, dt)
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
