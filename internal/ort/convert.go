//go:build cgo

package ort

import (
	"fmt"

	ortgo "github.com/yalue/onnxruntime_go"

	"amq/onnx"
)

// toValue wraps t's data in an ONNX Runtime value without copying, except
// for FLOAT16, which onnx.Tensor holds widened to float32.
func toValue(t *onnx.Tensor) (ortgo.Value, error) {
	shape := make(ortgo.Shape, len(t.Shape))
	for i, d := range t.Shape {
		shape[i] = int64(d)
	}
	if t.DType == onnx.Float16 {
		f, ok := t.Data.([]float32)
		if !ok || len(f) != t.Len() {
			return nil, fmt.Errorf("FLOAT16 tensor of shape %v needs %d float32 values, has %T", t.Shape, t.Len(), t.Data)
		}
		raw, err := t.Raw()
		if err != nil {
			return nil, err
		}
		if len(shape) == 0 {
			return nil, fmt.Errorf("rank-0 FLOAT16 tensors are not supported")
		}
		if len(raw) == 0 {
			return nil, fmt.Errorf("empty FLOAT16 tensors are not supported")
		}
		return ortgo.NewCustomDataTensor(shape, raw, ortgo.TensorElementDataTypeFloat16)
	}
	switch d := t.Data.(type) {
	case []float32:
		return newValue(shape, d, t)
	case []float64:
		return newValue(shape, d, t)
	case []int64:
		return newValue(shape, d, t)
	case []int32:
		return newValue(shape, d, t)
	case []int16:
		return newValue(shape, d, t)
	case []int8:
		return newValue(shape, d, t)
	case []uint8:
		return newValue(shape, d, t)
	case []uint16:
		return newValue(shape, d, t)
	case []uint32:
		return newValue(shape, d, t)
	case []uint64:
		return newValue(shape, d, t)
	case []bool:
		return newValue(shape, d, t)
	}
	return nil, fmt.Errorf("%v tensors (%T) are not supported", t.DType, t.Data)
}

func newValue[T ortgo.TensorData](shape ortgo.Shape, data []T, t *onnx.Tensor) (ortgo.Value, error) {
	if len(data) != t.Len() {
		return nil, fmt.Errorf("shape %v needs %d elements, data has %d", t.Shape, t.Len(), len(data))
	}
	if len(shape) == 0 {
		return ortgo.NewScalar(data[0])
	}
	return ortgo.NewTensor(shape, data)
}

// newFloat16Output preallocates a FLOAT16 output of the given dimensions,
// which must all be known: onnxruntime_go cannot copy out a FLOAT16 result
// it allocates itself.
func newFloat16Output(dims ortgo.Shape) (ortgo.Value, error) {
	n := int64(1)
	for _, d := range dims {
		if d <= 0 {
			return nil, fmt.Errorf("FLOAT16 outputs need a fixed shape, have %v", dims)
		}
		n *= d
	}
	return ortgo.NewCustomDataTensor(dims, make([]byte, 2*n), ortgo.TensorElementDataTypeFloat16)
}

// newScalarOutput preallocates a rank-0 output of type dt.
func newScalarOutput(dt onnx.DataType) (ortgo.Value, error) {
	switch dt {
	case onnx.Float:
		return ortgo.NewEmptyScalar[float32]()
	case onnx.Double:
		return ortgo.NewEmptyScalar[float64]()
	case onnx.Int64:
		return ortgo.NewEmptyScalar[int64]()
	case onnx.Int32:
		return ortgo.NewEmptyScalar[int32]()
	case onnx.Int16:
		return ortgo.NewEmptyScalar[int16]()
	case onnx.Int8:
		return ortgo.NewEmptyScalar[int8]()
	case onnx.Uint8:
		return ortgo.NewEmptyScalar[uint8]()
	case onnx.Uint16:
		return ortgo.NewEmptyScalar[uint16]()
	case onnx.Uint32:
		return ortgo.NewEmptyScalar[uint32]()
	case onnx.Uint64:
		return ortgo.NewEmptyScalar[uint64]()
	case onnx.Bool:
		return ortgo.NewEmptyScalar[bool]()
	}
	return nil, fmt.Errorf("rank-0 %v outputs are not supported", dt)
}

