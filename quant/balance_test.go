package quant

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"amq/internal/testfixture"
	"amq/onnx"
)

func randFactors(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(math.Exp(rng.Float64()*4 - 2))
	}
	return s
}

// transformerBlock: LayerNorm feeding q/k/v (MatMul, MatMul, Gemm transB),
// a decomposed LayerNorm (Mul, Add) feeding a MatMul whose weight is
// shared with q through an Identity, and a Gemm feeding a Gemm.
func transformerBlock() (*onnx.Model, []string) {
	b := newBuilder(1)
	x := b.input("x", 3, 8)
	ln := b.node("LayerNormalization", "ln", map[string]any{"axis": int64(-1)}, x, b.init("ln_g", 0.3, 1, 8), b.init("ln_b", 0.2, 0, 8))
	wq := b.init("wq", 1, 0, 8, 6)
	q := b.node("MatMul", "q", nil, ln, wq)
	k := b.node("MatMul", "k", nil, ln, b.init("wk", 1, 0, 8, 6))
	v := b.node("Gemm", "v", map[string]any{"transB": int64(1)}, ln, b.init("wv", 1, 0, 6, 8), b.init("bv", 1, 0, 6))
	mul := b.node("Mul", "dln_mul", nil, x, b.init("gamma", 0, 1.5, 1))
	add := b.node("Add", "dln_add", nil, mul, b.init("beta", 0.5, 0, 8))
	idw := b.node("Identity", "share", nil, wq)
	o := b.node("MatMul", "o", nil, add, idw)
	g1 := b.node("Gemm", "fc1", nil, x, b.init("w1", 1, 0, 8, 5), b.init("b1", 1, 0, 5))
	g2 := b.node("Gemm", "fc2", map[string]any{"alpha": float32(0.7)}, g1, b.init("w2", 1, 0, 5, 4), b.init("b2", 1, 0, 1, 4))
	return b.model(q, k, v, o, g2), []string{"q", "k", "v", "o", "fc1", "fc2"}
}

// convBlock: BatchNorm feeding a grouped Conv, a Conv feeding a
// ConvTranspose with groups, and a Conv1d-free 2-D path.
func convBlock() (*onnx.Model, []string) {
	b := newBuilder(2)
	x := b.input("x", 2, 4, 7, 7)
	bn := b.node("BatchNormalization", "bn", nil, x, b.init("bn_s", 0.3, 1, 4), b.init("bn_b", 0.5, 0, 4),
		b.init("bn_m", 0.5, 0, 4), b.init("bn_v", 0, 1.3, 4))
	c1 := b.node("Conv", "c1", map[string]any{"group": int64(2), "pads": []int64{1, 1, 1, 1}}, bn, b.init("w1", 1, 0, 6, 2, 3, 3), b.init("b1", 1, 0, 6))
	c2 := b.node("ConvTranspose", "c2", map[string]any{"group": int64(3), "strides": []int64{2, 2}}, c1, b.init("w2", 1, 0, 6, 2, 2, 2), b.init("b2", 1, 0, 6))
	r := b.node("Relu", "r", nil, c2)
	c3 := b.node("Conv", "c3", nil, r, b.init("w3", 1, 0, 5, 6, 1, 1))
	return b.model(c3), []string{"c1", "c2", "c3"}
}

func balanceRecord(rng *rand.Rand, m *onnx.Model, layers []*Layer, joint bool) Record {
	rec := Record{}
	shared := map[string][]float32{}
	for _, l := range layers {
		n := m.Graph.Node(l.Name)
		w, _ := m.Graph.Constant(n.Inputs[1])
		c, _, err := inputChannels(l.Type, n, w.Shape)
		if err != nil {
			panic(err)
		}
		s := randFactors(rng, c)
		if joint {
			if prev, ok := shared[n.Inputs[0]]; ok {
				s = prev
			}
			shared[n.Inputs[0]] = s
		}
		rec[l.Name] = &LayerRecord{BalanceFactor: s}
	}
	return rec
}

