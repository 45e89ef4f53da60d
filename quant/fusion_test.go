package quant

import (
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"amq/npy"
	"amq/onnx"
)

// convBNModel: x -> Conv (weight shape w, optional bias) -> BatchNormalization
// -> Relu -> output, with BN statistics far from the identity so that a
// wrong fusion shows.
func convBNModel(seed uint64, xShape, wShape []int, bias bool, convAttrs map[string]any) *onnx.Model {
	b := newBuilder(seed)
	x := b.input("x", xShape...)
	oc := wShape[0]
	in := []string{x, b.init("w", 1, 0, wShape...)}
	if bias {
		in = append(in, b.init("b", 1, 0.3, oc))
	}
	c := b.node("Conv", "conv", convAttrs, in...)
	bn := b.node("BatchNormalization", "bn", map[string]any{"epsilon": float32(1e-3)}, c,
		b.init("bn_s", 0.6, 1, oc), b.init("bn_b", 0.5, 0.2, oc), b.init("bn_m", 0.7, 0.1, oc), b.init("bn_v", 0.4, 1.2, oc))
	r := b.node("Relu", "relu", nil, bn)
	// Variances must be positive.
	v := b.g.Initializers["bn_v"].Floats()
	for i := range v {
		v[i] = max(v[i], 0.05)
	}
	return b.model(r)
}

func fusionConfig() *Config { return &Config{DoFusion: true, Layers: map[string]*LayerConfig{}} }

func hasOp(m *onnx.Model, op string) bool {
	return slices.ContainsFunc(m.Graph.Nodes, func(n *onnx.Node) bool { return n.OpType == op })
}

// TestFuseConvBNPreservesOutputs checks that the fused model computes what the Conv and the
// BatchNormalization computed (both run on sim) for 1-D, 2-D, 3-D, grouped
// and bias-free Convs.
func TestFuseConvBNPreservesOutputs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		x, w   []int
		bias   bool
		attrs  map[string]any
		groups int
	}{
		{"conv2d", []int{2, 3, 9, 9}, []int{8, 3, 3, 3}, true, map[string]any{"pads": []int64{1, 1, 1, 1}}, 1},
		{"conv2d-nobias", []int{2, 3, 9, 9}, []int{8, 3, 3, 3}, false, map[string]any{"strides": []int64{2, 2}}, 1},
		{"conv2d-grouped", []int{2, 4, 8, 8}, []int{6, 2, 3, 3}, true, map[string]any{"group": int64(2)}, 2},
		{"conv2d-depthwise-nobias", []int{2, 4, 8, 8}, []int{4, 1, 3, 3}, false, map[string]any{"group": int64(4)}, 4},
		{"conv1d", []int{3, 2, 11}, []int{5, 2, 3}, true, nil, 1},
		{"conv3d", []int{1, 2, 5, 6, 6}, []int{4, 2, 2, 3, 3}, true, nil, 1},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := convBNModel(uint64(10+i), tc.x, tc.w, tc.bias, tc.attrs)
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			in := map[string]*onnx.Tensor{"x": randInput(rng, 1, tc.x...)}
			want := runSim(t, m, in)

			f := m.Clone()
			fused, err := FuseConvBN(f, fusionConfig())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(fused, []string{"conv"}) {
				t.Fatalf("fused %v, want [conv]", fused)
			}
			if hasOp(f, "BatchNormalization") {
				t.Error("BatchNormalization node still in the fused model")
			}
			conv := f.Graph.Node("conv")
			if conv.Outputs[0] != "bn_out" || f.Graph.Producer("bn_out") != conv || len(conv.Inputs) != 3 {
				t.Errorf("fused conv: inputs %v, outputs %v", conv.Inputs, conv.Outputs)
			}
			if got := conv.AttrInt("group", 1); got != int64(tc.groups) {
				t.Errorf("group %d, want %d", got, tc.groups)
			}
			for _, name := range []string{"bn_s", "bn_b", "bn_m", "bn_v", "w", "b"} {
				if _, ok := f.Graph.Initializers[name]; ok {
					t.Errorf("unused initializer %q kept", name)
				}
			}
			got := runSim(t, f, in)
			compareOutputs(t, tc.name, got, want, 1e-5)
			// The input model is untouched by fusing its clone.
			if !hasOp(m, "BatchNormalization") || m.Graph.Node("conv").Inputs[1] != "w" {
				t.Error("fusing a clone changed the original model")
			}
		})
	}
}

