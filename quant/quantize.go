package quant

import (
	"math"
)

// FltEpsilon is C's FLT_EPSILON, the smallest float32 e with 1+e != 1.
// Scales below it are replaced by 1 and balance factors are clamped to
// [FltEpsilon, 1/FltEpsilon], as AMCT does.
const FltEpsilon = 0x1p-23

// Int8 range of the quantized values.
const (
	qMin = -128
	qMax = 127
)

// Arithmetic precision. Scales and offsets are stored as float32 and int32
// (the record file and the Ascend operators use those types), but everything
// that derives or evaluates them works in float64 on the float32-rounded
// scale: the search loops then score exactly the scale that will be written,
// and the result does not depend on float32 accumulation order.

// Quantize maps x to int8 with scale s and offset o:
// clamp(round_half_even(x/s) + o, -128, 127).
func Quantize(x float64, s float32, o int32) int8 {
	q := math.RoundToEven(x/float64(s)) + float64(o)
	return int8(max(qMin, min(qMax, q)))
}

// Dequantize maps a quantized value back: (q - o) * s. The product is
// rounded (float64()), so that callers' x - Dequantize(...) is not fused
// into one multiply-add on arm64 (docs/design.md "Same bits on every
// architecture").
func Dequantize(q int8, s float32, o int32) float64 {
	return float64(float64(int32(q)-o) * float64(s))
}

// FakeQuant is Dequantize(Quantize(x, s, o), s, o): the value the quantized
// model computes with in place of x.
func FakeQuant(x float64, s float32, o int32) float64 {
	return Dequantize(Quantize(x, s, o), s, o)
}

// ScaleOffset returns the int8 scale and offset for the range [lo, hi].
//
// Symmetric: o = 0 and s = max(|lo|, |hi|)/127, or /128 when the
// negative end is the larger one (see SymmetricScale). Asymmetric: the range is
// widened to contain 0 (so that 0 is exactly representable), then
// s = (hi-lo)/255 and o = round(-128 - lo/s). A scale below FLT_EPSILON
// (an all-zero tensor) becomes 1.
func ScaleOffset(lo, hi float64, asymmetric bool) (scale float32, offset int32) {
	if !asymmetric {
		return SymmetricScale(lo, hi), 0
	}
	lo, hi = min(lo, 0), max(hi, 0)
	scale = float32((hi - lo) / 255)
	if !(float64(scale) >= FltEpsilon) || math.IsInf(float64(scale), 0) {
		// Also catches NaN; a non-finite range has no meaningful scale.
		scale = 1
	}
	o := math.RoundToEven(-128 - lo/float64(scale))
	return scale, int32(max(qMin, min(qMax, o)))
}

// SymmetricScale returns the symmetric int8 scale for values in [lo, hi]:
// max(|lo|, |hi|)/127, except that when |lo| > |hi| the divisor is 128,
// since int8 reaches -128 (what AMCT does; its records carry these
// scales). A scale below FLT_EPSILON becomes 1.
func SymmetricScale(lo, hi float64) float32 {
	absMax, div := math.Abs(hi), 127.0
	if math.Abs(lo) > absMax {
		absMax, div = math.Abs(lo), 128
	}
	s := float32(absMax / div)
	if !(float64(s) >= FltEpsilon) || math.IsInf(float64(s), 0) {
		return 1
	}
	return s
}
