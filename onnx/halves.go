package onnx

import "sync"

// Halves holds the elements of a FLOAT16 or BFLOAT16 tensor as they are
// stored, 16 bits each, instead of widened to float32 (the tensor's DType
// says which of the two). LoadFileHalves gives large initializers this
// form so that a float16 model is held in its own size; kernels widen a
// tile at a time (WidenHalves).
type Halves []uint16

// WidenHalves writes the float32 values of src, elements of a dt tensor
// (Float16 or BFloat16), into dst[:len(src)].
func WidenHalves(dt DataType, dst []float32, src Halves) {
	dst = dst[:len(src)]
	if dt == BFloat16 {
		for i, h := range src {
			dst[i] = BFloat16ToFloat32(h)
		}
		return
	}
	t := float16Table()
	for i, h := range src {
		dst[i] = t[h]
	}
}

// float16Table returns Float16ToFloat32 of every 16-bit pattern (256 KiB,
// made on first use): a lookup widens a weight panel several times faster
// than the bit manipulation, with the same values.
var float16Table = sync.OnceValue(func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for h := range t {
		t[h] = Float16ToFloat32(uint16(h))
	}
	return &t
})

// Widened returns t with its elements as float32 when t holds Halves or a
// Compact, in a new tensor of the same name, type and shape (the form every
// reader of FLOAT16 tensors takes); any other tensor is returned as it is.
func (t *Tensor) Widened() *Tensor {
	var d []float32
	switch h := t.Data.(type) {
	case Halves:
		d = make([]float32, len(h))
		WidenHalves(t.DType, d, h)
	case Compact:
		d = widenCompact(h)
	default:
		return t
	}
	return &Tensor{Name: t.Name, DType: t.DType, Shape: append([]int(nil), t.Shape...), Data: d}
}