// TestFuseConvBNCopiesSharedWeight: two Convs share a weight; the one fused gets its
// own copy, the one in skip_fusion_layers keeps the original values.
func TestFuseConvBNCopiesSharedWeight(t *testing.T) {
	t.Parallel()
	b := newBuilder(3)
	x := b.input("x", 2, 3, 6, 6)
	w := b.init("w", 1, 0, 4, 3, 3, 3)
	c1 := b.node("Conv", "c1", nil, x, w)
	bn1 := b.node("BatchNormalization", "bn1", nil, c1, b.init("s1", 0.5, 1, 4), b.init("b1", 0.5, 0, 4), b.init("m1", 0.5, 0, 4), b.init("v1", 0.1, 1, 4))
	c2 := b.node("Conv", "c2", nil, x, w)
	bn2 := b.node("BatchNormalization", "bn2", nil, c2, b.init("s2", 0.5, 1, 4), b.init("b2", 0.5, 0, 4), b.init("m2", 0.5, 0, 4), b.init("v2", 0.1, 1, 4))
	m := b.model(bn1, bn2)
	orig := slices.Clone(m.Graph.Initializers["w"].Floats())
	in := map[string]*onnx.Tensor{"x": randInput(rand.New(rand.NewPCG(1, 2)), 1, 2, 3, 6, 6)}
	want := runSim(t, m, in)

	cfg := fusionConfig()
	cfg.SkipFusionLayers = []string{"c2"}
	fused, err := FuseConvBN(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fused, []string{"c1"}) {
		t.Fatalf("fused %v, want [c1]", fused)
	}
	if m.Graph.Node("bn1") != nil || m.Graph.Node("bn2") == nil {
		t.Error("want bn1 removed and bn2 kept")
	}
	if m.Graph.Node("c2").Inputs[1] != "w" || m.Graph.Node("c1").Inputs[1] == "w" {
		t.Errorf("weights: c1 reads %q, c2 reads %q", m.Graph.Node("c1").Inputs[1], m.Graph.Node("c2").Inputs[1])
	}
	if !slices.Equal(m.Graph.Initializers["w"].Floats(), orig) {
		t.Error("the shared weight changed")
	}
	compareOutputs(t, "shared", runSim(t, m, in), want, 1e-5)
}

