package quant

import (
	"math"
	"math/rand/v2"
	"testing"

	"amq/backend"
	"amq/onnx"
)

func TestBalanceFactorsFormulaAndEdgeCases(t *testing.T) {
	t.Parallel()
	x := []float64{4, 9, 0, 2, 0, 1e-30}
	w := []float64{1, 0.25, 3, 0, 0, 1e30}
	a := 0.4
	got := BalanceFactors(x, w, a)
	// Regular channels: 0, 1 (and 5, which clamps).
	s0 := math.Pow(4, a) / math.Pow(1, 1-a)
	s1 := math.Pow(9, a) / math.Pow(0.25, 1-a)
	s5 := FltEpsilon // 1e-30^0.4 / 1e30^0.6 is far below FLT_EPSILON
	xRef := max(4/s0, 9/s1, 1e-30/s5)
	wRef := max(1*s0, 0.25*s1, 1e30*s5)
	want := []float64{
		s0, s1,
		wRef / 3, // X_2 == 0
		2 / xRef, // W_3 == 0
		1,        // both zero
		s5,
	}
	for j := range want {
		w := float32(max(FltEpsilon, min(1/FltEpsilon, want[j])))
		if math.Abs(float64(got[j]-w)) > 1e-6*float64(w) {
			t.Errorf("s_%d = %v, want %v", j, got[j], w)
		}
	}
	// No regular channel at all: every factor is 1.
	for j, s := range BalanceFactors([]float64{0, 3}, []float64{2, 0}, 0.5) {
		if s != 1 {
			t.Errorf("no regular channel: s_%d = %v, want 1", j, s)
		}
	}
}

// dmqModel: x[4,6] -> MatMul(wa); x -> Gemm(transB, wb); Relu(x) reshaped
// is not needed: a Conv on a second input y[2,4,5,5] after a Relu, grouped.
func dmqModel() *onnx.Model {
	b := newBuilder(3)
	x := b.input("x", 4, 6)
	ma := b.node("MatMul", "a", nil, x, b.init("wa", 1, 0, 6, 3))
	gb := b.node("Gemm", "b", map[string]any{"transB": int64(1)}, x, b.init("wb", 1, 0, 5, 6))
	y := b.input("y", 2, 4, 5, 5)
	r := b.node("Relu", "r", nil, y)
	c := b.node("Conv", "c", map[string]any{"group": int64(2)}, r, b.init("wc", 1, 0, 6, 2, 3, 3))
	return b.model(ma, gb, c)
}

func TestPreprocessRunningMaxOverAllBatches(t *testing.T) {
	t.Parallel()
	m := dmqModel()
	rng := rand.New(rand.NewPCG(8, 8))
	var data sliceData
	for i := range 5 {
		x := randInput(rng, -1, 4, 6)
		y := randInput(rng, 1, 2, 4, 5, 5)
		// A different batch holds each channel's maximum.
		x.Floats()[i] = 50 + float32(i)
		data = append(data, map[string]*onnx.Tensor{"x": x, "y": y})
	}
	layers := []*Layer{layer(m, "a"), layer(m, "b"), layer(m, "c")}
	cfg := testConfig(layers, true)
	cfg.Layers["b"].DMQ.MigrationStrength = 0.7
	for _, b := range []backend.Backend{testSim, concurrentSim{testSim, 3}} {
		rec, err := Preprocess(m, layers, cfg, b, data)
		if err != nil {
			t.Fatal(err)
		}
		// Independent maxima straight from the batches.
		xmax := make([]float64, 6)
		ymax := make([]float64, 4)
		for _, d := range data {
			for i, v := range d["x"].Floats() {
				xmax[i%6] = max(xmax[i%6], math.Abs(float64(v)))
			}
			for i, v := range d["y"].Floats() {
				ymax[(i/25)%4] = max(ymax[(i/25)%4], float64(max(v, 0))) // after Relu
			}
		}
		wa := m.Graph.Initializers["wa"].Floats() // [6,3]
		wb := m.Graph.Initializers["wb"].Floats() // [5,6], transB
		wc := m.Graph.Initializers["wc"].Floats() // [6,2,3,3], group 2
		wamax, wbmax, wcmax := make([]float64, 6), make([]float64, 6), make([]float64, 4)
		for i, v := range wa {
			wamax[i/3] = max(wamax[i/3], math.Abs(float64(v)))
		}
		for i, v := range wb {
			wbmax[i%6] = max(wbmax[i%6], math.Abs(float64(v)))
		}
		for o := range 6 {
			for jl := range 2 {
				for k := range 9 {
					j := (o/3)*2 + jl // output channels 0-2 are group 0
					wcmax[j] = max(wcmax[j], math.Abs(float64(wc[(o*2+jl)*9+k])))
				}
			}
		}
		check := func(name string, x, w []float64, a float64) {
			got := rec[name].BalanceFactor
			if len(got) != len(x) {
				t.Fatalf("%s: %d factors, want %d", name, len(got), len(x))
			}
			for j := range x {
				want := float32(math.Pow(x[j], a) / math.Pow(w[j], 1-a))
				if math.Abs(float64(got[j]-want)) > 1e-6*float64(want) {
					t.Errorf("%s: s_%d = %v, want %v", name, j, got[j], want)
				}
			}
		}
		check("a", xmax, wamax, 0.5)
		check("b", xmax, wbmax, 0.7)
		check("c", ymax, wcmax, 0.5)
	}
}

func TestPreprocessJointGivesReadersOfATensorOneFactor(t *testing.T) {
	t.Parallel()
	m := dmqModel()
	rng := rand.New(rand.NewPCG(2, 8))
	data := sliceData{{"x": randInput(rng, -1, 4, 6), "y": randInput(rng, 1, 2, 4, 5, 5)}}
	layers := []*Layer{layer(m, "a"), layer(m, "b")}
	cfg := testConfig(layers, true)
	rec, err := PreprocessWith(m, layers, cfg, testSim, data, DMQOptions{Joint: true})
	if err != nil {
		t.Fatal(err)
	}
	if !equalF(rec["a"].BalanceFactor, rec["b"].BalanceFactor) {
		t.Fatalf("joint factors differ: %v vs %v", rec["a"].BalanceFactor, rec["b"].BalanceFactor)
	}
	xmax := make([]float64, 6)
	for i, v := range data[0]["x"].Floats() {
		xmax[i%6] = max(xmax[i%6], math.Abs(float64(v)))
	}
	wa, wb := m.Graph.Initializers["wa"].Floats(), m.Graph.Initializers["wb"].Floats()
	for j := range 6 {
		w := 0.0
		for k := range 3 {
			w = max(w, math.Abs(float64(wa[j*3+k])))
		}
		for k := range 5 {
			w = max(w, math.Abs(float64(wb[k*6+j])))
		}
		want := float32(math.Sqrt(xmax[j]) / math.Sqrt(w))
		if got := rec["a"].BalanceFactor[j]; math.Abs(float64(got-want)) > 1e-6*float64(want) {
			t.Errorf("joint s_%d = %v, want %v", j, got, want)
		}
	}
	cfg.Layers["b"].DMQ.MigrationStrength = 0.3
	if _, err := PreprocessWith(m, layers, cfg, testSim, data, DMQOptions{Joint: true}); err == nil {
		t.Error("joint factors with two strengths accepted")
	}
	cfg.Layers["b"].DMQ.MigrationStrength = 0.9
	if _, err := Preprocess(m, layers, cfg, testSim, data); err == nil {
		t.Error("migration strength 0.9 accepted")
	}
}
