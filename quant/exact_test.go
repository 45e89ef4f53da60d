package quant

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"amq/onnx"
)

// smallSupports are activations with few distinct values: 8-bit-like
// pixels (the digits' 17 levels, mostly background), one-hot vectors, and
// the outputs of an embedding table of 40 entries of 8 channels.
func smallSupports(rng *rand.Rand) map[string][]float32 {
	pixels := make([]float32, 20000)
	for i := range pixels {
		if rng.IntN(3) > 0 {
			pixels[i] = float32(rng.IntN(17)) / 16
		}
	}
	onehot := make([]float32, 10*3000)
	for i := range 3000 {
		onehot[i*10+rng.IntN(10)] = 1
	}
	table := make([]float32, 40*8)
	for i := range table {
		table[i] = float32(rng.NormFloat64() * 3)
	}
	embed := make([]float32, 0, 2500*8)
	for range 2500 {
		k := rng.IntN(40)
		embed = append(embed, table[k*8:(k+1)*8]...)
	}
	return map[string][]float32{"pixels": pixels, "onehot": onehot, "embedding": embed}
}

// calibrateBatches streams batches into a fresh calibrator for p and
// returns its scale, offset and histogram summary.
func calibrateBatches(t *testing.T, p ActParams, batches [][]float32) (float32, int32, *ActHistogram) {
	t.Helper()
	a, err := lookupActAlgorithm(p.Algo)
	if err != nil {
		t.Fatal(err)
	}
	k := a.key("x", p)
	c := a.calibrator(k.bins)
	for _, b := range batches {
		if err := c.Observe(onnx.NewTensor([]int{len(b)}, b)); err != nil {
			t.Fatal(err)
		}
	}
	s, o, err := c.ScaleOffset(p)
	if err != nil {
		t.Fatal(err)
	}
	return s, o, summarizeCalibrator(c, k, ActHistogramBins)
}

// TestExactIFMREqualsBruteForce: on activations with few distinct values
// the IFMR calibrator picks what IFMR evaluated on every raw value picks
// (ifmrExact, written from AMCT's definition), for percentiles at the
// maximum and inside the data, where a histogram can only interpolate.
func TestExactIFMREqualsBruteForce(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(11, 12))
	for name, x := range smallSupports(rng) {
		for _, asym := range []bool{true, false} {
			for _, pct := range []float64{0.999999, 0.99, 0.9} {
				p := defaultIFMR(asym)
				p.MaxPercentile, p.MinPercentile = pct, pct
				s, o, h := calibrateBatches(t, p, batches(x, 7))
				if h == nil || h.Distinct == 0 {
					t.Fatalf("%s: not calibrated on exact counts (summary %+v)", name, h)
				}
				ws, wo, wloss := ifmrExact(x, p)
				hist := NewHistogram(IFMRBins)
				for _, b := range batches(x, 7) {
					if err := hist.Add(b); err != nil {
						t.Fatal(err)
					}
				}
				hs, ho, err := IFMR(hist, p)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s asym=%v pct=%v: %d values; exact counts s=%v o=%d, raw values s=%v o=%d, histogram s=%v o=%d",
					name, asym, pct, h.Distinct, s, o, ws, wo, hs, ho)
				// Two candidates may tie exactly; then the sums may
				// round either way.
				if (s != ws || o != wo) && math.Abs(rawMSE(x, s, o)-wloss) > 1e-12*wloss {
					t.Errorf("%s asym=%v pct=%v: exact counts give s=%v o=%d (mse %v), raw values s=%v o=%d (mse %v)",
						name, asym, pct, s, o, rawMSE(x, s, o), ws, wo, wloss)
				}
			}
		}
	}
}

// TestExactCountsFallBackToTheHistogram: a tensor whose values exceed
// ExactLimit after some batches is calibrated, and summarized, exactly as
// from its histogram alone, for both algorithms.
func TestExactCountsFallBackToTheHistogram(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(13, 14))
	x := smallSupports(rng)
	wide := make([]float32, 6000)
	for i := range wide {
		wide[i] = float32(rng.NormFloat64())
	}
	stream := [][]float32{x["pixels"][:5000], x["pixels"][5000:], wide, x["pixels"][:3000]}
	for _, p := range []ActParams{defaultIFMR(true), defaultIFMR(false), hfmgParams(4096, true), hfmgParams(1024, false)} {
		s, o, h := calibrateBatches(t, p, stream)
		var ws float32
		var wo int32
		var wh *ActHistogram
		var err error
		if p.Algo == "ifmr" {
			hist := NewHistogram(IFMRBins)
			for _, b := range stream {
				if err := hist.Add(b); err != nil {
					t.Fatal(err)
				}
			}
			ws, wo, err = IFMR(hist, p)
			wh = summarizeIFMR(hist, ActHistogramBins)
		} else {
			hist := NewHFMGHistogram(p.NumOfBins)
			for _, b := range stream {
				if err := hist.Add(b); err != nil {
					t.Fatal(err)
				}
			}
			ws, wo, err = HFMG(hist, p)
			wh = summarizeHFMG(hist, ActHistogramBins)
		}
		if err != nil {
			t.Fatal(err)
		}
		if s != ws || o != wo {
			t.Errorf("%s asym=%v: %v %d after the fallback, %v %d from the histogram", p.Algo, p.Asymmetric, s, o, ws, wo)
		}
		if h.Distinct != 0 || h.Min != wh.Min || h.Max != wh.Max || h.N != wh.N || h.Lo != wh.Lo || h.Width != wh.Width || !slices.Equal(h.Counts, wh.Counts) {
			t.Errorf("%s asym=%v: summary %+v after the fallback, %+v from the histogram", p.Algo, p.Asymmetric, h, wh)
		}
	}
}