func TestApplyBalancePreservesOutputs(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 5))
	for _, tc := range []struct {
		name  string
		build func() (*onnx.Model, []string)
		in    func() *onnx.Tensor
		folds map[string]string // layer -> kind expected with Fold and joint factors
	}{
		{"transformer", transformerBlock, func() *onnx.Tensor { return randInput(rng, -1, 3, 8) },
			map[string]string{"q": BalanceFoldLayerNorm, "k": BalanceFoldLayerNorm, "v": BalanceFoldLayerNorm,
				"o": BalanceFoldMulAdd, "fc1": BalanceMul, "fc2": BalanceFoldGemm}},
		{"conv", convBlock, func() *onnx.Tensor { return randInput(rng, 1, 2, 4, 7, 7) },
			map[string]string{"c1": BalanceFoldBatchNorm, "c2": BalanceFoldConv, "c3": BalanceMul}},
	} {
		for _, fold := range []bool{false, true} {
			orig, names := tc.build()
			var layers []*Layer
			for _, n := range names {
				layers = append(layers, layer(orig, n))
			}
			rec := balanceRecord(rng, orig, layers, fold)
			m := orig.Clone()
			rep, err := ApplyBalance(m, layers, rec, BalanceOptions{Fold: fold})
			if err != nil {
				t.Fatalf("%s fold=%v: %v", tc.name, fold, err)
			}
			for _, a := range rep.Layers {
				want := BalanceMul
				if fold {
					want = tc.folds[a.Layer]
				}
				if a.Kind != want {
					t.Errorf("%s fold=%v: layer %q balanced by %q (%s), want %q", tc.name, fold, a.Layer, a.Kind, a.Note, want)
				}
				t.Logf("%s fold=%v: %+v", tc.name, fold, a)
			}
			muls := 0
			for _, n := range m.Graph.Nodes {
				if strings.HasSuffix(n.Name, ".dmq_balance") {
					muls++
				}
			}
			wantMuls := len(names)
			if fold {
				wantMuls = 0
				for _, k := range tc.folds {
					if k == BalanceMul {
						wantMuls++
					}
				}
			}
			if muls != wantMuls {
				t.Errorf("%s fold=%v: %d balance Muls, want %d", tc.name, fold, muls, wantMuls)
			}
			for range 3 {
				in := map[string]*onnx.Tensor{"x": tc.in()}
				compareOutputs(t, tc.name, runSim(t, m, in), runSim(t, orig, in), 2e-5)
			}
			// The weights really changed: the balanced model without the
			// activation scaling must differ.
			if fold {
				continue
			}
			for _, n := range m.Graph.Nodes {
				if strings.HasSuffix(n.Name, ".dmq_balance") {
					c := m.Graph.Initializers[n.Inputs[1]]
					for i := range c.Floats() {
						c.Floats()[i] = 1
					}
				}
			}
			in := map[string]*onnx.Tensor{"x": tc.in()}
			a, b := runSim(t, m, in), runSim(t, orig, in)
			same := true
			for name := range b {
				for i, v := range b[name].Floats() {
					same = same && math.Abs(float64(v-a[name].Floats()[i])) < 1e-3
				}
			}
			if same {
				t.Errorf("%s: the weights were not scaled", tc.name)
			}
		}
	}
}

func TestApplyBalanceLeavesSharedWeightOfOtherLayerAlone(t *testing.T) {
	t.Parallel()
	// q and o read the same initializer (o through an Identity); balancing
	// only q must leave o's weight alone.
	orig, _ := transformerBlock()
	rng := rand.New(rand.NewPCG(9, 9))
	m := orig.Clone()
	rec := Record{"q": {BalanceFactor: randFactors(rng, 8)}}
	rep, err := ApplyBalance(m, []*Layer{layer(orig, "q"), layer(orig, "o")}, rec, BalanceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Layers) != 1 || rep.Layers[0].Weight == "wq" {
		t.Fatalf("report %+v: q must read a private copy of wq", rep.Layers)
	}
	if got, _ := m.Graph.Constant(m.Graph.Node("o").Inputs[1]); !equalF(got.Floats(), orig.Graph.Initializers["wq"].Floats()) {
		t.Error("o's weight changed")
	}
	in := map[string]*onnx.Tensor{"x": randInput(rng, -1, 3, 8)}
	compareOutputs(t, "shared", runSim(t, m, in), runSim(t, orig, in), 2e-5)
}

// TestApplyBalanceRejectsBadFactors checks that bad records are errors that
// name the layer.
func TestApplyBalanceRejectsBadFactors(t *testing.T) {
	t.Parallel()
	orig, _ := transformerBlock()
	layers := []*Layer{layer(orig, "q")}
	bad := Record{"q": {BalanceFactor: []float32{1, 2}}}
	if _, err := ApplyBalance(orig.Clone(), layers, bad, BalanceOptions{}); err == nil || !strings.Contains(err.Error(), `"q"`) {
		t.Errorf("wrong factor count: err = %v", err)
	}
	bad = Record{"q": {BalanceFactor: []float32{1, 1, 1, 0, 1, 1, 1, 1}}}
	if _, err := ApplyBalance(orig.Clone(), layers, bad, BalanceOptions{}); err == nil {
		t.Error("zero factor accepted")
	}
}

func TestApplyBalancePreservesFixtureOutputs(t *testing.T) {
	t.Parallel()
	for _, fx := range testfixture.Fixtures(t, "model_op17.onnx") {
		name := fx.Name
		t.Run(name, func(t *testing.T) {
			orig, x := fx.Load(t), fx.Input(t)
			work := orig.Clone()
			layers, _, err := FindLayers(work, FindOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(layers) == 0 {
				t.Fatal("no quantizable layers")
			}
			cfg := testConfig(layers, true)
			in := map[string]*onnx.Tensor{work.Graph.Inputs[0].Name: x}
			want := runSim(t, work, in)
			data := sliceData{in}
			for _, joint := range []bool{false, true} {
				rec, err := PreprocessWith(work, layers, cfg, testSim, data, DMQOptions{Joint: joint})
				if err != nil {
					t.Fatal(err)
				}
				m := work.Clone()
				rep, err := ApplyBalance(m, layers, rec, BalanceOptions{Fold: joint})
				if err != nil {
					t.Fatal(err)
				}
				kinds := map[string]int{}
				for _, a := range rep.Layers {
					kinds[a.Kind]++
				}
				t.Logf("joint=%v: %d layers, %v", joint, len(layers), kinds)
				compareOutputs(t, name, runSim(t, m, in), want, 1e-4)
			}
		})
	}
}
