package onnx

import (
	"encoding/binary"
	"runtime"
	"unsafe"
)

// nativeLittleEndian: raw_data is little-endian, so only such a host can
// use it in place.
var nativeLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// unalignedOK says whether loads and stores of float and integer values
// need no alignment on this architecture, so that raw_data at any offset
// of a file can be used in place.
var unalignedOK = runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64" || runtime.GOARCH == "386"

// aliasMode is what loading may use in place of decoding raw_data.
type aliasMode uint8

const (
	copyRaw     aliasMode = 0 // decode every tensor into its own elements
	aliasRaw    aliasMode = 1 // float, double and integer elements in raw_data's memory
	aliasHalves aliasMode = 2 // those, and FLOAT16/BFLOAT16 as Halves, unwidened
)

// decodeRawAlias is decodeRaw that, with alias, returns the elements of
// float, double and integer tensors in raw's own memory instead of a
// decoded copy: loading then costs what reading the file costs, and a
// model holds one copy of its weights (docs/design.md "Loading large
// models"). raw then belongs to the tensor.
func decodeRawAlias(dt DataType, raw []byte, n int, alias aliasMode) (any, error) {
	if alias != copyRaw && nativeLittleEndian && len(raw) == n*dt.Size() && n > 0 {
		switch dt {
		case Float16, BFloat16:
			if alias != aliasHalves || len(raw) < aliasMin {
				break // small ones widened, for every op to read
			}
			if d, ok := aliasAs[uint16](raw, n); ok {
				return Halves(d), nil
			}
		case Float:
			if d, ok := aliasAs[float32](raw, n); ok {
				return d, nil
			}
		case Double:
			if d, ok := aliasAs[float64](raw, n); ok {
				return d, nil
			}
		case Int64:
			if d, ok := aliasAs[int64](raw, n); ok {
				return d, nil
			}
		case Int32:
			if d, ok := aliasAs[int32](raw, n); ok {
				return d, nil
			}
		case Int8:
			if d, ok := aliasAs[int8](raw, n); ok {
				return d, nil
			}
		case Uint8:
			return raw[:n:n], nil
		}
	}
	return decodeRaw(dt, raw, n)
}

// aliasAs views raw as n values of T, when its address suits T; the
// slice's capacity is n, so that an append copies instead of writing past
// the tensor.
func aliasAs[T float32 | float64 | int64 | int32 | int8 | uint16](raw []byte, n int) ([]T, bool) {
	p := unsafe.Pointer(unsafe.SliceData(raw))
	var z T
	if uintptr(p)%unsafe.Alignof(z) != 0 && !unalignedOK {
		return nil, false
	}
	return unsafe.Slice((*T)(p), n), true
}

// copyNative is decodeRaw of the types whose raw_data is their memory
// layout on a little-endian host: one copy, no per-element decoding. ok is
// false for the other types and hosts.
func copyNative(dt DataType, raw []byte, n int) (d any, ok bool) {
	if !nativeLittleEndian || n == 0 || len(raw) != n*dt.Size() {
		return nil, false
	}
	switch dt {
	case Float:
		return copyAs[float32](raw, n), true
	case Double:
		return copyAs[float64](raw, n), true
	case Int64:
		return copyAs[int64](raw, n), true
	case Int32:
		return copyAs[int32](raw, n), true
	}
	return nil, false
}

// copyAs returns n values of T copied from raw's bytes.
func copyAs[T float32 | float64 | int64 | int32](raw []byte, n int) []T {
	d := make([]T, n)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(d))), len(raw)), raw)
	return d
}