// fromValue copies an ONNX Runtime result into an onnx.Tensor. The slices
// that onnxruntime_go returns are Go memory already copied out of ONNX
// Runtime, so they stay valid after the value is destroyed.
func fromValue(v ortgo.Value) (*onnx.Tensor, error) {
	shape := make([]int, len(v.GetShape()))
	for i, d := range v.GetShape() {
		shape[i] = int(d)
	}
	switch x := v.(type) {
	case *ortgo.Tensor[float32]:
		return onnx.NewTensor(shape, x.GetData()), nil
	case *ortgo.Tensor[float64]:
		return onnx.NewTensor(shape, x.GetData()), nil
	case *ortgo.Tensor[int64]:
		return onnx.NewTensor(shape, x.GetData()), nil
	case *ortgo.Tensor[int32]:
		return onnx.NewTensor(shape, x.GetData()), nil
	case *ortgo.Tensor[int16]:
		return onnx.NewTensor(shape, x.GetData()), nil
	case *ortgo.Tensor[int8]:
		return onnx.NewTensor(shape, x.GetData()), nil
	case *ortgo.Tensor[uint8]:
		return onnx.NewTensor(shape, x.GetData()), nil
	case *ortgo.Tensor[uint16]:
		return onnx.NewTensor(shape, x.GetData()), nil
	case *ortgo.Tensor[uint32]:
		return onnx.NewTensor(shape, x.GetData()), nil
	case *ortgo.Tensor[uint64]:
		return onnx.NewTensor(shape, x.GetData()), nil
	case *ortgo.Tensor[bool]:
		return onnx.NewTensor(shape, x.GetData()), nil
	case *ortgo.Scalar[float32]:
		return onnx.NewTensor(nil, []float32{x.GetData()}), nil
	case *ortgo.Scalar[float64]:
		return onnx.NewTensor(nil, []float64{x.GetData()}), nil
	case *ortgo.Scalar[int64]:
		return onnx.NewTensor(nil, []int64{x.GetData()}), nil
	case *ortgo.Scalar[int32]:
		return onnx.NewTensor(nil, []int32{x.GetData()}), nil
	case *ortgo.Scalar[int16]:
		return onnx.NewTensor(nil, []int16{x.GetData()}), nil
	case *ortgo.Scalar[int8]:
		return onnx.NewTensor(nil, []int8{x.GetData()}), nil
	case *ortgo.Scalar[uint8]:
		return onnx.NewTensor(nil, []uint8{x.GetData()}), nil
	case *ortgo.Scalar[uint16]:
		return onnx.NewTensor(nil, []uint16{x.GetData()}), nil
	case *ortgo.Scalar[uint32]:
		return onnx.NewTensor(nil, []uint32{x.GetData()}), nil
	case *ortgo.Scalar[uint64]:
		return onnx.NewTensor(nil, []uint64{x.GetData()}), nil
	case *ortgo.Scalar[bool]:
		return onnx.NewTensor(nil, []bool{x.GetData()}), nil
	case *ortgo.CustomDataTensor:
		if onnx.DataType(x.DataType()) != onnx.Float16 {
			return nil, fmt.Errorf("element type %v is not supported", onnx.DataType(x.DataType()))
		}
		return onnx.TensorFromRaw(onnx.Float16, shape, x.GetData())
	case *ortgo.StringTensor:
		s, err := x.GetContents()
		if err != nil {
			return nil, err
		}
		return onnx.NewTensor(shape, s), nil
	}
	return nil, fmt.Errorf("ONNX Runtime returned a %v value, amq reads only tensors", v.GetONNXType())
}
