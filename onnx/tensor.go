package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"amq/onnx/onnxpb"
)

// DataType is an ONNX tensor element type (TensorProto.DataType).
type DataType int32

// Element types used by amq. Values are those of the ONNX specification.
const (
	Undefined DataType = 0
	Float     DataType = 1
	Uint8     DataType = 2
	Int8      DataType = 3
	Uint16    DataType = 4
	Int16     DataType = 5
	Int32     DataType = 6
	Int64     DataType = 7
	String    DataType = 8
	Bool      DataType = 9
	Float16   DataType = 10
	Double    DataType = 11
	Uint32    DataType = 12
	Uint64    DataType = 13
	BFloat16  DataType = 16
)

// String returns the ONNX name of the type, such as "FLOAT".
func (d DataType) String() string {
	if n, ok := onnxpb.TensorProto_DataType_name[int32(d)]; ok {
		return n
	}
	return fmt.Sprintf("DataType(%d)", int32(d))
}

// Size is the size in bytes of one element in raw_data, or 0 when the type
// has no fixed-size raw encoding that amq reads.
func (d DataType) Size() int {
	switch d {
	case Uint8, Int8, Bool:
		return 1
	case Uint16, Int16, Float16, BFloat16:
		return 2
	case Float, Int32, Uint32:
		return 4
	case Int64, Double, Uint64:
		return 8
	}
	return 0
}

// Tensor is a dense n-dimensional array. Data holds the elements in
// row-major order as one of []float32, []float64, []int64, []int32, []int16,
// []int8, []uint8, []uint16, []uint32, []uint64, []bool or []string; Float16 and
// BFloat16 tensors are widened to []float32 on load and narrowed on save.
// A FLOAT tensor may also hold a Compact (widened when read or saved).
type Tensor struct {
	Name  string   // initializer or value name; may be empty
	DType DataType // element type; Data's slice type follows it
	Shape []int    // dimensions; empty for a scalar
	Data  any      // the elements, a slice of NumElems(Shape) values
}

// NewTensor returns a tensor that takes ownership of data. The element type
// is derived from the slice type. It panics when len(data) does not match the
// shape, which is a programming error.
func NewTensor[T Elem](shape []int, data []T) *Tensor {
	if n := NumElems(shape); n != len(data) {
		panic(fmt.Sprintf("onnx: shape %v needs %d elements, got %d", shape, n, len(data)))
	}
	return &Tensor{DType: dtypeOf[T](), Shape: append([]int(nil), shape...), Data: data}
}

// Zeros returns a zero-filled tensor of the given type and shape.
func Zeros(dt DataType, shape []int) (*Tensor, error) {
	n := NumElems(shape)
	data, err := makeData(dt, n)
	if err != nil {
		return nil, err
	}
	return &Tensor{DType: dt, Shape: append([]int(nil), shape...), Data: data}, nil
}

// Elem is the set of Go element types a Tensor can hold.
type Elem interface {
	float32 | float64 | int64 | int32 | int16 | int8 | uint8 | uint16 | uint32 | uint64 | bool | string
}

func dtypeOf[T Elem]() DataType {
	var z T
	switch any(z).(type) {
	case float32:
		return Float
	case float64:
		return Double
	case int64:
		return Int64
	case int32:
		return Int32
	case int16:
		return Int16
	case int8:
		return Int8
	case uint8:
		return Uint8
	case uint16:
		return Uint16
	case uint32:
		return Uint32
	case uint64:
		return Uint64
	case bool:
		return Bool
	case string:
		return String
	}
	panic("unreachable")
}

func makeData(dt DataType, n int) (any, error) {
	switch dt {
	case Float, Float16, BFloat16:
		return make([]float32, n), nil
	case Double:
		return make([]float64, n), nil
	case Int64:
		return make([]int64, n), nil
	case Int32:
		return make([]int32, n), nil
	case Int16:
		return make([]int16, n), nil
	case Int8:
		return make([]int8, n), nil
	case Uint8:
		return make([]uint8, n), nil
	case Uint16:
		return make([]uint16, n), nil
	case Uint32:
		return make([]uint32, n), nil
	case Uint64:
		return make([]uint64, n), nil
	case Bool:
		return make([]bool, n), nil
	case String:
		return make([]string, n), nil
	}
	return nil, fmt.Errorf("unsupported tensor data type %v", dt)
}

