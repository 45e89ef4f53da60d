package dataset

import (
	"fmt"
	"math"
	"strconv"

	"amq/onnx"
)

// typeName is the NumPy name of an element type, as users know it.
func typeName(dt onnx.DataType) string {
	switch dt {
	case onnx.Float:
		return "float32"
	case onnx.Double:
		return "float64"
	case onnx.Float16:
		return "float16"
	case onnx.BFloat16:
		return "bfloat16"
	case onnx.Int64:
		return "int64"
	case onnx.Int32:
		return "int32"
	case onnx.Int16:
		return "int16"
	case onnx.Int8:
		return "int8"
	case onnx.Uint8:
		return "uint8"
	case onnx.Uint16:
		return "uint16"
	case onnx.Uint32:
		return "uint32"
	case onnx.Uint64:
		return "uint64"
	case onnx.Bool:
		return "bool"
	case onnx.String:
		return "string"
	}
	return dt.String()
}

func isFloat(dt onnx.DataType) bool {
	return dt == onnx.Float || dt == onnx.Double || dt == onnx.Float16 || dt == onnx.BFloat16
}

// intRange is the range of an integer type; ok is false for other types.
func intRange(dt onnx.DataType) (lo int64, hi uint64, ok bool) {
	switch dt {
	case onnx.Int8:
		return math.MinInt8, math.MaxInt8, true
	case onnx.Int16:
		return math.MinInt16, math.MaxInt16, true
	case onnx.Int32:
		return math.MinInt32, math.MaxInt32, true
	case onnx.Int64:
		return math.MinInt64, math.MaxInt64, true
	case onnx.Uint8:
		return 0, math.MaxUint8, true
	case onnx.Uint16:
		return 0, math.MaxUint16, true
	case onnx.Uint32:
		return 0, math.MaxUint32, true
	case onnx.Uint64:
		return 0, math.MaxUint64, true
	}
	return 0, 0, false
}

// castable tells whether data of type from can feed an input of type to:
// any number feeds a float input; integers, and floats that hold whole
// numbers, feed an integer input; bool feeds only bool.
func castable(from, to onnx.DataType) error {
	_, _, fromInt := intRange(from)
	_, _, toInt := intRange(to)
	switch {
	case from == to:
		return nil
	case isFloat(to) && (isFloat(from) || fromInt):
		return nil
	case toInt && (isFloat(from) || fromInt):
		return nil
	}
	return fmt.Errorf("%s data cannot feed a %s input", typeName(from), typeName(to))
}

// castNote is the note that data of type from is cast for input, or "" when
// there is no cast.
func castNote(file string, from, to onnx.DataType, input string) string {
	if from == to || to == onnx.Undefined {
		return ""
	}
	return fmt.Sprintf("note: %s: %s data cast to %s for input %q\n", file, typeName(from), typeName(to), input)
}

// valueError is a value that does not survive the cast to an input's type.
type valueError struct {
	index int    // of the value in the tensor
	value string // the value as the data holds it
	why   string // what is wrong with it
}

func (e *valueError) Error() string { return "value " + e.value + " " + e.why }

// number shows a value: whole numbers in full, others in the shortest form
// that reads back.
func number(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e21 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// doesNotFit is a valueError's why for a value out of to's range.
func doesNotFit(to onnx.DataType) string { return "does not fit " + typeName(to) }

// cast converts t to type to (castable must allow it) with
// onnx.Tensor.Convert, after checking that every value survives: an
// integer type's values must be whole and in its range, a float type's
// must not overflow it. A value that does not is a *valueError.
func cast(t *onnx.Tensor, to onnx.DataType) (*onnx.Tensor, error) {
	if t.DType == to || to == onnx.Undefined { // a model that leaves the type open takes the data's
		return t, nil
	}
	if err := castable(t.DType, to); err != nil {
		return nil, err
	}
	if lo, hi, ok := intRange(to); ok {
		if err := checkInts(t, to, lo, hi); err != nil {
			return nil, err
		}
	}
	out, err := t.Convert(to)
	if err != nil {
		return nil, err
	}
	if to == onnx.Float || to == onnx.Float16 || to == onnx.BFloat16 {
		if err := checkOverflow(t, out.Data.([]float32), to); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkInts checks that every value of t is a whole number in [lo, hi].
func checkInts(t *onnx.Tensor, to onnx.DataType, lo int64, hi uint64) error {
	if u, ok := t.Data.([]uint64); ok {
		for i, v := range u {
			if v > hi {
				return &valueError{i, strconv.FormatUint(v, 10), doesNotFit(to)}
			}
		}
		return nil
	}
	f, err := t.Float64s()
	if err != nil {
		return err
	}
	// float64(hi)+1 rounds to 2^63 and 2^64 for the 64-bit types, which
	// is the bound they need; below 2^53 all of this is exact, and int64
	// values above it only meet the 64-bit types' bounds.
	flo, fhi := float64(lo), float64(hi)+1
	for i, v := range f {
		switch {
		case v != math.Trunc(v): // NaN too
			return &valueError{i, number(v), "is not a whole number, as " + typeName(to) + " needs"}
		case v < flo || v >= fhi:
			return &valueError{i, number(v), doesNotFit(to)}
		}
	}
	return nil
}

// checkOverflow checks that no finite value of t became infinite in out.
func checkOverflow(t *onnx.Tensor, out []float32, to onnx.DataType) error {
	for i, v := range out {
		if !math.IsInf(float64(v), 0) {
			continue
		}
		src, err := t.Float64s()
		if err != nil {
			return err
		}
		for j := i; j < len(out); j++ {
			if math.IsInf(float64(out[j]), 0) && !math.IsInf(src[j], 0) {
				return &valueError{j, number(src[j]), doesNotFit(to)}
			}
		}
		return nil
	}
	return nil
}
