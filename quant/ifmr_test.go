package quant

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestQuantizeRoundsHalfToEvenAndSaturates(t *testing.T) {
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

func TestScaleOffset(t *testing.T) {
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

// batches splits x into n parts.
func batches(x []float32, n int) [][]float32 {
	var out [][]float32
	per := (len(x) + n - 1) / n
	for lo := 0; lo < len(x); lo += per {
		out = append(out, x[lo:min(lo+per, len(x))])
	}
	return out
}

func TestHistogramStreamsExactly(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// Batches with a growing range, so the histogram re-bins several
	// times, on both sides.
	var all []float32
	h := NewHistogram(1000)
	for b := range 6 {
		x := make([]float32, 3000)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * math.Pow(3, float64(b)) * (1 + float64(b%2)))
			if b == 4 {
				x[i] = float32(math.Abs(float64(x[i])))
			}
		}
		all = append(all, x...)
		if err := h.Add(x); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(all)
	var cnt int64
	var sum, sumSq float64
	for i := range h.Bins() {
		n, s, s2 := h.Bin(i)
		cnt += n
		sum += s
		sumSq += s2
	}
	var wantSum, wantSq float64
	for _, v := range all {
		wantSum += float64(v)
		wantSq += float64(v) * float64(v)
	}
	if cnt != int64(len(all)) || h.N != int64(len(all)) {
		t.Fatalf("counts %d / N %d, want %d", cnt, h.N, len(all))
	}
	if math.Abs(sum-wantSum) > 1e-9*wantSq || math.Abs(sumSq-wantSq) > 1e-9*wantSq {
		t.Errorf("moments %v %v, want %v %v", sum, sumSq, wantSum, wantSq)
	}
	if h.Min != float64(all[0]) || h.Max != float64(all[len(all)-1]) {
		t.Errorf("extremes %v %v, want %v %v", h.Min, h.Max, all[0], all[len(all)-1])
	}
	// Every bin's values must really lie in the bin: check by recomputing
	// the bin counts from the raw data.
	lo, w := h.Edges()
	want := make([]int64, h.Bins())
	for _, v := range all {
		want[max(0, min(h.Bins()-1, int((float64(v)-lo)/w)))]++
	}
	for i := range want {
		if n, _, _ := h.Bin(i); n != want[i] {
			t.Fatalf("bin %d holds %d values, the raw data puts %d there", i, n, want[i])
		}
	}
	for _, k := range []int64{1, 2, 100, 9000, 17999, 18000} {
		got, exact := h.Quantile(k), float64(all[k-1])
		if math.Abs(got-exact) > w {
			t.Errorf("Quantile(%d) = %v, exact %v, bin width %v", k, got, exact, w)
		}
	}
}

func TestHistogramZerosThenValues(t *testing.T) {
	h := NewHistogram(64)
	if err := h.Add(make([]float32, 10)); err != nil {
		t.Fatal(err)
	}
	if err := h.Add([]float32{1, 2, 0}); err != nil {
		t.Fatal(err)
	}
	var zeroBin int64
	lo, w := h.Edges()
	for i := range h.Bins() {
		if n, _, _ := h.Bin(i); n > 0 && lo+float64(i)*w <= 0 && 0 < lo+float64(i+1)*w {
			zeroBin = n
		}
	}
	if zeroBin != 11 || h.N != 13 {
		t.Errorf("zero bin holds %d values of %d, want 11 of 13", zeroBin, h.N)
	}
	if err := h.Add([]float32{float32(math.NaN())}); err == nil {
		t.Error("NaN accepted")
	}
}

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
