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

// TestErfF32EqualsErf32: the float32 Erf kernel gives float32(erf32(x))
// bit for bit, for lengths around its blocks of 8, on values in both of
// erf32's ranges and at their edges, NaN, infinities, signed zeros and
// denormals included, in place and not.
func TestErfF32EqualsErf32(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(43, 44))
	edges := []float32{0.25, math.Nextafter32(0.25, 0), math.Nextafter32(0.25, 1), 6, math.Nextafter32(6, 0),
		-6, 5.99, 1e-40, -1e-40, 1e-45, 0.28125, 0.2813, 3.0000002}
	var x []float32
	for _, s := range vecTestValues(r, 4000) {
		x = append(x, s)
	}
	for range 4000 {
		x = append(x, float32(r.NormFloat64()*1.5))
	}
	for i := range x {
		if r.IntN(20) == 0 {
			x[i] = edges[r.IntN(len(edges))]
		}
	}
	// Every piece of the Taylor table, from each side.
	for i := range int(erfPieces) {
		c := float32(erfCentre(i))
		x = append(x, c, -c, float32(erfCentre(i)+0.5/erfPerUnit), float32(erfCentre(i)-0.49/erfPerUnit))
	}
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 63, len(x)} {
		want := make([]float32, n)
		for i, v := range x[:n] {
			want[i] = float32(erf32(float64(v)))
		}
		got := make([]float32, n)
		erfF32(got, x[:n])
		if i := sameBits(got, want); i >= 0 {
			t.Fatalf("n=%d: erfF32(%v) = %v, erf32 %v", n, x[i], got[i], want[i])
		}
		in := append([]float32(nil), x[:n]...)
		erfF32(in, in)
		if i := sameBits(in, want); i >= 0 {
			t.Fatalf("n=%d in place: erfF32(%v) = %v, erf32 %v", n, x[i], in[i], want[i])
		}
	}
}

// TestErfF32UsesEveryTaylorCoefficient: with the Taylor table replaced by
// coefficients large enough that each moves the float32 result, the
// kernel still gives erf32's bits, so it pairs every lane with its own
// piece and coefficient. Not parallel: it changes the table.
func TestErfF32UsesEveryTaylorCoefficient(t *testing.T) {
	saved := erfTaylor
	defer func() { erfTaylor = saved }()
	r := rand.New(rand.NewPCG(45, 46))
	for i := range erfTaylor {
		for k := range erfTaylor[i] {
			erfTaylor[i][k] = r.NormFloat64() * math.Pow(erfPerUnit*2, float64(k))
		}
	}
	var x []float32
	for range 2000 {
		x = append(x, float32(r.Float64()*7-3.5))
	}
	want := make([]float32, len(x))
	for i, v := range x {
		want[i] = float32(erf32(float64(v)))
	}
	got := make([]float32, len(x))
	erfF32(got, x)
	if i := sameBits(got, want); i >= 0 {
		t.Fatalf("erfF32(%v) = %v with a random table, erf32 %v", x[i], got[i], want[i])
	}
}
