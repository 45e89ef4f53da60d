//go:build !race

// The memory tests measure the live heap, which the race detector changes
// and makes slow to measure: scripts/test.sh runs them without -race.

package quant

import "testing"

// TestRunFlowMemoryIndependentOfBatches: the whole flow (balance factors,
// calibration, save, SQNR evaluation of two models) over 64 batches of 2 MiB
// of activations each keeps no more live heap than over 4.
func TestRunFlowMemoryIndependentOfBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("slow in -short mode")
	}
	p4, p64 := flowPeak(t, 4), flowPeak(t, 64)
	t.Logf("peak live heap: 4 batches %.2f MiB, 64 batches %.2f MiB (%d MiB of observed activations per pass over 64 batches)",
		float64(p4)/(1<<20), float64(p64)/(1<<20), 64*2*8*16*32*32*4>>20)
	if float64(p64) > 1.5*float64(p4)+2<<20 {
		t.Errorf("peak live heap grew from %d to %d bytes with 16x the batches", p4, p64)
	}
}

// TestCalibrateMemoryIndependentOfBatches calibrates 4 and 64 batches of a
// model whose observed activations take 1 MiB per batch: the live heap may
// not grow with the batch count.
func TestCalibrateMemoryIndependentOfBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("slow in -short mode")
	}
	b := newBuilder(4)
	x := b.input("x", 8, 16, 32, 32)
	c1 := b.node("Conv", "c1", map[string]any{"pads": []int64{1, 1, 1, 1}}, x, b.init("w1", 0.2, 0, 16, 16, 3, 3))
	r := b.node("Relu", "r", nil, c1)
	c2 := b.node("Conv", "c2", nil, r, b.init("w2", 0.2, 0, 4, 16, 1, 1))
	m := b.model(c2)
	layers := []*Layer{layer(m, "c1"), layer(m, "c2")}
	peaks := map[int]uint64{}
	for _, n := range []int{4, 64} {
		var peak uint64
		data := genData{n: n, batch: 8, peak: &peak}
		cfg := testConfig(layers, true)
		cfg.BatchNum = n
		cfg.Layers["c2"].Act = hfmgParams(8192, true)
		rec, err := Preprocess(m, layers, cfg, testSim, data)
		if err != nil {
			t.Fatal(err)
		}
		if err := Calibrate(m, layers, cfg, rec, testSim, data); err != nil {
			t.Fatal(err)
		}
		peaks[n] = peak
		t.Logf("%d batches (%d MiB of observed activations in total): peak live heap %.2f MiB",
			n, n*2*8*16*32*32*4>>20, float64(peak)/(1<<20))
	}
	// 60 more batches hold 60 MiB of observed activations; keeping even
	// one 512 KiB tensor per batch would add 30 MiB.
	if peaks[64] > peaks[4]+4<<20 {
		t.Errorf("peak live heap grew from %d to %d bytes with 16x the batches", peaks[4], peaks[64])
	}
}

// TestAlphaSearchMemoryIndependentOfBatches: the whole flow with the α
// search on both layers of flowPeak's model (2 MiB of activations per
// batch) keeps the same peak live heap, within 10%, over 64 batches as
// over 4: the reservoirs take their full size with the first batch, and
// the candidates' histograms are built from them.
func TestAlphaSearchMemoryIndependentOfBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("slow in -short mode")
	}
	opt := QuantizeOptions{Alpha: DefaultAlphaSearch()}
	p4, p64 := flowPeakWith(t, 4, opt), flowPeakWith(t, 64, opt)
	t.Logf("peak live heap with the α search: 4 batches %.2f MiB, 64 batches %.2f MiB", float64(p4)/(1<<20), float64(p64)/(1<<20))
	if float64(p64) > 1.1*float64(p4) || float64(p4) > 1.1*float64(p64) {
		t.Errorf("peak live heap %d bytes with 4 batches, %d with 64: more than 10%% apart", p4, p64)
	}
}
