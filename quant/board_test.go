package quant

import (
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"

	"amq/backend"
	"amq/onnx"
	"amq/sim"
)

// outlierModel: z[4,8] -> Mul(γ) -> Add(β) -> MatMul fc -> y, a decomposed
// LayerNorm's affine part whose channel 3 has γ = 2000, so that its
// output passes float16's 65504 while every other channel stays near 50;
// as in LLMs, the weight row that meets the outlier channel is small.
func outlierModel() (*onnx.Model, sliceData) {
	b := newBuilder(5)
	z := b.input("z", 4, 8)
	gamma := onnx.NewTensor([]int{8}, []float32{1, 1, 1, 2000, 1, 1, 1, 1})
	gamma.Name = "gamma"
	b.g.SetInitializer(gamma)
	x := b.node("Add", "ln/Add", nil, b.node("Mul", "ln/Mul", nil, z, "gamma"), b.init("beta", 0.1, 0, 8))
	y := b.node("MatMul", "fc", nil, x, b.init("w", 0.5, 0, 8, 4))
	for j, w := range b.g.Initializers["w"].Floats()[12:16] {
		b.g.Initializers["w"].Floats()[12+j] = w / 1000
	}
	rng := rand.New(rand.NewPCG(6, 6))
	var data sliceData
	for range 2 {
		d := make([]float32, 32)
		for i := range d {
			d[i] = float32(rng.NormFloat64() * 50)
		}
		data = append(data, map[string]*onnx.Tensor{"z": onnx.NewTensor([]int{4, 8}, d)})
	}
	return b.model(y), data
}

func flaggedNodes(stats []backend.FP16Stat) []string {
	var names []string
	for _, s := range stats {
		names = append(names, s.Node)
	}
	return names
}

// TestBoardCheckNamesFP16OverflowBeforeAndAfterTheBalance quantizes
// outlierModel with DMQ and a force_fp16 board check: the float model
// overflows at ln/Mul; with the balance as AMCT's Mul the deploy model
// still does, and the board's output SQNR collapses; with the balance
// folded into the Mul-Add, the outlier channel is divided before it is
// computed, nothing overflows and the board's SQNR stays near float32's.
// The check changes neither the record nor the float32 SQNR.
func TestBoardCheckNamesFP16OverflowBeforeAndAfterTheBalance(t *testing.T) {
	m, data := outlierModel()
	layers := []*Layer{layer(m, "fc")}
	board := &BoardCheck{Precision: backend.ForceFP16, Backend: &sim.Backend{Threads: 1, Precision: backend.ForceFP16}}
	run := func(fold bool, check *BoardCheck) *QuantizeReport {
		cfg := testConfig(layers, true)
		cfg.BatchNum = 2
		rep, err := RunFlow(m, testSim, data, filepath.Join(t.TempDir(), "m"), QuantizeOptions{Config: cfg, Fold: fold, Joint: fold, Board: check})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	plain, folded := run(false, board), run(true, board)
	for _, rep := range []*QuantizeReport{plain, folded} {
		b := rep.Board
		if b == nil || b.Precision != backend.ForceFP16 {
			t.Fatalf("board report %+v", b)
		}
		if got := flaggedNodes(b.Before); !reflect.DeepEqual(got, []string{"ln/Mul"}) || b.Before[0].Overflow == 0 {
			t.Errorf("float model in force_fp16: flagged %v (%+v), want ln/Mul overflowing", got, b.Before)
		}
	}
	if got := flaggedNodes(plain.Board.After); !reflect.DeepEqual(got, []string{"ln/Mul"}) {
		t.Errorf("deploy model with the balance as a Mul: flagged %v, want ln/Mul", got)
	}
	if len(folded.Board.After) != 0 || folded.Board.PeakAfter.MaxAbs > 65504 {
		t.Errorf("deploy model with the balance folded: flagged %+v, peak %+v; want nothing", folded.Board.After, folded.Board.PeakAfter)
	}
	out := m.Graph.Outputs[0].Name
	pf, ff, f32 := plain.Board.Outputs[out], folded.Board.Outputs[out], folded.Outputs[out]
	t.Logf("output SQNR in force_fp16: %.1f dB with the Mul, %.1f dB folded; float32 %.1f dB", pf, ff, f32)
	if !(ff > pf+20) || !(ff > f32-3) {
		t.Errorf("board SQNR %.1f dB folded, %.1f dB with the Mul, float32 %.1f dB: want the fold to save the board", ff, pf, f32)
	}
	if _, ok := folded.Board.Layers["fc"]; !ok {
		t.Errorf("no board SQNR for layer fc: %v", folded.Board.Layers)
	}
	without := run(true, nil)
	if without.Board != nil || !reflect.DeepEqual(without.Record, folded.Record) || without.Outputs[out] != f32 {
		t.Errorf("the board check changed the run: record %v vs %v, SQNR %v vs %v", folded.Record, without.Record, f32, without.Outputs[out])
	}
}

// TestBoardCheckNeedsTheEvaluation: a board check with NoEval, or without
// a backend, fails before any work.
func TestBoardCheckNeedsTheEvaluation(t *testing.T) {
	m, data := outlierModel()
	dir := t.TempDir()
	for _, c := range []*BoardCheck{{Precision: backend.ForceFP16}, {Precision: backend.ForceFP16, Backend: testSim}} {
		_, err := RunFlow(m, testSim, data, filepath.Join(dir, "m"), QuantizeOptions{Board: c, NoEval: c.Backend != nil})
		if err == nil {
			t.Errorf("board check %+v ran", c)
		}
	}
}