// Data returns t's elements as []T, or an error naming the tensor when the
// element type differs.
func Data[T Elem](t *Tensor) ([]T, error) {
	d, ok := t.Data.([]T)
	if !ok {
		return nil, fmt.Errorf("tensor %q: element type is %v, want %v", t.Name, t.DType, dtypeOf[T]())
	}
	return d, nil
}

// Floats returns the float32 elements of t. It panics when t is not a float
// tensor; use Data for a checked access.
func (t *Tensor) Floats() []float32 { return t.Data.([]float32) }

// Int64s returns the int64 elements of t. It panics when t is not an int64
// tensor; use Data for a checked access.
func (t *Tensor) Int64s() []int64 { return t.Data.([]int64) }

// Len is the number of elements.
func (t *Tensor) Len() int { return NumElems(t.Shape) }

// Rank is the number of dimensions.
func (t *Tensor) Rank() int { return len(t.Shape) }

// Clone returns a deep copy of t.
func (t *Tensor) Clone() *Tensor {
	c := &Tensor{Name: t.Name, DType: t.DType, Shape: append([]int(nil), t.Shape...)}
	switch d := t.Data.(type) {
	case []float32:
		c.Data = append([]float32(nil), d...)
	case []float64:
		c.Data = append([]float64(nil), d...)
	case []int64:
		c.Data = append([]int64(nil), d...)
	case []int32:
		c.Data = append([]int32(nil), d...)
	case []int16:
		c.Data = append([]int16(nil), d...)
	case []int8:
		c.Data = append([]int8(nil), d...)
	case []uint8:
		c.Data = append([]uint8(nil), d...)
	case []uint16:
		c.Data = append([]uint16(nil), d...)
	case []uint32:
		c.Data = append([]uint32(nil), d...)
	case []uint64:
		c.Data = append([]uint64(nil), d...)
	case []bool:
		c.Data = append([]bool(nil), d...)
	case []string:
		c.Data = append([]string(nil), d...)
	case Halves:
		c.Data = append(Halves(nil), d...)
	case Compact:
		// A copy is for writing: a Compact is never written.
		c.Data = widenCompact(d)
	}
	return c
}

// String describes the tensor briefly (name, type, shape).
func (t *Tensor) String() string {
	return fmt.Sprintf("%q %v%v", t.Name, t.DType, t.Shape)
}

// NumElems is the product of dims (1 for a scalar).
func NumElems(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// maxElems bounds the element count that a tensor description may claim, so
// that a hostile file cannot make the loader allocate without limit.
const maxElems = 1 << 34

// checkedNumElems multiplies dims, rejecting negative dims and overflow.
func checkedNumElems(dims []int64) (int, error) {
	n := int64(1)
	for _, d := range dims {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d in %v", d, dims)
		}
		if d != 0 && n > maxElems/d {
			return 0, fmt.Errorf("dimensions %v describe more than %d elements", dims, int64(maxElems))
		}
		n *= d
	}
	return int(n), nil
}

// Float16ToFloat32 widens an IEEE 754 half-precision value.
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | e<<23 | mant<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// Float32ToFloat16 narrows to half precision with round-half-to-even.
func Float32ToFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - e)
		half := uint32(1) << (shift - 1)
		r := mant >> shift
		rem := mant & (1<<shift - 1)
		if rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++ // may carry into the exponent, which is the correct rounding
	}
	return sign | uint16(r)
}

