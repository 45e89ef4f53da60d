package quant

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"amq/onnx"
)

// TestActCalibratorsMatchAlgorithms checks that each act_algo's calibrator
// gives what its algorithm gives on a histogram of the same batches.
func TestActCalibratorsMatchAlgorithms(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	var batches []*onnx.Tensor
	for range 3 {
		batches = append(batches, randInput(rng, 1, 2, 4, 5, 5))
	}
	ifmrH, hfmgH := NewHistogram(IFMRBins), NewHFMGHistogram(2048)
	for _, x := range batches {
		if err := ifmrH.Observe(x); err != nil {
			t.Fatal(err)
		}
		if err := hfmgH.Observe(x); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		p    ActParams
		want func(ActParams) (float32, int32, error)
	}{
		{defaultIFMR(true), func(p ActParams) (float32, int32, error) { return IFMR(ifmrH, p) }},
		{defaultIFMR(false), func(p ActParams) (float32, int32, error) { return IFMR(ifmrH, p) }},
		{hfmgParams(2048, true), func(p ActParams) (float32, int32, error) { return HFMG(hfmgH, p) }},
		{hfmgParams(2048, false), func(p ActParams) (float32, int32, error) { return HFMG(hfmgH, p) }},
	} {
		a, err := lookupActAlgorithm(tc.p.Algo)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.check(tc.p); err != nil {
			t.Fatalf("%s: %v", tc.p.Algo, err)
		}
		c := a.calibrator(a.key("x", tc.p).bins)
		for _, x := range batches {
			if err := c.Observe(x); err != nil {
				t.Fatal(err)
			}
		}
		s, o, err := c.ScaleOffset(tc.p)
		ws, wo, werr := tc.want(tc.p)
		if s != ws || o != wo || (err == nil) != (werr == nil) {
			t.Errorf("%s asymmetric=%v: calibrator gives %v %d %v, algorithm %v %d %v", tc.p.Algo, tc.p.Asymmetric, s, o, err, ws, wo, werr)
		}
	}
}

// TestCalibratorKeysShareByTensorAlgoBins checks which layers share a
// calibrator: those reading one tensor with one algorithm and bin count,
// whatever their other parameters.
func TestCalibratorKeysShareByTensorAlgoBins(t *testing.T) {
	t.Parallel()
	ifmr, _ := lookupActAlgorithm("ifmr")
	hfmg, _ := lookupActAlgorithm("hfmg")
	if ifmr.key("x", defaultIFMR(true)) != ifmr.key("x", defaultIFMR(false)) {
		t.Error("ifmr layers with different asymmetry do not share")
	}
	if k := ifmr.key("x", defaultIFMR(true)); k.bins != IFMRBins {
		t.Errorf("ifmr key %+v, want %d bins", k, IFMRBins)
	}
	if ifmr.key("x", defaultIFMR(true)) == ifmr.key("y", defaultIFMR(true)) {
		t.Error("different tensors share")
	}
	if hfmg.key("x", hfmgParams(1024, true)) == hfmg.key("x", hfmgParams(2048, true)) {
		t.Error("hfmg layers with different bin counts share")
	}
	if hfmg.key("x", hfmgParams(1024, true)) != hfmg.key("x", hfmgParams(1024, false)) {
		t.Error("hfmg layers with one bin count do not share")
	}
}

// TestEmptyWeightAlgorithmIsARQ checks that an empty wts_algo means ARQ.
func TestEmptyWeightAlgorithmIsARQ(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "arq_quantize"} {
		a, err := lookupWeightAlgorithm(name)
		if err != nil || a.name != "arq_quantize" {
			t.Errorf("wts_algo %q: %v, %v", name, a, err)
		}
	}
	if _, err := lookupWeightAlgorithm("nuq"); err == nil || err.Error() != `unknown weight algorithm "nuq" (want arq_quantize)` {
		t.Errorf("wts_algo nuq: %v", err)
	}
}

func TestOrListJoinsWithCommasAndOr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{nil, ""}, {[]string{"a"}, "a"}, {[]string{"a", "b"}, "a or b"}, {[]string{"a", "b", "c"}, "a, b or c"},
	} {
		if got := orList(tc.names); got != tc.want {
			t.Errorf("orList(%q) = %q, want %q", tc.names, got, tc.want)
		}
	}
}