// TestFuseConvBNLeavesUnfusableGraphsAlone lists the cases that must leave the graph as is.
func TestFuseConvBNLeavesUnfusableGraphsAlone(t *testing.T) {
	t.Parallel()
	base := func() *onnx.Model {
		return convBNModel(5, []int{1, 2, 5, 5}, []int{3, 2, 3, 3}, true, nil)
	}
	cases := []struct {
		name   string
		model  func() *onnx.Model
		config func(*Config)
	}{
		{"do_fusion false", base, func(c *Config) { c.DoFusion = false }},
		{"skip_fusion_layers", base, func(c *Config) { c.SkipFusionLayers = []string{"other", "conv"} }},
		{"conv output read twice", func() *onnx.Model {
			m := base()
			m.Graph.Nodes = append(m.Graph.Nodes, &onnx.Node{Name: "side", OpType: "Relu", Inputs: []string{"conv_out"}, Outputs: []string{"side_out"}})
			m.Graph.Outputs = append(m.Graph.Outputs, &onnx.ValueInfo{Name: "side_out", DType: onnx.Float})
			m.Graph.Reindex()
			return m
		}, nil},
		{"conv output is a graph output", func() *onnx.Model {
			m := base()
			m.Graph.AddOutput("conv_out")
			return m
		}, nil},
		{"training mode", func() *onnx.Model {
			m := base()
			m.Graph.Node("bn").SetAttr("training_mode", int64(1))
			return m
		}, nil},
		{"running statistics outputs", func() *onnx.Model {
			m := base()
			bn := m.Graph.Node("bn")
			bn.Outputs = append(bn.Outputs, "run_mean", "run_var")
			m.Opsets[""] = 13
			m.Graph.Reindex()
			return m
		}, nil},
		{"mean not constant", func() *onnx.Model {
			m := base()
			delete(m.Graph.Initializers, "bn_m")
			m.Graph.Inputs = append(m.Graph.Inputs, &onnx.ValueInfo{Name: "bn_m", DType: onnx.Float, Shape: onnx.KnownDims([]int{3})})
			m.Graph.Reindex()
			return m
		}, nil},
		{"weight not constant", func() *onnx.Model {
			m := base()
			delete(m.Graph.Initializers, "w")
			m.Graph.Inputs = append(m.Graph.Inputs, &onnx.ValueInfo{Name: "w", DType: onnx.Float, Shape: onnx.KnownDims([]int{3, 2, 3, 3})})
			m.Graph.Reindex()
			return m
		}, nil},
		{"ConvTranspose", func() *onnx.Model {
			m := base()
			c := m.Graph.Node("conv")
			c.OpType = "ConvTranspose"
			w := m.Graph.Initializers["w"]
			w.Shape = []int{2, 3, 3, 3} // [C_in, C_out, k, k]
			m.Graph.Reindex()
			return m
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.model()
			before, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			cfg := fusionConfig()
			if tc.config != nil {
				tc.config(cfg)
			}
			fused, err := FuseConvBN(m, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(fused) != 0 {
				t.Errorf("fused %v", fused)
			}
			after, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(before, after) {
				t.Error("model changed")
			}
		})
	}
}

// TestFuseConvBNReproducesPyTorchOnCNN: the digits CNN exported with its
// BatchNormalization nodes, fused, reproduces PyTorch's outputs on the
// held-out set.
func TestFuseConvBNReproducesPyTorchOnCNN(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(quantFixtures, "cnn")
	m, err := onnx.LoadFile(filepath.Join(dir, "model_op13_bn.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if n := countOp(m, "BatchNormalization"); n != 2 {
		t.Fatalf("fixture has %d BatchNormalization nodes, want 2", n)
	}
	fused, err := FuseConvBN(m, fusionConfig())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/conv1/Conv", "/conv2/Conv"}; !reflect.DeepEqual(fused, want) {
		t.Fatalf("fused %v, want %v", fused, want)
	}
	x, _ := testSet(t, "cnn")
	want, err := npy.ReadFile(filepath.Join(dir, "test_output.npy"))
	if err != nil {
		t.Fatal(err)
	}
	got := runSim(t, m, map[string]*onnx.Tensor{m.Graph.Inputs[0].Name: x})
	compareOutputs(t, "fused cnn vs PyTorch", got, map[string]*onnx.Tensor{"output": want}, 1e-5)
}

func countOp(m *onnx.Model, op string) int {
	n := 0
	for _, nd := range m.Graph.Nodes {
		if nd.OpType == op {
			n++
		}
	}
	return n
}

// TestRunFlowMatchesAMCTOnUnfusedCNN: amq's flow on the CNN with unfolded
// BatchNormalization nodes gives AMCT's record (AMCT fuses Conv+BN before
// quantizing), within TestRunFlowMatchesAMCTOutputs's tolerances; the saved models
// carry no BatchNormalization.
func TestRunFlowMatchesAMCTOnUnfusedCNN(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(quantFixtures, "cnn", "amct", "dmq")
	want, err := ReadRecord(filepath.Join(dir, "record.txt"))
	if err != nil {
		t.Fatal(err)
	}
	r := runFixture(t, "cnn", "model_op13_bn.onnx", "dmq.cfg")
	if w := []string{"/conv1/Conv", "/conv2/Conv"}; !reflect.DeepEqual(r.rep.Fused, w) {
		t.Errorf("report: fused %v, want %v", r.rep.Fused, w)
	}
	compareAMCTRecord(t, r.rep, want, true, ifmrTolerance)
	compareAMCTConfig(t, r.rep.ConfigPath, filepath.Join(dir, "config.json"))
	for _, m := range []*onnx.Model{r.fake, r.deploy} {
		if n := countOp(m, "BatchNormalization"); n != 0 {
			t.Errorf("saved model has %d BatchNormalization nodes", n)
		}
	}
	if countOp(r.model, "BatchNormalization") != 2 {
		t.Error("RunFlow changed its input model")
	}
}
