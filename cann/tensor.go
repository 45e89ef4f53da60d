package cann

import (
	"encoding/binary"
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
	sz := dt.Size()
	if sz == 0 {
		return nil, fmt.Errorf("element type %v cannot be sent to the device", dt)
	}
	n := t.Len()
	if l := dataLen(t.Data); l != n {
		return nil, fmt.Errorf("tensor holds %d elements, its shape %v needs %d", l, t.Shape, n)
	}
	b := make([]byte, n*sz)
	le := binary.LittleEndian
	switch d := t.Data.(type) {
	case []float32:
		if dt == onnx.Float16 {
			for i, v := range d {
				le.PutUint16(b[2*i:], onnx.Float32ToFloat16(v))
			}
			break
		}
		for i, v := range d {
			le.PutUint32(b[4*i:], math.Float32bits(v))
		}
	case []float64:
		for i, v := range d {
			le.PutUint64(b[8*i:], math.Float64bits(v))
		}
	case []int8:
		for i, v := range d {
			b[i] = byte(v)
		}
	case []uint8:
		copy(b, d)
	case []bool:
		for i, v := range d {
			if v {
				b[i] = 1
			}
		}
	case []int16:
		for i, v := range d {
			le.PutUint16(b[2*i:], uint16(v))
		}
	case []uint16:
		for i, v := range d {
			le.PutUint16(b[2*i:], v)
		}
	case []int32:
		for i, v := range d {
			le.PutUint32(b[4*i:], uint32(v))
		}
	case []uint32:
		for i, v := range d {
			le.PutUint32(b[4*i:], v)
		}
	case []int64:
		for i, v := range d {
			le.PutUint64(b[8*i:], uint64(v))
		}
	case []uint64:
		for i, v := range d {
			le.PutUint64(b[8*i:], v)
		}
	default:
		return nil, fmt.Errorf("element type %v cannot be sent to the device", t.DType)
	}
	return b, nil
}

// Decode builds a tensor of type dt and shape from device bytes.
func Decode(b []byte, dt onnx.DataType, shape []int) (*onnx.Tensor, error) {
	n := onnx.NumElems(shape)
	if sz := dt.Size(); sz == 0 || len(b) != n*sz {
		return nil, fmt.Errorf("%d bytes do not hold a %v tensor of shape %v", len(b), dt, shape)
	}
	t, err := onnx.Zeros(dt, shape)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	switch d := t.Data.(type) {
	case []float32:
		if dt == onnx.Float16 {
			for i := range d {
				d[i] = onnx.Float16ToFloat32(le.Uint16(b[2*i:]))
			}
			break
		}
		for i := range d {
			d[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
	case []float64:
		for i := range d {
			d[i] = math.Float64frombits(le.Uint64(b[8*i:]))
		}
	case []int8:
		for i := range d {
			d[i] = int8(b[i])
		}
	case []uint8:
		copy(d, b)
	case []bool:
		for i := range d {
			d[i] = b[i] != 0
		}
	case []int16:
		for i := range d {
			d[i] = int16(le.Uint16(b[2*i:]))
		}
	case []uint16:
		for i := range d {
			d[i] = le.Uint16(b[2*i:])
		}
	case []int32:
		for i := range d {
			d[i] = int32(le.Uint32(b[4*i:]))
		}
	case []uint32:
		for i := range d {
			d[i] = le.Uint32(b[4*i:])
		}
	case []int64:
		for i := range d {
			d[i] = int64(le.Uint64(b[8*i:]))
		}
	case []uint64:
		for i := range d {
			d[i] = le.Uint64(b[8*i:])
		}
	default:
		return nil, fmt.Errorf("element type %v cannot be read from the device", dt)
	}
	return t, nil
}

// Convert returns t's values as type dt (numeric types only). Integer
// targets round to nearest even (ATC's FP32 outputs of integer tensors
// hold integral values; rounding keeps them exact).
func Convert(t *onnx.Tensor, dt onnx.DataType) (*onnx.Tensor, error) {
	if t.DType == dt {
		return t, nil
	}
	src, err := toFloat64(t)
	if err != nil {
		return nil, err
	}
	if dt != onnx.Float && dt != onnx.Double && dt != onnx.Float16 && dt != onnx.BFloat16 {
		for i, v := range src {
			src[i] = math.RoundToEven(v)
		}
	}
	out, err := onnx.Zeros(dt, t.Shape)
	if err != nil {
		return nil, err
	}
	out.Name = t.Name
	switch d := out.Data.(type) {
	case []float32:
		for i, v := range src {
			d[i] = float32(v)
		}
	case []float64:
		copy(d, src)
	case []int8:
		for i, v := range src {
			d[i] = int8(v)
		}
	case []uint8:
		for i, v := range src {
			d[i] = uint8(v)
		}
	case []int16:
		for i, v := range src {
			d[i] = int16(v)
		}
	case []uint16:
		for i, v := range src {
			d[i] = uint16(v)
		}
	case []int32:
		for i, v := range src {
			d[i] = int32(v)
		}
	case []uint32:
		for i, v := range src {
			d[i] = uint32(v)
		}
	case []int64:
		for i, v := range src {
			d[i] = int64(v)
		}
	case []uint64:
		for i, v := range src {
			d[i] = uint64(v)
		}
	case []bool:
		for i, v := range src {
			d[i] = v != 0
		}
	default:
		return nil, fmt.Errorf("cannot convert %v to %v", t.DType, dt)
	}
	return out, nil
}

// toFloat64 widens any numeric tensor.
func toFloat64(t *onnx.Tensor) ([]float64, error) {
	out := make([]float64, t.Len())
	switch d := t.Data.(type) {
	case []float32:
		for i, v := range d {
			out[i] = float64(v)
		}
	case []float64:
		copy(out, d)
	case []int8:
		for i, v := range d {
			out[i] = float64(v)
		}
	case []uint8:
		for i, v := range d {
			out[i] = float64(v)
		}
	case []int16:
		for i, v := range d {
			out[i] = float64(v)
		}
	case []uint16:
		for i, v := range d {
			out[i] = float64(v)
		}
	case []int32:
		for i, v := range d {
			out[i] = float64(v)
		}
	case []uint32:
		for i, v := range d {
			out[i] = float64(v)
		}
	case []int64:
		for i, v := range d {
			out[i] = float64(v)
		}
	case []uint64:
		for i, v := range d {
			out[i] = float64(v)
		}
	case []bool:
		for i, v := range d {
			if v {
				out[i] = 1
			}
		}
	default:
		return nil, fmt.Errorf("element type %v is not numeric", t.DType)
	}
	return out, nil
}

// dataLen is the number of elements of a tensor's data slice, or -1.
func dataLen(data any) int {
	switch d := data.(type) {
	case []float32:
		return len(d)
	case []float64:
		return len(d)
	case []int8:
		return len(d)
	case []uint8:
		return len(d)
	case []bool:
		return len(d)
	case []int16:
		return len(d)
	case []uint16:
		return len(d)
	case []int32:
		return len(d)
	case []uint32:
		return len(d)
	case []int64:
		return len(d)
	case []uint64:
		return len(d)
	}
	return -1
}
