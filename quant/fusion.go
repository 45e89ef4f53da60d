package quant

import (
	"fmt"
	"math"
	"slices"

	"amq/onnx"
)

// FuseConvBN folds every inference-mode BatchNormalization that directly
// follows a Conv into the Conv's weight and bias, as AMCT's do_fusion does
// before quantizing (its fusable types are Conv1d, Conv2d and Conv3d, not
// ConvTranspose), so that the weights quantized are the fused ones. It
// returns the names of the Conv nodes that absorbed a BatchNormalization, in
// graph order.
//
// Nothing is fused when cfg.DoFusion is false; a Conv named in
// cfg.SkipFusionLayers is left alone. A pair is fused only when the Conv
// (default domain, 3-D to 5-D float32 weight, constant weight and bias) is
// read by that single BatchNormalization and its output is not a graph
// output, and the BatchNormalization is in inference mode with constant
// float32 scale, B, mean and var. With
//
//	k[o] = scale[o] / sqrt(var[o] + epsilon)
//
// the Conv gets W'[o,...] = W[o,...]*k[o] and b'[o] = (b[o]-mean[o])*k[o] +
// B[o] (computed in float64), written to new initializers because the old
// ones may be shared; the Conv then writes the BatchNormalization's output
// tensor, so every node name of the graph except the removed
// BatchNormalizations stays the same.
func FuseConvBN(m *onnx.Model, cfg *Config) (fused []string, err error) {
	if m == nil || m.Graph == nil {
		return nil, fmt.Errorf("conv+bn fusion: model has no graph")
	}
	if cfg == nil || !cfg.DoFusion {
		return nil, nil
	}
	g := m.Graph
	// Opset 6 and older BatchNormalization default to training (is_test=0)
	// and carry other attributes; such models are left as they are.
	if m.Opset() < 7 {
		return nil, nil
	}
	for _, conv := range slices.Clone(g.Nodes) {
		if conv.OpType != "Conv" || conv.Domain != "" || slices.Contains(cfg.SkipFusionLayers, conv.Name) {
			continue
		}
		bn := fusableBN(g, conv)
		if bn == nil {
			continue
		}
		ok, err := fuseConvBN(g, conv, bn)
		if err != nil {
			return fused, fmt.Errorf("conv+bn fusion: %v with %v: %w", conv, bn, err)
		}
		if ok {
			fused = append(fused, conv.Name)
		}
	}
	return fused, nil
}

// fusableBN returns the BatchNormalization node that alone reads conv's
// output, when it is in inference mode; nil otherwise.
func fusableBN(g *onnx.Graph, conv *onnx.Node) *onnx.Node {
	if len(conv.Outputs) != 1 || conv.Outputs[0] == "" || g.IsOutput(conv.Outputs[0]) {
		return nil
	}
	users := g.Consumers(conv.Outputs[0])
	if len(users) != 1 {
		return nil
	}
	bn := users[0]
	if bn.OpType != "BatchNormalization" || bn.Domain != "" || len(bn.Inputs) != 5 || bn.Inputs[0] != conv.Outputs[0] {
		return nil
	}
	// The conv output may also feed the BN's parameters (a malformed but
	// possible graph): then it is read twice.
	if slices.Contains(bn.Inputs[1:], conv.Outputs[0]) {
		return nil
	}
	// Training mode: training_mode=1 (opset 14+), or running mean/var
	// outputs asked for (opset 9-13 training), or spatial=0 (opset 7-8,
	// per-element statistics).
	if bn.AttrInt("training_mode", 0) != 0 || bn.AttrInt("spatial", 1) != 1 {
		return nil
	}
	for _, o := range bn.Outputs[1:] {
		if o != "" {
			return nil
		}
	}
	if len(bn.Outputs) == 0 || bn.Outputs[0] == "" {
		return nil
	}
	return bn
}

// fuseConvBN rewrites conv to absorb bn. It reports false, and changes
// nothing, when a parameter is not a float32 constant or the weight is not
// 3-D to 5-D; inconsistent shapes are errors.
func fuseConvBN(g *onnx.Graph, conv, bn *onnx.Node) (bool, error) {
	w, ok := g.Constant(conv.Input(1))
	if !ok || w.Rank() < 3 || w.Rank() > 5 {
		return false, nil
	}
	wd, err := weightFloats(w)
	if err != nil {
		return false, nil
	}
	oc := w.Shape[0]
	var bias []float32
	if b := conv.Input(2); b != "" {
		t, ok := g.Constant(b)
		if !ok {
			return false, nil
		}
		if bias, err = weightFloats(t); err != nil {
			return false, nil
		}
		if len(bias) != oc {
			return false, fmt.Errorf("bias %q has %d values for %d output channels", b, len(bias), oc)
		}
	}
	var p [4][]float32 // scale, B, mean, var
	for i := range p {
		t, ok := g.Constant(bn.Inputs[i+1])
		if !ok {
			return false, nil
		}
		if p[i], err = weightFloats(t); err != nil {
			return false, nil
		}
		if len(p[i]) != oc {
			return false, fmt.Errorf("%q has %d values for %d output channels", bn.Inputs[i+1], len(p[i]), oc)
		}
	}
	eps := float64(bn.AttrFloat("epsilon", 1e-5))

	per := len(wd) / max(oc, 1)
	nw := make([]float32, len(wd))
	nb := make([]float32, oc)
	for o := range oc {
		v := float64(p[3][o]) + eps
		if !(v > 0) {
			return false, fmt.Errorf("channel %d: var+epsilon = %g is not positive", o, v)
		}
		k := float64(p[0][o]) / math.Sqrt(v)
		for j := o * per; j < (o+1)*per; j++ {
			nw[j] = float32(float64(wd[j]) * k)
		}
		b := 0.0
		if bias != nil {
			b = float64(bias[o])
		}
		nb[o] = float32(float64((b-float64(p[2][o]))*k) + float64(p[1][o]))
	}

	oldOut := conv.Outputs[0]
	wt := onnx.NewTensor(slices.Clone(w.Shape), nw)
	wt.Name = g.UniqueName(conv.Name + "_bn_fused_weight")
	g.SetInitializer(wt)
	bt := onnx.NewTensor([]int{oc}, nb)
	bt.Name = g.UniqueName(conv.Name + "_bn_fused_bias")
	g.SetInitializer(bt)
	old := []string{conv.Input(1), conv.Input(2)}
	old = append(old, bn.Inputs[1:]...)
	conv.Inputs = []string{conv.Inputs[0], wt.Name, bt.Name}
	conv.Outputs[0] = bn.Outputs[0]
	g.RemoveNode(bn)
	delete(g.ValueInfo, oldOut)
	// Drop the initializers nothing reads any more, so that the saved models
	// do not carry the unfused parameters.
	for _, name := range old {
		if _, ok := g.Initializers[name]; ok && name != "" && len(g.Consumers(name)) == 0 && g.Input(name) == nil && !g.IsOutput(name) {
			delete(g.Initializers, name)
		}
	}
	g.Reindex()
	return true, nil
}
