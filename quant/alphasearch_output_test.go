package quant

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"amq/onnx"
)

// TestOutputCheckErrorIsSavesFakeQuantModelsError: the output check's
// error of a plan is that of the fake-quant model Save writes for the
// plan's record (the candidate's factors, scale_d and offset_d, ARQ on the
// balanced weight), against the float model, on the check's batches; and
// it is the same whether the float outputs were kept or computed again.
func TestOutputCheckErrorIsSavesFakeQuantModelsError(t *testing.T) {
	t.Parallel()
	m, data := outlierGemm(5, 16)
	layers := []*Layer{layer(m, "fc")}
	cfg := searchConfig(layers, 4)
	bp, err := newBalancePlan(m, layers, cfg, DMQOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := bp.observe(testSim, data); err != nil {
		t.Fatal(err)
	}
	if err := searchAlpha(m, bp.units, bp.obs, bp.res, testSim); err != nil {
		t.Fatal(err)
	}
	out := m.Graph.Outputs[0].Name
	if bp.first == nil || bp.first[out] == nil {
		t.Fatal("the preprocess pass kept no float output of batch 0")
	}
	sub, err := newCheckSubset(m, []string{out}, testSim, data, bp.first)
	if err != nil {
		t.Fatal(err)
	}
	if sub.batches != 4 || sub.samples != 64 || sub.refs == nil {
		t.Fatalf("subset of %d batches, %d samples, outputs kept %v; want all 4 batches, 64 samples, kept", sub.batches, sub.samples, sub.refs != nil)
	}
	u := bp.units[0]
	for _, c := range []*searchCandidate{u.cands[0], u.cands[11]} {
		if !(c.none || c.alpha == 0.5) || (c == u.cands[11] && c.none) {
			t.Fatalf("candidates 0 and 11 are %s and %s, want none and 0.5", u.cands[0], u.cands[11])
		}
		got, _, err := sub.planError(bp.units, plan{c}, math.Inf(1))
		if err != nil {
			t.Fatal(err)
		}

		// Save's fake-quant model of the plan's record.
		rec := Record{"fc": &LayerRecord{BalanceFactor: c.factors}}
		bal := m.Clone()
		if _, err := ApplyBalance(bal, []*Layer{layer(bal, "fc")}, rec, BalanceOptions{}); err != nil {
			t.Fatal(err)
		}
		n, w, err := layerWeight(bal.Graph, layer(bal, "fc"))
		if err != nil {
			t.Fatal(err)
		}
		sw, err := ARQ("Gemm", n, w, false)
		if err != nil {
			t.Fatal(err)
		}
		setQuantRecord(rec, "fc", c.scaleD[0], c.offsetD[0], sw)
		rep, err := Save(m, layers, cfg, rec, filepath.Join(t.TempDir(), "m"), SaveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fake, err := onnx.LoadFile(rep.FakeQuantPath)
		if err != nil {
			t.Fatal(err)
		}
		var signal, noise float64
		for _, in := range data {
			s, d, err := sqnrSums(runSim(t, m, in)[out], runSim(t, fake, in)[out])
			if err != nil {
				t.Fatal(err)
			}
			signal, noise = signal+s, noise+d
		}
		want := noise / signal
		if math.Abs(got-want) > 1e-9*want {
			t.Errorf("α %s: output check error %.12g, Save's fake-quant model %.12g", c, got, want)
		}

		kept := sub.refs
		sub.refs = nil
		again, _, err := sub.planError(bp.units, plan{c}, math.Inf(1))
		sub.refs = kept
		if err != nil {
			t.Fatal(err)
		}
		if again != got {
			t.Errorf("α %s: error %.12g with the float outputs kept, %.12g computed again", c, got, again)
		}
	}
}

// TestOutputCheckStopsAPlanOnceItsErrorExceedsTheBound: a plan runs part
// by part and stops at the first part after which its error so far is
// above the bound; that error is below its whole error, which it reaches
// when the bound is not exceeded. A batch of 64 samples of a model with a
// named batch axis runs in parts of outputCheckPart samples.
func TestOutputCheckStopsAPlanOnceItsErrorExceedsTheBound(t *testing.T) {
	t.Parallel()
	m, data := outlierGemm(5, 16)
	layers := []*Layer{layer(m, "fc")}
	bp, err := newBalancePlan(m, layers, searchConfig(layers, 4), DMQOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := bp.observe(testSim, data); err != nil {
		t.Fatal(err)
	}
	if err := searchAlpha(m, bp.units, bp.obs, bp.res, testSim); err != nil {
		t.Fatal(err)
	}
	out := m.Graph.Outputs[0].Name
	sub, err := newCheckSubset(m, []string{out}, testSim, data, bp.first)
	if err != nil {
		t.Fatal(err)
	}
	p := plan{bp.units[0].cands[0]}
	whole, stopped, err := sub.planError(bp.units, p, math.Inf(1))
	if err != nil || stopped != 0 {
		t.Fatalf("unbounded: error %v, stopped after %d samples; want a whole run", err, stopped)
	}
	part, stopped, err := sub.planError(bp.units, p, 0)
	if err != nil {
		t.Fatal(err)
	}
	if stopped != 16 || !(part > 0 && part < whole) {
		t.Errorf("bound 0: error %g stopped after %d samples; want stopped after the first batch of 16 with an error in (0, %g)", part, stopped, whole)
	}
	again, stopped, err := sub.planError(bp.units, p, whole)
	if err != nil || stopped != 0 || again != whole {
		t.Errorf("bound = its error: %g, stopped after %d (%v); want %g, not stopped", again, stopped, err, whole)
	}

	one := onnx.NewTensor([]int{64, 8}, make([]float32, 64*8))
	m.Graph.Inputs[0].Shape[0] = onnx.Dim{Param: "batch"}
	m.Graph.Outputs[0].Shape = []onnx.Dim{{Param: "batch"}, {Value: 6}}
	if !batchAxis(m, []string{out}) {
		t.Fatal("input and output declare the batch axis, but batchAxis says no")
	}
	src, err := NewTensorSource(map[string]*onnx.Tensor{"x": one}, 64)
	if err != nil {
		t.Fatal(err)
	}
	sub, err = newCheckSubset(m, []string{out}, testSim, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []checkPart{{0, 0, 16}, {0, 16, 32}, {0, 32, 48}, {0, 48, 64}}
	if !slices.Equal(sub.parts, want) {
		t.Errorf("parts %v, want %v", sub.parts, want)
	}
	m.Graph.Outputs[0].Shape[0] = onnx.Dim{Value: 64}
	if batchAxis(m, []string{out}) {
		t.Error("the output's first axis is fixed, but batchAxis says it is the batch")
	}
}
