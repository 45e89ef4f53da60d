package quant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// searchDists are activation-like value distributions, each as batches.
func searchDists(rng *rand.Rand) map[string][][]float32 {
	gen := func(n, batches int, f func() float64) [][]float32 {
		out := make([][]float32, batches)
		for b := range out {
			out[b] = make([]float32, n)
			for i := range out[b] {
				out[b][i] = float32(f())
			}
		}
		return out
	}
	return map[string][][]float32{
		"gauss":         gen(20000, 3, rng.NormFloat64),
		"relu":          gen(20000, 2, func() float64 { return max(0, rng.NormFloat64()*3+0.5) }),
		"outliers":      gen(20000, 4, func() float64 { return rng.NormFloat64() * math.Pow(40, float64(rng.IntN(50)/49)) }),
		"pixels":        gen(20000, 2, func() float64 { return float64(rng.IntN(17)) / 16 }),
		"student-t":     {studentT3(rng, 30000, 0.3)},
		"negative":      gen(5000, 2, func() float64 { return -rng.ExpFloat64() }),
		"tiny":          gen(3, 1, rng.NormFloat64),
		"growing range": {{0.01, -0.02, 0.005}, {3, -1}, {-200, 0.5}},
	}
}

// TestSearchIFMRPicksWhatIFMRPicks: the α search's IFMR, whose loss sums
// runs of bins from prefix sums, picks IFMR's scale and offset, and its
// losses equal Histogram.SquaredError, on histograms of the flow's size and
// smaller; the clipping bound by which it skips candidates stays below
// the loss.
func TestSearchIFMRPicksWhatIFMRPicks(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	for name, batches := range searchDists(rng) {
		for _, bins := range []int{IFMRBins, 4096, 64} {
			h := NewHistogram(bins)
			for _, b := range batches {
				if err := h.Add(b); err != nil {
					t.Fatal(err)
				}
			}
			pre := newHistPrefix(h)
			for _, p := range []ActParams{defaultIFMR(true), defaultIFMR(false),
				{NumBits: 8, Algo: "ifmr", MaxPercentile: 0.99, MinPercentile: 0.999, SearchRange: [2]float64{0.5, 1.2}, SearchStep: 0.02, Asymmetric: true}} {
				where := fmt.Sprintf("%s, %d bins, asymmetric %v, max_percentile %g", name, bins, p.Asymmetric, p.MaxPercentile)
				ws, wo, err := IFMR(h, p)
				if err != nil {
					t.Fatal(err)
				}
				gs, gof, err := searchIFMR(h, p)
				if err != nil {
					t.Fatal(err)
				}
				if gs != ws || gof != wo {
					t.Errorf("%s: searchIFMR gives scale %g offset %d, IFMR %g %d", where, gs, gof, ws, wo)
				}
				for _, f := range []float64{0.3, 1, 1.7} {
					s, o := ScaleOffset(f*(h.Min-0.1), f*h.Max, p.Asymmetric)
					want, got := h.SquaredError(s, o), pre.squaredError(s, o)
					if math.Abs(got-want) > 1e-9*want+1e-300 {
						t.Errorf("%s: loss at scale %g offset %d: %g by runs, %g bin by bin", where, s, o, got, want)
					}
					if b := pre.clipBound(s, o); b > want*(1+1e-9) {
						t.Errorf("%s: clipping bound %g above the loss %g at scale %g offset %d", where, b, want, s, o)
					}
				}
			}
		}
	}
}

// BenchmarkSearchIFMR compares IFMR and searchIFMR on the flow's histogram.
func BenchmarkSearchIFMR(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	dists := searchDists(rng)
	for _, name := range []string{"gauss", "outliers"} {
		h := NewHistogram(IFMRBins)
		for _, batch := range dists[name] {
			h.Add(batch)
		}
		p := defaultIFMR(true)
		b.Run(name+"/IFMR", func(b *testing.B) {
			for b.Loop() {
				IFMR(h, p)
			}
		})
		b.Run(name+"/searchIFMR", func(b *testing.B) {
			for b.Loop() {
				searchIFMR(h, p)
			}
		})
	}
}