// TestExactCountsKeepAtMostTheLimit: ExactLimit distinct values are
// counted, one more drops the counts, and a finished drop is final.
func TestExactCountsKeepAtMostTheLimit(t *testing.T) {
	t.Parallel()
	x := make([]float32, ExactLimit)
	for i := range x {
		x[i] = float32(i) - 100
	}
	e := newExactCounts(ExactLimit)
	e.add(x)
	e.add(x[:10])
	if v, ok := e.values(); !ok || e.distinct() != ExactLimit || v.n != ExactLimit+10 || v.counts[0] != 2 || v.vals[0] != -100 {
		t.Fatalf("at the limit: ok %v, %d distinct, n %d", ok, e.distinct(), v.n)
	}
	e.add([]float32{0.5})
	if _, ok := e.values(); ok || e.distinct() != 0 || e.index != nil || e.vals != nil {
		t.Fatalf("beyond the limit: counts kept (%d distinct)", e.distinct())
	}
	e.add(x[:3])
	if _, ok := e.values(); ok {
		t.Fatal("counts came back after the drop")
	}
}

// TestExactStatisticsIgnoreBatching: with exact counts, the factors
// depend on the values alone: the same values in other batches and in
// another order give the same scale and offset, bit for bit; HFMG's equal
// AMCT's on all the values as one batch, which its merge of batches with
// different ranges does not reproduce in general.
func TestExactStatisticsIgnoreBatching(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(15, 16))
	x := smallSupports(rng)["embedding"]
	sorted := slices.Clone(x)
	slices.Sort(sorted) // batches whose ranges grow one after the other
	reversed := batches(x, 3)
	slices.Reverse(reversed)
	shuffled := slices.Clone(x)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	streams := map[string][][]float32{
		"one batch":     {x},
		"7 batches":     batches(x, 7),
		"sorted, 5":     batches(sorted, 5),
		"shuffled, 13":  batches(shuffled, 13),
		"reversed, 3":   reversed,
		"sorted, 40":    batches(sorted, 40),
		"shuffled, 200": batches(shuffled, 200),
	}
	for _, p := range []ActParams{defaultIFMR(true), defaultIFMR(false), hfmgParams(4096, true), hfmgParams(2048, false)} {
		ws, wo, _ := calibrateBatches(t, p, [][]float32{x})
		for name, stream := range streams {
			if s, o, _ := calibrateBatches(t, p, stream); s != ws || o != wo {
				t.Errorf("%s asym=%v, %s: %v %d, one batch gives %v %d", p.Algo, p.Asymmetric, name, s, o, ws, wo)
			}
		}
		if p.Algo != "hfmg" {
			continue
		}
		one := NewHFMGHistogram(p.NumOfBins)
		if err := one.Add(x); err != nil {
			t.Fatal(err)
		}
		if s, o, err := HFMG(one, p); err != nil || s != ws || o != wo {
			t.Errorf("hfmg asym=%v: %v %d, AMCT's on one batch %v %d (%v)", p.Asymmetric, ws, wo, s, o, err)
		}
		merged := NewHFMGHistogram(p.NumOfBins)
		for _, b := range streams["sorted, 40"] {
			if err := merged.Add(b); err != nil {
				t.Fatal(err)
			}
		}
		s, o, _ := HFMG(merged, p)
		t.Logf("hfmg asym=%v: exact counts %v %d; streamed histogram over 40 growing batches %v %d", p.Asymmetric, ws, wo, s, o)
	}
}

// TestExactCalibratorsRejectNonFiniteValues: the calibrators still name
// the tensor of a NaN or infinite value.
func TestExactCalibratorsRejectNonFiniteValues(t *testing.T) {
	t.Parallel()
	for _, p := range []ActParams{defaultIFMR(true), hfmgParams(1024, true)} {
		a, _ := lookupActAlgorithm(p.Algo)
		c := a.calibrator(a.key("x", p).bins)
		x := onnx.NewTensor([]int{3}, []float32{0, float32(math.NaN()), 1})
		x.Name = "act"
		if err := c.Observe(x); err == nil || !strings.Contains(err.Error(), `"act"`) {
			t.Errorf("%s: error %v, want one naming the tensor", p.Algo, err)
		}
	}
}