// dyadicBatch returns n values k/2^12 for odd k (bin centres of any grid of
// width 2^-11 or coarser starting on a multiple of it), spread over
// [lo, hi], plus lo and hi themselves. All arithmetic on them is exact.
func dyadicBatch(rng *rand.Rand, n int, lo, hi float64) []float32 {
	x := []float32{float32(lo), float32(hi)}
	span := int((hi - lo) * 2048)
	for range n {
		k := rng.IntN(span)
		x = append(x, float32(lo+(float64(k)+0.5)/2048))
	}
	return x
}

// recount counts x over the bins of h, independently of the histograms:
// bin floor((v − Lo)/Width), the top edge in the last bin.
func recount(h *ActHistogram, x []float32) []int64 {
	c := make([]int64, len(h.Counts))
	for _, v := range x {
		i := int(math.Floor((float64(v) - h.Lo) / h.Width))
		c[max(0, min(len(c)-1, i))]++
	}
	return c
}

// TestActHistogramSummaryCountsEveryValueInItsBin checks the summary of
// both calibrators' histograms over two batches: at most ActHistogramBins
// bins, the exact extremes and count, and every value counted in the
// summary bin that holds it. IFMR's histogram gets the wider batch second,
// so that its range grows (exactly, by whole bins); HFMG's first, since
// HFMG splits old bins in proportion when its range grows, as AMCT does,
// which no recount of the values reproduces.
func TestActHistogramSummaryCountsEveryValueInItsBin(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	narrow := dyadicBatch(rng, 5000, -3, 5)
	wide := dyadicBatch(rng, 3000, -6, 7)
	all := append(slices.Clone(narrow), wide...)
	for _, tc := range []struct {
		p       ActParams
		batches [][]float32
	}{
		{defaultIFMR(true), [][]float32{narrow, wide}},
		{hfmgParams(2048, true), [][]float32{wide, narrow}},
	} {
		p := tc.p
		a, err := lookupActAlgorithm(p.Algo)
		if err != nil {
			t.Fatal(err)
		}
		k := a.key("x", p)
		c := a.calibrator(k.bins)
		for _, b := range tc.batches {
			if err := c.Observe(onnx.NewTensor([]int{len(b)}, b)); err != nil {
				t.Fatal(err)
			}
		}
		h := summarizeCalibrator(c, k, ActHistogramBins)
		if h == nil {
			t.Fatalf("%s: no summary", p.Algo)
		}
		if h.Tensor != "x" || h.Algo != p.Algo || h.Min != -6 || h.Max != 7 || h.N != int64(len(all)) {
			t.Errorf("%s: tensor %q algo %q min %v max %v n %d, want x %s -6 7 %d", p.Algo, h.Tensor, h.Algo, h.Min, h.Max, h.N, p.Algo, len(all))
		}
		if len(h.Counts) > ActHistogramBins || len(h.Counts) < ActHistogramBins/2 {
			t.Errorf("%s: %d bins, want between %d and %d", p.Algo, len(h.Counts), ActHistogramBins/2, ActHistogramBins)
		}
		if h.Lo > -6 || h.Lo+float64(len(h.Counts))*h.Width < 7 {
			t.Errorf("%s: bins [%v, %v] do not cover [-6, 7]", p.Algo, h.Lo, h.Lo+float64(len(h.Counts))*h.Width)
		}
		if want := recount(h, all); !slices.Equal(h.Counts, want) {
			t.Errorf("%s: counts differ from a recount of the values over the same bins\ngot  %v\nwant %v", p.Algo, h.Counts, want)
		}
	}
}

// TestActHistogramSummaryOfZeros: a tensor of zeros is one bin at 0.
func TestActHistogramSummaryOfZeros(t *testing.T) {
	t.Parallel()
	a, _ := lookupActAlgorithm("ifmr")
	k := a.key("x", defaultIFMR(true))
	c := a.calibrator(k.bins)
	if err := c.Observe(onnx.NewTensor([]int{7}, make([]float32, 7))); err != nil {
		t.Fatal(err)
	}
	h := summarizeCalibrator(c, k, ActHistogramBins)
	if h == nil || h.Width != 0 || !slices.Equal(h.Counts, []int64{7}) || h.Min != 0 || h.Max != 0 {
		t.Errorf("summary of zeros: %+v", h)
	}
}
