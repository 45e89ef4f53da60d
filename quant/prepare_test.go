package quant

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"amq/onnx"
)

// sharedWeightModel: x feeds the Convs ca and cb, which read the same
// weight, and cc, which has its own; their outputs are summed.
func sharedWeightModel() *onnx.Model {
	b := newBuilder(41)
	x := b.input("x", 2, 3, 6, 6)
	w := b.init("w", 0.5, 0, 4, 3, 3, 3)
	a := b.node("Conv", "ca", nil, x, w)
	c := b.node("Conv", "cb", nil, x, w)
	d := b.node("Conv", "cc", nil, x, b.init("w2", 0.5, 0, 4, 3, 3, 3))
	return b.model(b.node("Add", "sum2", nil, b.node("Add", "sum1", nil, a, c), d))
}

// marshaled returns the bytes of m and cfg, to check that a call left
// them alone.
func marshaled(t *testing.T, m *onnx.Model, cfg *Config) ([]byte, []byte) {
	t.Helper()
	mb, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	cb, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return mb, cb
}

// checkUnchanged fails when m or cfg no longer marshal to the bytes
// marshaled returned before.
func checkUnchanged(t *testing.T, m *onnx.Model, cfg *Config, mb, cb []byte) {
	t.Helper()
	mb2, cb2 := marshaled(t, m, cfg)
	if !bytes.Equal(mb, mb2) {
		t.Error("Prepare changed the caller's model")
	}
	if !bytes.Equal(cb, cb2) {
		t.Error("Prepare changed the caller's config")
	}
}

func hasExclusion(excl []Exclusion, layer, rule string) bool {
	return slices.ContainsFunc(excl, func(e Exclusion) bool { return e.Layer == layer && strings.Contains(e.Rule, rule) })
}

// TestPrepareSkipTurnsLayerOff checks that a skipped layer is left out of
// the layers to quantize, turned off in the returned config and listed as
// excluded, while Found still has it; skipping a node the model lacks is an
// error.
func TestPrepareSkipTurnsLayerOff(t *testing.T) {
	t.Parallel()
	m, layers := calibModel()
	cfg := calibConfig(layers, 1)
	mb, cb := marshaled(t, m, cfg)
	p, err := Prepare(m, cfg, PrepareOptions{Skip: []string{"c2"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := layerNames(p.Layers); !slices.Equal(got, []string{"c1", "fc"}) {
		t.Errorf("layers %v, want [c1 fc]", got)
	}
	if got := layerNames(p.Found); !slices.Equal(got, []string{"c1", "c2", "fc"}) {
		t.Errorf("found %v, want [c1 c2 fc]", got)
	}
	if p.Config.Layers["c2"].QuantEnable || !p.Config.Layers["c1"].QuantEnable {
		t.Errorf("returned config: c2 enabled %v, c1 enabled %v; want only c2 off", p.Config.Layers["c2"].QuantEnable, p.Config.Layers["c1"].QuantEnable)
	}
	if !slices.Contains(p.Excluded, Exclusion{Layer: "c2", Type: "Conv", Rule: "skip_layers in config"}) {
		t.Errorf("exclusions %v lack c2 by skip_layers", p.Excluded)
	}
	checkUnchanged(t, m, cfg, mb, cb)

	_, err = Prepare(m, cfg, PrepareOptions{Skip: []string{"nope"}})
	if err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("skipping a node the model lacks: error %v, want one naming it", err)
	}
}

// TestPrepareKeepSharedTurnsSharedLayersOff checks both answers to shared
// parameters: with KeepShared the layers that share a weight are excluded
// and turned off in the returned config, as AMCT does; without it they are
// quantized, each reading a private copy in the prepared model only.
func TestPrepareKeepSharedTurnsSharedLayersOff(t *testing.T) {
	t.Parallel()
	m := sharedWeightModel()
	cfg := testConfig([]*Layer{layer(m, "ca"), layer(m, "cb"), layer(m, "cc")}, false)
	mb, cb := marshaled(t, m, cfg)

	p, err := Prepare(m, cfg, PrepareOptions{KeepShared: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := layerNames(p.Layers); !slices.Equal(got, []string{"cc"}) {
		t.Errorf("KeepShared: layers %v, want [cc]", got)
	}
	for _, name := range []string{"ca", "cb"} {
		if p.Config.Layers[name].QuantEnable {
			t.Errorf("KeepShared: %s still enabled in the returned config", name)
		}
		if !hasExclusion(p.Excluded, name, "shared") {
			t.Errorf("KeepShared: exclusions %v lack %s as shared", p.Excluded, name)
		}
	}
	if !p.Config.Layers["cc"].QuantEnable {
		t.Error("KeepShared: cc turned off")
	}
	checkUnchanged(t, m, cfg, mb, cb)

	p, err = Prepare(m, cfg, PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := layerNames(p.Layers); !slices.Equal(got, []string{"ca", "cb", "cc"}) {
		t.Errorf("without KeepShared: layers %v, want [ca cb cc]", got)
	}
	if wa, wb := p.Model.Graph.Node("ca").Inputs[1], p.Model.Graph.Node("cb").Inputs[1]; wa == wb {
		t.Errorf("without KeepShared: ca and cb still share %q in the prepared model", wa)
	}
	checkUnchanged(t, m, cfg, mb, cb)
}

// TestPrepareRejectsConfigForAnotherModel checks that a config enabling a
// layer the model does not have is an error naming it, while a disabled
// entry for such a layer is accepted.
func TestPrepareRejectsConfigForAnotherModel(t *testing.T) {
	t.Parallel()
	m, layers := calibModel()
	cfg := calibConfig(layers, 1)
	lc := *cfg.Layers["c1"]
	cfg.Layers["layer_of_another_model"] = &lc
	if _, err := Prepare(m, cfg, PrepareOptions{}); err == nil || !strings.Contains(err.Error(), `"layer_of_another_model"`) {
		t.Errorf("config enabling a layer the model lacks: error %v, want one naming it", err)
	}
	lc.QuantEnable = false
	p, err := Prepare(m, cfg, PrepareOptions{})
	if err != nil {
		t.Fatalf("config with a disabled entry the model lacks: %v", err)
	}
	if got := layerNames(p.Layers); !slices.Equal(got, []string{"c1", "c2", "fc"}) {
		t.Errorf("layers %v, want [c1 c2 fc]", got)
	}
}

// TestPrepareFusesIntoACopy checks that Prepare fuses Conv+BatchNormalization
// in the prepared model and reports it, leaving the caller's model and
// config as they were.
func TestPrepareFusesIntoACopy(t *testing.T) {
	t.Parallel()
	m := convBNModel(5, []int{2, 3, 8, 8}, []int{4, 3, 3, 3}, true, nil)
	cfg := testConfig([]*Layer{layer(m, "conv")}, true)
	cfg.DoFusion = true
	mb, cb := marshaled(t, m, cfg)
	p, err := Prepare(m, cfg, PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Fused, []string{"conv"}) || hasOp(p.Model, "BatchNormalization") {
		t.Errorf("fused %v, BatchNormalization left in the prepared model: %v", p.Fused, hasOp(p.Model, "BatchNormalization"))
	}
	if got := layerNames(p.Layers); !slices.Equal(got, []string{"conv"}) {
		t.Errorf("layers %v, want [conv]", got)
	}
	if !hasOp(m, "BatchNormalization") {
		t.Error("the caller's model lost its BatchNormalization")
	}
	checkUnchanged(t, m, cfg, mb, cb)
}
