package quant

import (
	"math/rand/v2"
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
