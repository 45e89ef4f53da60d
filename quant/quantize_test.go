package quant

import "testing"

func TestQuantizeRoundsHalfToEvenAndSaturates(t *testing.T) {
	t.Parallel()
	cases := []struct {
		x    float64
		s    float32
		o    int32
		want int8
	}{
		{2.5, 1, 0, 2}, {3.5, 1, 0, 4}, {-2.5, 1, 0, -2}, {-3.5, 1, 0, -4},
		{0.49, 1, 0, 0}, {1000, 1, 0, 127}, {-1000, 1, 0, -128},
		{0.25, 0.5, -128, -128}, {0.75, 0.5, -128, -126}, // 1.5 -> 2, plus offset
		{200, 1, -128, 72}, {300, 1, -128, 127},
	}
	for _, c := range cases {
		if got := Quantize(c.x, c.s, c.o); got != c.want {
			t.Errorf("Quantize(%v, %v, %v) = %d, want %d", c.x, c.s, c.o, got, c.want)
		}
	}
	if got := Dequantize(-126, 0.5, -128); got != 1 {
		t.Errorf("Dequantize(-126, 0.5, -128) = %v, want 1", got)
	}
}

func TestScaleOffsetCoversRangeAndZeroExactly(t *testing.T) {
	t.Parallel()
	cases := []struct {
		lo, hi float64
		asym   bool
		s      float32
		o      int32
	}{
		// 4/255; -128 + 1/(4/255) = -64.25 -> -64.
		{-1, 3, true, float32(4.0 / 255), -64},
		{-1, 3, false, float32(3.0 / 127), 0},
		// The negative end is the larger: int8 reaches -128.
		{-5, 1, false, float32(5.0 / 128), 0},
		// Widened to [0, 5].
		{2, 5, true, float32(5.0 / 255), -128},
		// Widened to [-4, 0]: offset -128 + 255 = 127.
		{-4, -1, true, float32(4.0 / 255), 127},
		// Empty ranges: scale 1.
		{0, 0, true, 1, -128},
		{0, 0, false, 1, 0},
		{0, 1e-6, false, 1, 0},
	}
	for _, c := range cases {
		s, o := ScaleOffset(c.lo, c.hi, c.asym)
		if s != c.s || o != c.o {
			t.Errorf("ScaleOffset(%v, %v, %v) = %v, %v; want %v, %v", c.lo, c.hi, c.asym, s, o, c.s, c.o)
		}
	}
	// 0 must be exactly representable in every asymmetric range.
	for _, r := range [][2]float64{{-0.3, 7.1}, {-2.2, 0.1}, {-1, 1}} {
		s, o := ScaleOffset(r[0], r[1], true)
		if FakeQuant(0, s, o) != 0 {
			t.Errorf("range %v: 0 quantizes to %v", r, FakeQuant(0, s, o))
		}
	}
}
