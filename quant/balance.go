package quant

import (
	"fmt"
	"slices"

	"amq/onnx"
)

// BalanceOptions tunes ApplyBalance.
type BalanceOptions struct {
	// Fold divides the activation by the factors inside the tensor's
	// producer instead of inserting a Mul, where that is exact: every
	// consumer of the tensor is a balanced layer with the same factors
	// (see DMQOptions.Joint), the tensor is not a graph output, and the
	// producer is a LayerNormalization or BatchNormalization with constant
	// affine parameters, an Add-by-constant fed only by a Mul-by-constant
	// (a decomposed LayerNorm), or a Conv/Gemm with constant weights. Other
	// layers get AMCT's Mul. Folding never changes a factor.
	Fold bool
}

// Kinds of BalanceAction.
const (
	BalanceMul           = "mul"            // Mul(x, 1/s) inserted before the layer
	BalanceFoldLayerNorm = "fold-layernorm" // LayerNormalization scale and bias divided by s
	BalanceFoldBatchNorm = "fold-batchnorm" // BatchNormalization scale and bias divided by s
	BalanceFoldMulAdd    = "fold-mul-add"   // Mul and Add constants of a decomposed LayerNorm divided by s
	BalanceFoldConv      = "fold-conv"      // producer Conv's output channels divided by s
	BalanceFoldGemm      = "fold-gemm"      // producer Gemm's output columns divided by s
)

// BalanceAction says how one layer was balanced.
type BalanceAction struct {
	Layer string // the layer's node name
	Kind  string // one of the Balance* constants
	// Node is the inserted Mul node, or the producer the factors were
	// folded into.
	Node string
	// Weight is the initializer the layer reads its balanced weight from
	// (a new one when the original was shared).
	Weight string
	// Note says why folding was not done when BalanceOptions.Fold asked
	// for it.
	Note string
}

// BalanceReport lists what ApplyBalance did, per balanced layer in the order
// of the layers argument.
type BalanceReport struct {
	Layers []BalanceAction
}

// balancedLayer is a layer ApplyBalance balances.
type balancedLayer struct {
	layer  *Layer
	node   *onnx.Node
	s      []float32 // the layer's balance factors
	action *BalanceAction
	rank   int // activation rank for convolutions (weight rank), else 0
}

// ApplyBalance applies the DMQ factors of rec to m in place: for each layer
// with BalanceFactor set it multiplies input channel j of the weight by s_j
// (on a private copy when the weight is shared), and divides the
// activation's channel j by s_j, with an inserted Mul by a constant 1/s of
// shape [1,C,1,...] (convolutions) or [C] (Gemm/MatMul) as AMCT does, or,
// with opt.Fold, inside the producer where exact. Real-number outputs are
// unchanged.
func ApplyBalance(m *onnx.Model, layers []*Layer, rec Record, opt BalanceOptions) (*BalanceReport, error) {
	g := m.Graph
	var bals []*balancedLayer
	for _, l := range layers {
		r := rec[l.Name]
		if r == nil || len(r.BalanceFactor) == 0 {
			continue
		}
		b, err := balanceWeight(g, l, r.BalanceFactor)
		if err != nil {
			return nil, err
		}
		bals = append(bals, b)
	}
	if opt.Fold {
		foldBalances(g, bals)
	}
	for _, b := range bals {
		if b.action.Kind != "" {
			continue
		}
		name, err := insertBalanceMul(g, b)
		if err != nil {
			return nil, err
		}
		b.action.Kind, b.action.Node = BalanceMul, name
	}
	rep := &BalanceReport{}
	for _, b := range bals {
		rep.Layers = append(rep.Layers, *b.action)
	}
	return rep, nil
}

// balanceWeight checks the factors s of layer l and multiplies input
// channel j of its weight by s_j, on a copy when the weight is shared.
func balanceWeight(g *onnx.Graph, l *Layer, s []float32) (*balancedLayer, error) {
	n, w, err := layerWeight(g, l)
	if err != nil {
		return nil, err
	}
	for j, f := range s {
		if !(f >= float32(FltEpsilon) && f <= float32(1/FltEpsilon)) {
			return nil, fmt.Errorf("layer %q: balance factor %d is %v, outside [FLT_EPSILON, 1/FLT_EPSILON]", l.Name, j, f)
		}
	}
	count, chanOf, err := inputChannels(l.Type, n, w.Shape)
	if err != nil {
		return nil, fmt.Errorf("layer %q: %w", l.Name, err)
	}
	if count != len(s) {
		return nil, fmt.Errorf("layer %q: %d balance factors for %d input channels", l.Name, len(s), count)
	}
	wt, err := ownConstant(g, n, 1)
	if err != nil {
		return nil, fmt.Errorf("layer %q: %w", l.Name, err)
	}
	wd := wt.Floats()
	for i, v := range wd {
		wd[i] = float32(float64(v) * float64(s[chanOf(i)]))
	}
	b := &balancedLayer{layer: l, node: n, s: s, action: &BalanceAction{Layer: l.Name, Weight: n.Inputs[1]}}
	if l.Type == "Conv" || l.Type == "ConvTranspose" {
		b.rank = len(w.Shape)
	}
	return b, nil
}

