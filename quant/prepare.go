package quant

import (
	"fmt"
	"slices"

	"amq/onnx"
	"amq/onnx/opset"
)

// PrepareOptions controls Prepare.
type PrepareOptions struct {
	// Skip names layers not to quantize, on top of the config's choice.
	Skip []string
	// KeepShared excludes layers whose weight or bias is shared with
	// another node, as AMCT does, instead of giving them private copies.
	KeepShared bool
}

// Prepared is a model made ready for the flow's steps: every step
// (balance factors, calibration, save) works on the same layers of the same
// graph, whichever command runs it.
type Prepared struct {
	// Model is a private copy of the model with Conv+BatchNormalization
	// fused as the config says and shared layer parameters copied.
	Model *onnx.Model
	// Config is a private copy of the config, with the layers Prepare
	// turned off (Skip, or refused by a layer rule) set to quant_enable
	// false: the config to write beside the record.
	Config *Config
	// Layers are the layers to quantize, in graph order.
	Layers []*Layer
	// Found are all the quantizable layers FindLayers found, enabled or
	// not, in graph order (for Save, which reports those the config turns
	// off).
	Found []*Layer
	// Excluded lists every candidate layer that is not quantized, with the
	// rule that excluded it.
	Excluded []Exclusion
	// Fused lists the Convs a BatchNormalization was folded into, in graph
	// order.
	Fused []string
}

// Prepare readies m for the flow with cfg, in the order AMCT follows: it
// upgrades a model of default-domain opset below 11 to opset 11
// (opset.Upgrade: node names stay, so the config still applies; what
// cannot be converted is an error naming every such node), fuses
// Conv+BatchNormalization (FuseConvBN; AMCT fuses after the config
// exists, so the Conv names stay), finds the quantizable layers
// (FindLayers), and checks the config against them. A layer the config
// enables but a rule refuses (shared parameters with KeepShared) is turned
// off in the returned config; a layer the config enables that the model
// does not have as a quantizable layer (a config for another model) is an
// error. m and cfg are not changed.
func Prepare(m *onnx.Model, cfg *Config, opt PrepareOptions) (*Prepared, error) {
	if m == nil || m.Graph == nil {
		return nil, fmt.Errorf("model has no graph")
	}
	if cfg == nil {
		return nil, fmt.Errorf("no quant config")
	}
	model, err := upgradeOpset(m)
	if err != nil {
		return nil, err
	}
	model.Graph.WidenHalfFloats()
	p := &Prepared{Model: model, Config: cloneConfig(cfg)}
	g := p.Model.Graph
	for _, name := range opt.Skip {
		n := g.Node(name)
		if n == nil {
			return nil, fmt.Errorf("skip_layers: the model has no layer %q", name)
		}
		if lc := p.Config.Layers[name]; lc != nil && lc.QuantEnable {
			lc.QuantEnable = false
			p.Excluded = append(p.Excluded, Exclusion{Layer: name, Type: n.OpType, Rule: "skip_layers in config"})
		}
	}
	if p.Fused, err = FuseConvBN(p.Model, p.Config); err != nil {
		return nil, err
	}
	found, excl, err := FindLayers(p.Model, FindOptions{KeepShared: opt.KeepShared})
	if err != nil {
		return nil, err
	}
	p.Found = found
	p.Excluded = mergeExclusions(p.Excluded, excl)
	for _, l := range found {
		switch lc := p.Config.Layers[l.Name]; {
		case lc == nil:
			p.Excluded = mergeExclusions(p.Excluded, []Exclusion{{Layer: l.Name, Type: l.Type, Rule: "not in the quant config"}})
		case lc.QuantEnable:
			p.Layers = append(p.Layers, l)
		}
	}
	for _, name := range p.Config.LayerNames() {
		lc := p.Config.Layers[name]
		if !lc.QuantEnable || slices.ContainsFunc(found, func(l *Layer) bool { return l.Name == name }) {
			continue
		}
		if !slices.ContainsFunc(excl, func(e Exclusion) bool { return e.Layer == name }) {
			return nil, fmt.Errorf("quant config: layer %q is not a quantizable layer of the model", name)
		}
		// The config written must say that the layer stays float.
		lc.QuantEnable = false
	}
	return p, nil
}

// widenedModel returns m when it computes in float32, else a copy sharing
// its weights in which float16 and bfloat16 are widened to float32: amq
// quantizes such a model as the float32 model of its values (docs/design.md
// "Loading large models").
func widenedModel(m *onnx.Model) *onnx.Model {
	if m == nil || m.Graph == nil {
		return m
	}
	c := m.CloneShared()
	if !c.Graph.WidenHalfFloats() {
		return m
	}
	return c
}

// upgradeOpset returns a copy of m at default-domain opset 11 or later:
// the flow's models (and the fake-quant model's Round) need opset 11. The
// copy shares m's weights: every later step replaces a tensor it changes
// (docs/design.md "Loading large models").
func upgradeOpset(m *onnx.Model) (*onnx.Model, error) {
	if m.Opset() >= opset.Target {
		return m.CloneShared(), nil
	}
	return opset.Upgrade(m, opset.Target)
}

// requireBalanceFactors checks that rec has balance factors for every layer
// whose config asks for DMQ: calibrating without them would quantize the
// unbalanced model against a config that promises a balanced one. A layer
// with an amq_alpha_search needs an entry, which has no factors where the
// search chose no balance.
func requireBalanceFactors(layers []*Layer, cfg *Config, rec Record) error {
	for _, l := range layers {
		lc := cfg.Layers[l.Name]
		if lc != nil && lc.QuantEnable && lc.AlphaSearch != nil && rec[l.Name] == nil {
			return fmt.Errorf("layer %q has %s in the quant config but no entry in the record: run preprocess first", l.Name, alphaSearchKey)
		}
		if lc == nil || !lc.QuantEnable || lc.DMQ == nil {
			continue
		}
		if r := rec[l.Name]; r == nil || len(r.BalanceFactor) == 0 {
			return fmt.Errorf("layer %q has dmq_balancer in the quant config but no balance factors in the record: run preprocess first", l.Name)
		}
	}
	return nil
}

// mergeExclusions appends the exclusions of more whose layer a does not
// name yet.
func mergeExclusions(a, more []Exclusion) []Exclusion {
	for _, e := range more {
		if !slices.ContainsFunc(a, func(x Exclusion) bool { return x.Layer == e.Layer }) {
			a = append(a, e)
		}
	}
	return a
}

// cloneConfig returns a deep copy of c.
func cloneConfig(c *Config) *Config {
	d := *c
	d.SkipFusionLayers = slices.Clone(c.SkipFusionLayers)
	d.Layers = make(map[string]*LayerConfig, len(c.Layers))
	for k, v := range c.Layers {
		lc := *v
		if v.DMQ != nil {
			dmq := *v.DMQ
			lc.DMQ = &dmq
		}
		if v.AlphaSearch != nil {
			lc.AlphaSearch = v.AlphaSearch.clone()
		}
		d.Layers[k] = &lc
	}
	return &d
}
