package quant

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// ifmrExact is IFMR evaluated directly on the samples, written from AMCT's
// definition: percentiles by rank in the sorted samples, the candidates of
// arange(start, end, step) in float32, and the mean squared
// quantize-dequantize error over every sample.
func ifmrExact(x []float32, p ActParams) (float32, int32, float64) {
	s := slices.Clone(x)
	slices.Sort(s)
	n := len(s)
	index := func(q float64) int { // 1-based rank from the top
		if 1-q < 0x1p-23 {
			return 1
		}
		return n - int(math.Floor(q*float64(n)))
	}
	maxInit := max(float64(s[n-index(p.MaxPercentile)]), 0)
	minInit := min(float64(s[index(p.MinPercentile)-1]), 0)
	count := int(math.Ceil((p.SearchRange[1] - p.SearchRange[0]) / p.SearchStep))
	best := math.Inf(1)
	var bs float32
	var bo int32
	for i := range count {
		r := float32(p.SearchRange[0] + float64(i)*p.SearchStep)
		var sc float32
		var o int32
		if p.Asymmetric {
			hi := float64(r * float32(maxInit))
			sc = float32((hi - minInit) / 255)
			if float64(sc) < 0x1p-23 {
				sc = 1
			}
			o = int32(max(-128, min(127, math.RoundToEven(-128-minInit/float64(sc)))))
		} else {
			amax, div := maxInit, float32(127)
			if -minInit > maxInit {
				amax, div = -minInit, 128
			}
			sc = r * float32(amax) / div
			if float64(sc) < 0x1p-23 {
				sc = 1
			}
		}
		if l := rawMSE(x, sc, o); l < best {
			best, bs, bo = l, sc, o
		}
	}
	return bs, bo, best
}

func rawMSE(x []float32, s float32, o int32) float64 {
	var e float64
	for _, v := range x {
		d := float64(v) - FakeQuant(float64(v), s, o)
		e += d * d
	}
	return e / float64(len(x))
}

func defaultIFMR(asym bool) ActParams {
	return ActParams{NumBits: 8, Algo: "ifmr", MaxPercentile: 0.999999, MinPercentile: 0.999999,
		SearchRange: [2]float64{0.7, 1.3}, SearchStep: 0.01, Asymmetric: asym}
}

func TestIFMRMatchesBruteForce(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 8))
	dists := []struct {
		name string
		gen  func() float64
	}{
		{"gauss", func() float64 { return rng.NormFloat64() }},
		{"relu-laplace", func() float64 { return max(0, rng.ExpFloat64()*(2*float64(rng.IntN(2))-1)) }},
		{"skewed-heavy", func() float64 { return math.Exp(rng.NormFloat64()) - 1.5 }},
		{"outliers", func() float64 {
			if rng.IntN(500) == 0 {
				return 40 * rng.NormFloat64()
			}
			return rng.NormFloat64()
		}},
	}
	for _, d := range dists {
		name, gen := d.name, d.gen
		x := make([]float32, 40000)
		for i := range x {
			x[i] = float32(gen())
		}
		for _, asym := range []bool{true, false} {
			for _, pct := range []float64{0.999999, 0.999} {
				p := defaultIFMR(asym)
				p.MaxPercentile, p.MinPercentile = pct, pct
				h := NewHistogram(IFMRBins)
				for _, b := range batches(x, 8) {
					if err := h.Add(b); err != nil {
						t.Fatal(err)
					}
				}
				s, o, err := IFMR(h, p)
				if err != nil {
					t.Fatal(err)
				}
				es, eo, eloss := ifmrExact(x, p)
				got := rawMSE(x, s, o)
				t.Logf("%s asym=%v pct=%v: histogram s=%.6g o=%d mse=%.6g; exact s=%.6g o=%d mse=%.6g",
					name, asym, pct, s, o, got, es, eo, eloss)
				// The histogram's choice must be as good as the exact
				// one up to 0.2%, and its scale within one search step
				// unless the loss is flat there (equal within 0.05%).
				if got > eloss*1.002 {
					t.Errorf("%s asym=%v pct=%v: mse %v exceeds exact optimum %v by more than 0.2%%", name, asym, pct, got, eloss)
				}
				if r := float64(s) / float64(es); math.Abs(r-1) > 0.011 && got > eloss*1.0005 {
					t.Errorf("%s asym=%v pct=%v: scale %v vs exact %v (ratio %v)", name, asym, pct, s, es, r)
				}
			}
		}
	}
}

func TestIFMRLossIsExactInsideSteps(t *testing.T) {
	t.Parallel()
	// Values that sit well inside quantization steps: the histogram loss
	// must equal the raw loss up to float error.
	rng := rand.New(rand.NewPCG(3, 3))
	x := make([]float32, 5000)
	for i := range x {
		x[i] = float32(rng.Float64()*4 - 1)
	}
	h := NewHistogram(IFMRBins)
	if err := h.Add(x); err != nil {
		t.Fatal(err)
	}
	s, o := ScaleOffset(-1, 3, true)
	got := h.SquaredError(s, o) / float64(len(x))
	want := rawMSE(x, s, o)
	if math.Abs(got-want) > 0.02*want {
		t.Errorf("histogram mse %v, raw %v", got, want)
	}
}

func TestIFMRRejectsBadParams(t *testing.T) {
	t.Parallel()
	h := NewHistogram(16)
	_ = h.Add([]float32{1, 2})
	for _, p := range []ActParams{
		{MaxPercentile: 0.2, MinPercentile: 0.99, SearchRange: [2]float64{0.7, 1.3}, SearchStep: 0.01},
		{MaxPercentile: 0.99, MinPercentile: 0.99, SearchRange: [2]float64{1.3, 0.7}, SearchStep: 0.01},
		{MaxPercentile: 0.99, MinPercentile: 0.99, SearchRange: [2]float64{0.7, 1.3}, SearchStep: 0},
	} {
		if _, _, err := IFMR(h, p); err == nil {
			t.Errorf("IFMR accepted %+v", p)
		}
	}
	if _, _, err := IFMR(NewHistogram(16), defaultIFMR(true)); err == nil {
		t.Error("IFMR accepted an empty histogram")
	}
}
