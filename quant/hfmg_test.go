package quant

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func hfmgParams(bins int, asym bool) ActParams {
	return ActParams{NumBits: 8, Algo: "hfmg", NumOfBins: bins, Asymmetric: asym}
}

// gridBest searches clipping ranges [q_a, q_b] over a grid of sample
// quantiles on the raw data and returns the smallest MSE found: an
// independent reference for what a clip search can achieve.
func gridBest(x []float32, asym bool) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	n := len(s)
	var los, his []float64
	for i := 0; i <= 24; i++ {
		f := math.Pow(10, -6+float64(i)*0.2) // 1e-6 .. 1e-1.2, log spaced
		los = append(los, float64(s[int(f*float64(n-1))]))
		his = append(his, float64(s[n-1-int(f*float64(n-1))]))
	}
	los = append(los, float64(s[0]))
	his = append(his, float64(s[n-1]))
	best := math.Inf(1)
	for _, lo := range los {
		for _, hi := range his {
			sc, o := ScaleOffset(lo, hi, asym)
			best = min(best, rawMSE(x, sc, o))
		}
	}
	return best
}

func TestHFMGClipsOutliers(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	x := make([]float32, 60000)
	for i := range x {
		// Student t with 3 degrees of freedom, shifted: heavy tails
		// that MSE-optimal clipping cuts.
		chi := 0.0
		for range 3 {
			chi += sq(rng.NormFloat64())
		}
		x[i] = float32(rng.NormFloat64()/math.Sqrt(chi/3) + 0.5)
	}
	for _, asym := range []bool{true, false} {
		ref := gridBest(x, asym)
		for _, bins := range hfmgBins {
			h := NewHistogram(bins)
			for _, b := range batches(x, 6) {
				if err := h.Add(b); err != nil {
					t.Fatal(err)
				}
			}
			s, o, err := HFMG(h, hfmgParams(bins, asym))
			if err != nil {
				t.Fatal(err)
			}
			got := rawMSE(x, s, o)
			ms, mo := ScaleOffset(h.Min, h.Max, asym)
			minmax := rawMSE(x, ms, mo)
			t.Logf("asym=%v bins=%d: hfmg s=%.5g o=%d mse=%.5g; min-max mse=%.5g; grid best %.5g", asym, bins, s, o, got, minmax, ref)
			if got > 0.97*minmax {
				t.Errorf("asym=%v bins=%d: hfmg mse %v is not below the min-max mse %v", asym, bins, got, minmax)
			}
			if got > 1.02*ref {
				t.Errorf("asym=%v bins=%d: hfmg mse %v is more than 2%% above the grid optimum %v", asym, bins, got, ref)
			}
		}
	}
}

func TestHFMGKeepsUniformRange(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, 50000)
	for i := range x {
		x[i] = float32(rng.Float64()*6 - 2) // uniform [-2, 4)
	}
	h := NewHistogram(2048)
	if err := h.Add(x); err != nil {
		t.Fatal(err)
	}
	s, o, err := HFMG(h, hfmgParams(2048, true))
	if err != nil {
		t.Fatal(err)
	}
	// With nothing to clip, the range must stay (nearly) the full one.
	lo, hi := Dequantize(-128, s, o), Dequantize(127, s, o)
	if lo > -1.95 || hi < 3.9 {
		t.Errorf("uniform [-2, 4): hfmg range [%v, %v]", lo, hi)
	}
}

func TestHFMGNonNegative(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	x := make([]float32, 20000)
	for i := range x {
		x[i] = float32(max(0, rng.NormFloat64()))
	}
	h := NewHistogram(1024)
	if err := h.Add(x); err != nil {
		t.Fatal(err)
	}
	_, o, err := HFMG(h, hfmgParams(1024, true))
	if err != nil {
		t.Fatal(err)
	}
	if o != -128 {
		t.Errorf("ReLU output: offset %d, want -128", o)
	}
	if err := checkHFMG(hfmgParams(1000, true)); err == nil {
		t.Error("num_of_bins 1000 accepted")
	}
}
