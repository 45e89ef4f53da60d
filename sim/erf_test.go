package sim

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestErf32 compares erf32 with math.Erf over float32 arguments: the
// float64 results must agree to 1e-14 (relative near zero), and rounded to
// float32 they may differ by at most one ulp, which should be rare.
func TestErf32(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(31, 32))
	var xs []float32
	for range 400000 {
		xs = append(xs, float32(r.NormFloat64()*2))
	}
	for x := float32(-7); x <= 7; x += 1.0 / 1024 {
		xs = append(xs, x)
	}
	xs = append(xs, 0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 1e-45, 0.5, -0.5, 6, -6, 5.9999995,
		float32(math.Inf(1)), float32(math.Inf(-1)), math.MaxFloat32)
	ulps := 0
	for _, x := range xs {
		got, want := erf32(float64(x)), math.Erf(float64(x))
		if d := math.Abs(got - want); d > 1e-14*math.Max(math.Abs(want), 1e-300) && d > 1e-15 {
			t.Fatalf("erf32(%v) = %.17g, math.Erf %.17g", x, got, want)
		}
		if math.Signbit(got) != math.Signbit(want) {
			t.Fatalf("erf32(%v) = %v, math.Erf %v: signs differ", x, got, want)
		}
		g32, w32 := float32(got), float32(want)
		if g32 != w32 {
			if d := math.Float32bits(g32) - math.Float32bits(w32); d != 1 && d != math.MaxUint32 {
				t.Fatalf("erf32(%v) = %v in float32, math.Erf %v", x, g32, w32)
			}
			ulps++
		}
	}
	if !math.IsNaN(erf32(math.NaN())) {
		t.Error("erf32(NaN) is not NaN")
	}
	if ulps > len(xs)/10000 {
		t.Errorf("%d of %d float32 results differ from math.Erf's by an ulp", ulps, len(xs))
	}
	t.Logf("%d of %d float32 results differ from math.Erf's by an ulp", ulps, len(xs))
}

func BenchmarkErf(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	xs := make([]float64, 4096)
	for i := range xs {
		xs[i] = float64(float32(r.NormFloat64() * 2))
	}
	var s float64
	b.Run("erf32", func(b *testing.B) {
		for b.Loop() {
			for _, x := range xs {
				s += erf32(x)
			}
		}
	})
	b.Run("math.Erf", func(b *testing.B) {
		for b.Loop() {
			for _, x := range xs {
				s += math.Erf(x)
			}
		}
	})
	_ = s
}
