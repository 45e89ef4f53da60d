package cann

import (
	"fmt"
	"math"

	"amq/onnx"
)

// IO describes one input or output of a loaded offline model.
type IO struct {
	Name    string
	ACLType int // aclDataType
	Dims    []int64
	Size    int // bytes
}

// aclDataType values (include/amq_acl_decls.h).
const (
	aclFloat   = 0
	aclFloat16 = 1
	aclInt8    = 2
	aclInt32   = 3
	aclUint8   = 4
	aclInt16   = 6
	aclUint16  = 7
	aclUint32  = 8
	aclInt64   = 9
	aclUint64  = 10
	aclDouble  = 11
	aclBool    = 12
)

var aclToONNX = map[int]onnx.DataType{
	aclFloat: onnx.Float, aclFloat16: onnx.Float16, aclInt8: onnx.Int8, aclInt32: onnx.Int32,
	aclUint8: onnx.Uint8, aclInt16: onnx.Int16, aclUint16: onnx.Uint16, aclUint32: onnx.Uint32,
	aclInt64: onnx.Int64, aclUint64: onnx.Uint64, aclDouble: onnx.Double, aclBool: onnx.Bool,
}

// ACLType returns the aclDataType of an ONNX element type.
func ACLType(dt onnx.DataType) (int, error) {
	for a, o := range aclToONNX {
		if o == dt {
			return a, nil
		}
	}
	return 0, fmt.Errorf("element type %v has no ACL equivalent", dt)
}

// ONNXType returns the ONNX element type of an aclDataType.
func ONNXType(acl int) (onnx.DataType, error) {
	if o, ok := aclToONNX[acl]; ok {
		return o, nil
	}
	return 0, fmt.Errorf("aclDataType %d is not supported", acl)
}

// Encode returns the little-endian bytes of t's elements in type dt (the
// device layout), converting numeric types when they differ.
func Encode(t *onnx.Tensor, dt onnx.DataType) ([]byte, error) {
	if t.DType != dt {
		c, err := Convert(t, dt)
		if err != nil {
			return nil, err
		}
		t = c
	}
	if dt.Size() == 0 {
		return nil, fmt.Errorf("element type %v cannot be sent to the device", dt)
	}
	if l, _ := t.DataLen(); l != t.Len() {
		return nil, fmt.Errorf("tensor holds %d elements, its shape %v needs %d", l, t.Shape, t.Len())
	}
	return t.Raw()
}

// Decode builds a tensor of type dt and shape from device bytes.
func Decode(b []byte, dt onnx.DataType, shape []int) (*onnx.Tensor, error) {
	n := onnx.NumElems(shape)
	if sz := dt.Size(); sz == 0 || len(b) != n*sz {
		return nil, fmt.Errorf("%d bytes do not hold a %v tensor of shape %v", len(b), dt, shape)
	}
	return onnx.TensorFromRaw(dt, shape, b)
}

// Convert returns t's values as type dt (numeric types only), converted
// by onnx.Tensor.Convert from their float64 values. Integer (and bool)
// targets round to nearest even first (ATC's FP32 outputs of integer
// tensors hold integral values; rounding keeps them exact).
func Convert(t *onnx.Tensor, dt onnx.DataType) (*onnx.Tensor, error) {
	if t.DType == dt {
		return t, nil
	}
	if dt.Size() == 0 {
		return nil, fmt.Errorf("cannot convert %v to %v", t.DType, dt)
	}
	src, err := t.Float64s()
	if err != nil {
		return nil, err
	}
	if dt != onnx.Float && dt != onnx.Double && dt != onnx.Float16 && dt != onnx.BFloat16 {
		r := make([]float64, len(src))
		for i, v := range src {
			r[i] = math.RoundToEven(v)
		}
		src = r
	}
	wide := &onnx.Tensor{Name: t.Name, DType: onnx.Double, Shape: t.Shape, Data: src}
	return wide.Convert(dt)
}