// BFloat16ToFloat32 widens a bfloat16 value, the upper half of a float32.
func BFloat16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// Float32ToBFloat16 narrows to bfloat16 with round-half-to-even. A NaN
// stays a (quiet) NaN of the same sign.
func Float32ToBFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	if f != f {
		return uint16(b>>16) | 0x40 // rounding could carry into the sign
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// TensorFromRaw builds a tensor of type dt and shape from little-endian
// bytes laid out as Raw returns them.
func TensorFromRaw(dt DataType, shape []int, raw []byte) (*Tensor, error) {
	data, err := decodeRaw(dt, raw, NumElems(shape))
	if err != nil {
		return nil, err
	}
	return &Tensor{DType: dt, Shape: append([]int(nil), shape...), Data: data}, nil
}

// decodeRaw fills a tensor's data from little-endian raw bytes (the
// inverse of Raw).
func decodeRaw(dt DataType, raw []byte, n int) (any, error) {
	if sz := dt.Size(); sz == 0 || len(raw) != n*sz {
		if sz == 0 {
			return nil, fmt.Errorf("raw_data is not supported for type %v", dt)
		}
		return nil, fmt.Errorf("raw_data has %d bytes, want %d for %d elements of %v", len(raw), n*sz, n, dt)
	}
	if d, ok := copyNative(dt, raw, n); ok {
		return d, nil
	}
	le := binary.LittleEndian
	switch dt {
	case Float:
		d := make([]float32, n)
		for i := range d {
			d[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
		return d, nil
	case Float16:
		d := make([]float32, n)
		for i := range d {
			d[i] = Float16ToFloat32(le.Uint16(raw[2*i:]))
		}
		return d, nil
	case BFloat16:
		d := make([]float32, n)
		for i := range d {
			d[i] = BFloat16ToFloat32(le.Uint16(raw[2*i:]))
		}
		return d, nil
	case Double:
		d := make([]float64, n)
		for i := range d {
			d[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
		}
		return d, nil
	case Int64:
		d := make([]int64, n)
		for i := range d {
			d[i] = int64(le.Uint64(raw[8*i:]))
		}
		return d, nil
	case Uint64:
		d := make([]uint64, n)
		for i := range d {
			d[i] = le.Uint64(raw[8*i:])
		}
		return d, nil
	case Int32:
		d := make([]int32, n)
		for i := range d {
			d[i] = int32(le.Uint32(raw[4*i:]))
		}
		return d, nil
	case Uint32:
		d := make([]uint32, n)
		for i := range d {
			d[i] = le.Uint32(raw[4*i:])
		}
		return d, nil
	case Int16:
		d := make([]int16, n)
		for i := range d {
			d[i] = int16(le.Uint16(raw[2*i:]))
		}
		return d, nil
	case Uint16:
		d := make([]uint16, n)
		for i := range d {
			d[i] = le.Uint16(raw[2*i:])
		}
		return d, nil
	case Int8:
		d := make([]int8, n)
		for i := range d {
			d[i] = int8(raw[i])
		}
		return d, nil
	case Uint8:
		return append([]uint8(nil), raw...), nil
	case Bool:
		d := make([]bool, n)
		for i := range d {
			d[i] = raw[i] != 0
		}
		return d, nil
	}
	return nil, fmt.Errorf("raw_data is not supported for type %v", dt)
}

// Raw returns t's elements as little-endian bytes, laid out as
// TensorProto.raw_data: float16 and bfloat16 narrowed to 2 bytes (half to
// even), bool as 1 byte. Strings have no raw layout. A tensor whose data
// disagrees with its type or shape is an error.
func (t *Tensor) Raw() ([]byte, error) {
	n := t.Len()
	sz := t.DType.Size()
	if sz == 0 {
		return nil, fmt.Errorf("tensor %q: type %v has no raw encoding", t.Name, t.DType)
	}
	// A tensor built by hand may disagree with itself; encoding it must
	// fail, not index out of range.
	if l, ok := t.DataLen(); !ok {
		return nil, fmt.Errorf("tensor %q: data %T does not match type %v", t.Name, t.Data, t.DType)
	} else if n < 0 || l != n {
		return nil, fmt.Errorf("tensor %q: shape %v needs %d elements, data has %d", t.Name, t.Shape, n, l)
	}
	if c, ok := t.Data.(Compact); ok {
		return compactRaw(c), nil
	}
	raw := make([]byte, n*sz)
	le := binary.LittleEndian
	switch d := t.Data.(type) {
	case []float32:
		switch t.DType {
		case Float16:
			for i, v := range d {
				le.PutUint16(raw[2*i:], Float32ToFloat16(v))
			}
		case BFloat16:
			for i, v := range d {
				le.PutUint16(raw[2*i:], Float32ToBFloat16(v))
			}
		default:
			for i, v := range d {
				le.PutUint32(raw[4*i:], math.Float32bits(v))
			}
		}
	case []float64:
		for i, v := range d {
			le.PutUint64(raw[8*i:], math.Float64bits(v))
		}
	case []int64:
		for i, v := range d {
			le.PutUint64(raw[8*i:], uint64(v))
		}
	case []uint64:
		for i, v := range d {
			le.PutUint64(raw[8*i:], v)
		}
	case []int32:
		for i, v := range d {
			le.PutUint32(raw[4*i:], uint32(v))
		}
	case []uint32:
		for i, v := range d {
			le.PutUint32(raw[4*i:], v)
		}
	case []int16:
		for i, v := range d {
			le.PutUint16(raw[2*i:], uint16(v))
		}
	case []uint16:
		for i, v := range d {
			le.PutUint16(raw[2*i:], v)
		}
	case Halves:
		for i, v := range d {
			le.PutUint16(raw[2*i:], v)
		}
	case []int8:
		for i, v := range d {
			raw[i] = byte(v)
		}
	case []uint8:
		copy(raw, d)
	case []bool:
		for i, v := range d {
			if v {
				raw[i] = 1
			}
		}
	default:
		return nil, fmt.Errorf("tensor %q: data %T does not match type %v", t.Name, t.Data, t.DType)
	}
	return raw, nil
}

// DataLen returns the length of t's data slice, and whether the slice's
// element type is the one t.DType calls for (Float16 and BFloat16 are held
// as float32). Data built by hand can disagree with the shape or the type;
// code that takes tensors from callers checks it with DataLen.
func (t *Tensor) DataLen() (n int, typeOK bool) {
	dt := t.DType
	switch d := t.Data.(type) {
	case []float32:
		return len(d), dt == Float || dt == Float16 || dt == BFloat16
	case Halves:
		return len(d), dt == Float16 || dt == BFloat16
	case Compact:
		return d.Len(), dt == Float
	case []float64:
		return len(d), dt == Double
	case []int64:
		return len(d), dt == Int64
	case []uint64:
		return len(d), dt == Uint64
	case []int32:
		return len(d), dt == Int32
	case []uint32:
		return len(d), dt == Uint32
	case []int16:
		return len(d), dt == Int16
	case []uint16:
		return len(d), dt == Uint16
	case []int8:
		return len(d), dt == Int8
	case []uint8:
		return len(d), dt == Uint8
	case []bool:
		return len(d), dt == Bool
	case []string:
		return len(d), dt == String
	}
	return -1, false
}

// decodeTyped reads the typed repeated fields of a TensorProto.
func decodeTyped(dt DataType, p *onnxpb.TensorProto, n int) (any, error) {
	count := func(have int) error {
		if have != n {
			return fmt.Errorf("has %d values, want %d", have, n)
		}
		return nil
	}
	switch dt {
	case Float:
		if err := count(len(p.FloatData)); err != nil {
			return nil, err
		}
		return append([]float32(nil), p.FloatData...), nil
	case Double:
		if err := count(len(p.DoubleData)); err != nil {
			return nil, err
		}
		return append([]float64(nil), p.DoubleData...), nil
	case Int64:
		if err := count(len(p.Int64Data)); err != nil {
			return nil, err
		}
		return append([]int64(nil), p.Int64Data...), nil
	case Uint64, Uint32:
		if err := count(len(p.Uint64Data)); err != nil {
			return nil, err
		}
		if dt == Uint64 {
			return append([]uint64(nil), p.Uint64Data...), nil
		}
		d := make([]uint32, n)
		for i, v := range p.Uint64Data {
			d[i] = uint32(v)
		}
		return d, nil
	case String:
		if err := count(len(p.StringData)); err != nil {
			return nil, err
		}
		d := make([]string, n)
		for i, v := range p.StringData {
			d[i] = string(v)
		}
		return d, nil
	}
	// The remaining types are stored widened in int32_data.
	if err := count(len(p.Int32Data)); err != nil {
		return nil, err
	}
	switch dt {
	case Int32:
		return append([]int32(nil), p.Int32Data...), nil
	case Int16:
		d := make([]int16, n)
		for i, v := range p.Int32Data {
			d[i] = int16(v)
		}
		return d, nil
	case Uint16:
		d := make([]uint16, n)
		for i, v := range p.Int32Data {
			d[i] = uint16(v)
		}
		return d, nil
	case Int8:
		d := make([]int8, n)
		for i, v := range p.Int32Data {
			d[i] = int8(v)
		}
		return d, nil
	case Uint8:
		d := make([]uint8, n)
		for i, v := range p.Int32Data {
			d[i] = uint8(v)
		}
		return d, nil
	case Bool:
		d := make([]bool, n)
		for i, v := range p.Int32Data {
			d[i] = v != 0
		}
		return d, nil
	case Float16:
		d := make([]float32, n)
		for i, v := range p.Int32Data {
			d[i] = Float16ToFloat32(uint16(v))
		}
		return d, nil
	case BFloat16:
		d := make([]float32, n)
		for i, v := range p.Int32Data {
			d[i] = BFloat16ToFloat32(uint16(v))
		}
		return d, nil
	}
	return nil, fmt.Errorf("unsupported data type %v", dt)
}

// TensorFromProto decodes a TensorProto whose data is stored in the proto
// itself (raw_data or the typed fields). External data is resolved by
// Model loading; see LoadFile.
func TensorFromProto(p *onnxpb.TensorProto) (*Tensor, error) {
	t, err := tensorFromProto(p, nil, copyRaw)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", p.GetName(), err)
	}
	return t, nil
}

// tensorFromProto decodes p; ext, when not nil, reads external data. With
// alias, the tensor may use p's raw_data and the bytes ext returns in place.
func tensorFromProto(p *onnxpb.TensorProto, ext func(*onnxpb.TensorProto, int) ([]byte, error), alias aliasMode) (*Tensor, error) {
	dt := DataType(p.GetDataType())
	n, err := checkedNumElems(p.Dims)
	if err != nil {
		return nil, err
	}
	shape := make([]int, len(p.Dims))
	for i, d := range p.Dims {
		shape[i] = int(d)
	}
	if p.Segment != nil {
		return nil, fmt.Errorf("segmented tensors are not supported")
	}
	t := &Tensor{Name: p.GetName(), DType: dt, Shape: shape}
	switch {
	case p.GetDataLocation() == onnxpb.TensorProto_EXTERNAL:
		if ext == nil {
			return nil, fmt.Errorf("data is stored externally; load the model from its file")
		}
		if dt.Size() == 0 {
			return nil, fmt.Errorf("external data is not supported for type %v", dt)
		}
		raw, err := ext(p, n*dt.Size())
		if err != nil {
			return nil, err
		}
		t.Data, err = decodeRawAlias(dt, raw, n, alias)
		if err != nil {
			return nil, err
		}
	case p.RawData != nil:
		if dt.Size() == 0 {
			return nil, fmt.Errorf("raw_data is not supported for type %v", dt)
		}
		// Check the length before allocating: raw length bounds the element count.
		if len(p.RawData) != n*dt.Size() {
			return nil, fmt.Errorf("raw_data has %d bytes, want %d for shape %v of %v", len(p.RawData), n*dt.Size(), p.Dims, dt)
		}
		t.Data, err = decodeRawAlias(dt, p.RawData, n, alias)
		if err != nil {
			return nil, err
		}
	default:
		if _, err := makeDataCheck(dt); err != nil {
			return nil, err
		}
		t.Data, err = decodeTyped(dt, p, n)
		if err != nil {
			return nil, err
		}
	}
	return t, nil
}

func makeDataCheck(dt DataType) (bool, error) {
	switch dt {
	case Float, Float16, BFloat16, Double, Int64, Int32, Int16, Int8, Uint8, Uint16, Uint32, Uint64, Bool, String:
		return true, nil
	}
	return false, fmt.Errorf("unsupported data type %v", dt)
}

// ToProto encodes t. Numeric tensors are written as raw_data, which every
// ONNX reader accepts and which is the most compact; strings use string_data.
func (t *Tensor) ToProto() (*onnxpb.TensorProto, error) {
	p, str := t.protoMeta()
	if str {
		return p, nil
	}
	raw, err := t.Raw()
	if err != nil {
		return nil, err
	}
	p.RawData = raw
	return p, nil
}

// protoMeta is what ToProto and protoHeader share: type, name, dims and,
// for a string tensor (str), its string_data; raw_data is left to them.
func (t *Tensor) protoMeta() (p *onnxpb.TensorProto, str bool) {
	p = &onnxpb.TensorProto{DataType: ptr(int32(t.DType))}
	if t.Name != "" {
		p.Name = ptr(t.Name)
	}
	p.Dims = make([]int64, len(t.Shape))
	for i, d := range t.Shape {
		p.Dims[i] = int64(d)
	}
	if s, ok := t.Data.([]string); ok {
		for _, v := range s {
			p.StringData = append(p.StringData, []byte(v))
		}
		return p, true
	}
	return p, false
}

func ptr[T any](v T) *T { return &v }
