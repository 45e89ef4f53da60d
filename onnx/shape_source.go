package onnx

import (
	"fmt"
	"math"
)

// Operators whose output value inference computes from attributes,
// shapes or constant inputs: these start the shape computations that the
// other operators fold.

func init() {
	inferAs((*shapeInfer).constant, "Constant")
	inferAs((*shapeInfer).constantOfShape, "ConstantOfShape")
	inferAs((*shapeInfer).shapeOf, "Shape")
	inferAs((*shapeInfer).size, "Size")
	inferAs((*shapeInfer).rangeOp, "Range")
	inferAs((*shapeInfer).nonZero, "NonZero")
}

func (s *shapeInfer) constant(n *Node) error {
	t, err := ConstantValue(n)
	if err != nil {
		return err
	}
	s.setValue(n, t)
	return nil
}

func (s *shapeInfer) constantOfShape(n *Node) error {
	if _, err := s.must(n, 0); err != nil {
		return err
	}
	spec, err := s.ints(n, 0, "shape")
	if err != nil {
		return err
	}
	out, err := dims(spec)
	if err != nil {
		return err
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
}

// shapeOf: Shape, with the start and end attributes of opset 15.
func (s *shapeInfer) shapeOf(n *Node) error {
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
}

func (s *shapeInfer) size(n *Node) error {
	x, err := s.must(n, 0)
	if err != nil {
		return err
	}
	s.setValue(n, NewTensor([]int{}, []int64{int64(NumElems(x))}))
	return nil
}

// rangeOp: Range(start, limit, delta), whose length depends on the values.
func (s *shapeInfer) rangeOp(n *Node) error {
	v, iv, isInt, err := s.rangeArgs(n)
	if err != nil {
		return err
	}
	cnt := max(int(math.Ceil((v[1]-v[0])/v[2])), 0)
	dt := s.dt(n, 0)
	out := []int{cnt}
	s.set(n, 0, out, dt)
	if cnt > foldLimit {
		return nil
	}
	if isInt {
		vals := make([]int64, cnt)
		for i := range vals {
			vals[i] = iv[0] + int64(i)*iv[2]
		}
		t := NewTensor(out, vals)
		if dt == Int32 {
			t = valueAs(t, Int32)
		}
		s.setValue(n, t)
		return nil
	}
	vals := make([]float64, cnt)
	for i := range vals {
		vals[i] = v[0] + float64(float64(i)*v[2]) // float64(): as sim's Range, no FMA
	}
	if t := valueAs(NewTensor(out, vals), dt); t != nil {
		s.setValue(n, t)
	}
	return nil
}

// rangeArgs returns Range's start, limit and delta as float64 and, when
// all three are integers, as int64.
func (s *shapeInfer) rangeArgs(n *Node) (v [3]float64, iv [3]int64, isInt bool, err error) {
	isInt = true
	for i := range 3 {
		t, ok := s.val(n, i)
		if !ok {
			return v, iv, false, fmt.Errorf("input %d (%q) is computed from data at run time; Range's length depends on it", i, n.Input(i))
		}
		f, ok := numbers(t)
		if !ok || len(f) != 1 {
			return v, iv, false, fmt.Errorf("input %d must be a numeric scalar", i)
		}
		v[i] = f[0]
		if ints, err := t.AsInt64s(""); err == nil {
			iv[i] = ints[0]
		} else {
			isInt = false
		}
	}
	if v[2] == 0 {
		return v, iv, false, fmt.Errorf("delta is 0")
	}
	return v, iv, isInt, nil
}

// nonZero: the output's length depends on the input's value.
func (s *shapeInfer) nonZero(n *Node) error {
	x, err := s.must(n, 0)
	if err != nil {
		return err
	}
	xv, ok := s.val(n, 0)
	if !ok {
		return fmt.Errorf("output shape depends on the values of %q, known only at run time", n.Input(0))
	}
	f, ok := numbers(xv)
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
}
