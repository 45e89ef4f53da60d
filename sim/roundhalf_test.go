package sim

import (
	"math"
	"testing"

	"amq/onnx"
)

// TestRoundHalfEqualsTheFloat16Conversion compares sim's fast float16
// rounding with onnx's conversion on float32 bit patterns spread over the
// whole range, both signs, and on every float16 value and the midpoints
// around it, where ties to even decide.
func TestRoundHalfEqualsTheFloat16Conversion(t *testing.T) {
	check := func(v float32) {
		got, want := roundHalf(v), onnx.Float16ToFloat32(onnx.Float32ToFloat16(v))
		if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
			t.Fatalf("RoundHalf(%v [%#08x]) = %v, the conversion gives %v", v, math.Float32bits(v), got, want)
		}
	}
	for b := uint64(0); b < 1<<32; b += 4099 {
		check(math.Float32frombits(uint32(b)))
	}
	for h := uint32(0); h < 1<<16; h++ {
		v := onnx.Float16ToFloat32(uint16(h))
		for _, d := range []int32{-4096, -4095, -1, 0, 1, 4095, 4096, 4097} {
			check(math.Float32frombits(uint32(int32(math.Float32bits(v)) + d)))
		}
	}
}