// insertBalanceMul inserts Mul(x, 1/s) before the layer's node and returns
// the Mul's name.
func insertBalanceMul(g *onnx.Graph, b *balancedLayer) (string, error) {
	l, n, s := b.layer, b.node, b.s
	x := n.Inputs[0]
	shape := []int{len(s)}
	if b.rank > 0 {
		shape = make([]int, b.rank)
		for i := range shape {
			shape[i] = 1
		}
		shape[1] = len(s)
	}
	inv := make([]float32, len(s))
	for j, f := range s {
		inv[j] = float32(1 / float64(f))
	}
	c := onnx.NewTensor(shape, inv)
	c.Name = g.UniqueName(l.Name + ".dmq_balance.scale")
	g.SetInitializer(c)
	mul := &onnx.Node{
		Name:    g.UniqueName(l.Name + ".dmq_balance"),
		OpType:  "Mul",
		Inputs:  []string{x, c.Name},
		Outputs: []string{g.UniqueName(l.Name + ".dmq_balance.output")},
	}
	if vi, ok := g.ValueInfo[x]; ok {
		v := *vi
		v.Name = mul.Outputs[0]
		v.Shape = slices.Clone(vi.Shape)
		g.ValueInfo[v.Name] = &v
	}
	if err := g.InsertBefore(n, 0, mul); err != nil {
		return "", fmt.Errorf("layer %q: insert balance Mul: %w", l.Name, err)
	}
	return mul.Name, nil
}

// ownConstant makes input i of n an initializer that only n reads and
// returns it, ready to be modified: the existing one when n is its only
// reader, else a copy under a new name that n now reads.
func ownConstant(g *onnx.Graph, n *onnx.Node, i int) (*onnx.Tensor, error) {
	name := n.Input(i)
	c, ok := g.Constant(name)
	if !ok {
		return nil, fmt.Errorf("input %d (%q) of %v is not a constant", i, name, n)
	}
	t := c.Clone()
	// The original may lie in a mapped model file and be read by no one
	// else now: keep only the copy resident.
	c.PageOut()
	if err := replaceConstant(g, n, i, t); err != nil {
		return nil, err
	}
	return t, nil
}

// replaceConstant makes input i of n read the value t: in place when the
// input is an initializer that only n reads (once), else as a new
// initializer, pruning Constant/Identity nodes left without readers.
func replaceConstant(g *onnx.Graph, n *onnx.Node, i int, t *onnx.Tensor) error {
	name := n.Input(i)
	uses := 0
	for _, in := range n.Inputs {
		if in == name {
			uses++
		}
	}
	_, isInit := g.Initializers[name]
	if isInit && uses == 1 && len(g.Consumers(name)) == 1 && !g.IsOutput(name) && g.Input(name) == nil {
		t.Name = name
		g.SetInitializer(t)
		return nil
	}
	base := name
	if src := g.ConstantSource(name); src != "" {
		base = src
	}
	t.Name = g.UniqueName(base + ".balanced")
	g.SetInitializer(t)
	n.Inputs[i] = t.Name
	g.Reindex()
	pruneConstChain(g, name)
	return nil
}

// pruneConstChain removes the Constant/Identity nodes that produced name
// when nothing reads name any more.
func pruneConstChain(g *onnx.Graph, name string) {
	for name != "" && len(g.Consumers(name)) == 0 && !g.IsOutput(name) {
		p := g.Producer(name)
		if p == nil {
			if _, ok := g.Initializers[name]; ok && g.Input(name) == nil {
				delete(g.Initializers, name)
			}
			return
		}
		if p.Domain != "" || (p.OpType != "Identity" && p.OpType != "Constant") {
			return
		}
		g.RemoveNode(p)
		name = p.Input(0)
	}
}
