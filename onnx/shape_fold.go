package onnx

import (
	"fmt"
	"math"
)

// Constant folding: the values that shape inference computes on the way,
// so that shapes computed from shapes (torch.onnx's Shape -> Gather ->
// Concat -> Reshape) are known.

// foldOp computes one element of an elementwise operator from the
// operands a, b, c: in float64, and in int64 when every input is an
// integer tensor (i nil: the float result, truncated).
type foldOp struct {
	f func(a, b, c float64) float64
	i func(x, y, z int64) (int64, error)
}

// foldOps are the elementwise operators that fold computes.
var foldOps = map[string]foldOp{
	"Identity":       {f: first[float64], i: firstOK},
	"Cast":           {f: first[float64], i: firstOK},
	"Dropout":        {f: first[float64], i: firstOK},
	"Neg":            {f: func(a, _, _ float64) float64 { return -a }, i: func(x, _, _ int64) (int64, error) { return -x, nil }},
	"Abs":            {f: func(a, _, _ float64) float64 { return math.Abs(a) }, i: func(x, _, _ int64) (int64, error) { return max(x, -x), nil }},
	"Floor":          {f: func(a, _, _ float64) float64 { return math.Floor(a) }},
	"Ceil":           {f: func(a, _, _ float64) float64 { return math.Ceil(a) }},
	"Round":          {f: func(a, _, _ float64) float64 { return math.RoundToEven(a) }},
	"Sqrt":           {f: func(a, _, _ float64) float64 { return math.Sqrt(a) }},
	"Reciprocal":     {f: func(a, _, _ float64) float64 { return 1 / a }},
	"Not":            {f: func(a, _, _ float64) float64 { return b2f(a == 0) }},
	"Add":            {f: func(a, b, _ float64) float64 { return a + b }, i: func(x, y, _ int64) (int64, error) { return x + y, nil }},
	"Sub":            {f: func(a, b, _ float64) float64 { return a - b }, i: func(x, y, _ int64) (int64, error) { return x - y, nil }},
	"Mul":            {f: func(a, b, _ float64) float64 { return a * b }, i: func(x, y, _ int64) (int64, error) { return x * y, nil }},
	"Div":            {f: func(a, b, _ float64) float64 { return a / b }, i: divInt},
	"Min":            {f: func(a, b, _ float64) float64 { return math.Min(a, b) }, i: func(x, y, _ int64) (int64, error) { return min(x, y), nil }},
	"Max":            {f: func(a, b, _ float64) float64 { return math.Max(a, b) }, i: func(x, y, _ int64) (int64, error) { return max(x, y), nil }},
	"Equal":          {f: func(a, b, _ float64) float64 { return b2f(a == b) }},
	"Less":           {f: func(a, b, _ float64) float64 { return b2f(a < b) }},
	"Greater":        {f: func(a, b, _ float64) float64 { return b2f(a > b) }},
	"LessOrEqual":    {f: func(a, b, _ float64) float64 { return b2f(a <= b) }},
	"GreaterOrEqual": {f: func(a, b, _ float64) float64 { return b2f(a >= b) }},
	"And":            {f: func(a, b, _ float64) float64 { return b2f(a != 0 && b != 0) }},
	"Or":             {f: func(a, b, _ float64) float64 { return b2f(a != 0 || b != 0) }},
	"Where":          {f: where[float64], i: func(x, y, z int64) (int64, error) { return where(x, y, z), nil }},
}

func first[T any](a, _, _ T) T             { return a }
func firstOK(x, _, _ int64) (int64, error) { return x, nil }
func where[T float64 | int64](cond, a, b T) T {
	if cond != 0 {
		return a
	}
	return b
}

func b2f(c bool) float64 {
	if c {
		return 1
	}
	return 0
}

func divInt(x, y, _ int64) (int64, error) {
	if y == 0 {
		return 0, fmt.Errorf("integer division by zero in constant folding")
	}
	return x / y, nil
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
	op, ok := foldOps[n.OpType]
	if !ok && NumElems(out) > 0 {
		return nil // an empty output has its (empty) value whatever the op
	}
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
	fs, is, ok := foldOperands(ins, out, allInt)
	if !ok {
		return nil
	}
	resF, resI, err := op.apply(fs, is, NumElems(out))
	if err != nil {
		return err
	}
	dt := s.dtype[n.Outputs[0]]
	var t *Tensor
	if allInt && (dt == Int64 || dt == Int32) {
		t = valueAs(NewTensor(out, resI), dt)
	} else {
		t = valueAs(NewTensor(out, resF), dt)
	}
	if t != nil {
		s.setValue(n, t)
	}
	return nil
}

// foldOperands broadcasts the inputs to the output shape, as float64 and,
// when allInt, as int64 (else is is nil); ok is false when an input is not
// numeric.
func foldOperands(ins []*Tensor, out []int, allInt bool) (fs [][]float64, is [][]int64, ok bool) {
	fs = make([][]float64, len(ins))
	if allInt {
		is = make([][]int64, len(ins))
	}
	for k, t := range ins {
		idx := stridedIndex(out, bcastStrides(t.Shape, out), 0)
		f, ok := numbers(t)
		if !ok {
			return nil, nil, false
		}
		fs[k] = pickAs(f, idx)
		if allInt {
			iv, _ := t.AsInt64s("")
			is[k] = pickAs(iv, idx)
		}
	}
	return fs, is, true
}

// apply computes the m elements of the result, in float64 and, when the
// int64 operands is are given, in int64.
func (op foldOp) apply(fs [][]float64, is [][]int64, m int) ([]float64, []int64, error) {
	allInt := is != nil
	resF := make([]float64, m)
	var resI []int64
	if allInt {
		resI = make([]int64, m)
	}
	for i := range m {
		resF[i] = op.f(fs[0][i], operand(fs, 1, i), operand(fs, 2, i))
		if !allInt {
			continue
		}
		if op.i == nil {
			resI[i] = int64(resF[i])
			continue
		}
		v, err := op.i(is[0][i], operand(is, 1, i), operand(is, 2, i))
		if err != nil {
			return nil, nil, err
		}
		resI[i] = v
	}
	return resF, resI, nil
}

// operand returns element i of operand k, or 0 when there is no operand k.
func operand[T float64 | int64](ops [][]T, k, i int) T {
	if k < len(ops) {
		return ops[k][i]
	}
	return 0
}

// numbers reads a known value as float64 when it has one of the types of
// shape arithmetic, which fold computes with.
func numbers(t *Tensor) ([]float64, bool) {
	switch t.Data.(type) {
	case []float32, []float64, []int64, []int32, []int8, []uint8, []bool:
		f, err := t.Float64s()
		return f, err == nil
	}
	return nil, false
}

// valueAs converts a folded result to the output type dt; values of types
// other than those of shape arithmetic are not kept (nil).
func valueAs(t *Tensor, dt DataType) *Tensor {
	switch dt {
	case Float, Float16, BFloat16, Double, Int64, Int32, Bool:
		if c, err := t.Convert(dt); err == nil {
			return c
		}
	}
	return nil
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

// values returns the known value of input i as the one source of
// setPicked, or none.
func (s *shapeInfer) values(n *Node, i int) []*Tensor {
	if t, ok := s.val(n, i); ok {
		return []*Tensor{t}
	}
	return []*Tensor{}
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

func iota(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}
