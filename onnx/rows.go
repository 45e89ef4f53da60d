package onnx

import (
	"fmt"
	"reflect"
)

// Rows returns entries [lo, hi) of t along axis 0 (samples [lo, hi) of a
// batch), sharing t's storage. The result's slice is capped at hi, so an
// append to it never writes into t.
func (t *Tensor) Rows(lo, hi int) (*Tensor, error) {
	if t.Rank() == 0 {
		return nil, fmt.Errorf("a scalar has no rows")
	}
	if lo < 0 || lo > hi || hi > t.Shape[0] {
		return nil, fmt.Errorf("rows [%d, %d) of a tensor of shape %v", lo, hi, t.Shape)
	}
	v := reflect.ValueOf(t.Data)
	if v.Kind() != reflect.Slice || v.Len() != t.Len() {
		return nil, fmt.Errorf("shape %v (%d values) but data %T", t.Shape, t.Len(), t.Data)
	}
	per := NumElems(t.Shape[1:])
	shape := append([]int{hi - lo}, t.Shape[1:]...)
	return &Tensor{DType: t.DType, Shape: shape, Data: v.Slice3(lo*per, hi*per, hi*per).Interface()}, nil
}
