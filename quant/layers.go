package quant

import (
	"fmt"
	"slices"
	"strings"

	"amq/onnx"
)

// FindOptions controls FindLayers.
type FindOptions struct {
	// KeepShared excludes layers whose weight or bias is shared with another
	// node, as AMCT does. By default each such layer gets its own copy of
	// the shared constant, which changes nothing numerically.
	KeepShared bool
	// SkipLayers and SkipTypes exclude layers by node name and op type (the
	// config's skip_layers and skip_layer_types).
	SkipLayers []string
	SkipTypes  []string
}

// quantizable lists the op types that can be quantized (default domain).
var quantizable = map[string]bool{"Conv": true, "ConvTranspose": true, "Gemm": true, "MatMul": true}

// IsQuantizableType reports whether op type t (default domain) is one that
// amq quantizes when the layer meets the restrictions.
func IsQuantizableType(t string) bool { return quantizable[t] }

// FindLayers returns the quantizable layers of m in graph order, and an
// Exclusion naming the rule for every candidate (Conv, ConvTranspose, Gemm,
// MatMul) that is not quantized.
//
// Unless opt.KeepShared is set, FindLayers changes m: a layer whose weight
// or bias is shared with another node reads a private copy afterwards, and
// the layer's Notes say so.
func FindLayers(m *onnx.Model, opt FindOptions) ([]*Layer, []Exclusion, error) {
	return findLayers(m, opt, true)
}

// findLayers implements FindLayers; with unshare false it leaves m alone and
// only reports what FindLayers would copy.
func findLayers(m *onnx.Model, opt FindOptions, unshare bool) ([]*Layer, []Exclusion, error) {
	if m == nil || m.Graph == nil {
		return nil, nil, fmt.Errorf("find layers: model has no graph")
	}
	g := m.Graph
	skipLayer := map[string]bool{}
	for _, name := range opt.SkipLayers {
		n := g.Node(name)
		if n == nil {
			return nil, nil, fmt.Errorf("skip_layers: the model has no node %q", name)
		}
		if n.Domain != "" || !quantizable[n.OpType] {
			return nil, nil, fmt.Errorf("skip_layers: node %q is a %s, not a Conv, ConvTranspose, Gemm or MatMul", name, n.OpType)
		}
		skipLayer[name] = true
	}
	skipType := map[string]bool{}
	for _, t := range opt.SkipTypes {
		if !quantizable[t] {
			return nil, nil, fmt.Errorf("skip_layer_types: %q is not a quantizable type (Conv, ConvTranspose, Gemm, MatMul)", t)
		}
		skipType[t] = true
	}

	uses := constUses(g)
	var layers []*Layer
	var excl []Exclusion
	var copied []string // constant roots that lost a reader
	for _, n := range g.Nodes {
		if n.Domain != "" || !quantizable[n.OpType] {
			continue
		}
		exclude := func(rule string) { excl = append(excl, Exclusion{Layer: n.Name, Type: n.OpType, Rule: rule}) }
		if skipLayer[n.Name] {
			exclude("skip_layers in config")
			continue
		}
		if skipType[n.OpType] {
			exclude("skip_layer_types in config")
			continue
		}
		l, rule := checkLayer(g, n)
		if rule != "" {
			exclude(rule)
			continue
		}
		var shared []int // input indices of shared parameters
		for i, name := range []string{l.Weight, l.Bias} {
			if name == "" {
				continue
			}
			if root := constRoot(g, name); len(uses[root]) > 1 {
				shared = append(shared, i+1)
			}
		}
		if len(shared) > 0 && opt.KeepShared {
			var what []string
			for _, i := range shared {
				what = append(what, fmt.Sprintf("%s %q is shared with %s", paramName(i), n.Inputs[i], describeUses(uses[constRoot(g, n.Inputs[i])], n, i)))
			}
			exclude(strings.Join(what, "; ") + " (AMCT does not quantize layers with shared parameters)")
			continue
		}
		for _, i := range shared {
			name := n.Inputs[i]
			root := constRoot(g, name)
			cp := g.UniqueName(n.Name + "." + paramName(i))
			l.Notes = append(l.Notes, fmt.Sprintf("%s %q was shared with %s; the layer reads its own copy %q",
				paramName(i), name, describeUses(uses[root], n, i), cp))
			if !unshare {
				continue
			}
			t, _ := g.Constant(name)
			c := t.Clone()
			c.Name = cp
			g.SetInitializer(c)
			n.Inputs[i] = cp
			if i == 1 {
				l.Weight = cp
			} else {
				l.Bias = cp
			}
			copied = append(copied, root)
			g.Reindex()
		}
		layers = append(layers, l)
	}
	if len(copied) > 0 {
		removeDeadConstants(g, copied)
	}
	return layers, excl, nil
}

func paramName(input int) string {
	if input == 1 {
		return "weight"
	}
	return "bias"
}

// checkLayer applies the restrictions of docs/design.md "Supported layers and
// restrictions" to candidate n. It returns the layer, or the rule that
// excludes it.
func checkLayer(g *onnx.Graph, n *onnx.Node) (*Layer, string) {
	if n.Input(0) == "" || n.Input(1) == "" {
		return nil, "missing input or weight"
	}
	l := &Layer{Name: n.Name, Type: n.OpType, Node: n, Input: n.Inputs[0], Weight: n.Inputs[1], Bias: n.Input(2)}
	w, ok := g.Constant(l.Weight)
	if !ok {
		return nil, fmt.Sprintf("weight %q is not a constant", l.Weight)
	}
	if w.DType != onnx.Float {
		return nil, fmt.Sprintf("weight %q is %v, not FLOAT", l.Weight, w.DType)
	}
	var b *onnx.Tensor
	if l.Bias != "" {
		if b, ok = g.Constant(l.Bias); !ok {
			return nil, fmt.Sprintf("bias %q is not a constant", l.Bias)
		}
		if b.DType != onnx.Float {
			return nil, fmt.Sprintf("bias %q is %v, not FLOAT", l.Bias, b.DType)
		}
	}
	switch n.OpType {
	case "Gemm":
		if n.AttrInt("transA", 0) != 0 {
			return nil, "Gemm with transA = 1"
		}
		if w.Rank() != 2 {
			return nil, fmt.Sprintf("Gemm weight %q is %d-D, not 2-D", l.Weight, w.Rank())
		}
		if a := n.AttrFloat("alpha", 1); a != 1 {
			return nil, fmt.Sprintf("Gemm with alpha = %g (amq needs 1)", a)
		}
		if bt := n.AttrFloat("beta", 1); bt != 1 && b != nil {
			return nil, fmt.Sprintf("Gemm with beta = %g and a bias (amq needs 1)", bt)
		}
		cout := w.Shape[1]
		if n.AttrInt("transB", 0) != 0 {
			cout = w.Shape[0]
		}
		if b != nil && !perChannelBias(b.Shape, cout) {
			return nil, fmt.Sprintf("Gemm bias %q of shape %v is not one value per output channel", l.Bias, b.Shape)
		}
	case "MatMul":
		if w.Rank() != 2 {
			return nil, fmt.Sprintf("MatMul second input %q is %d-D, not a 2-D constant", l.Weight, w.Rank())
		}
	case "Conv":
		if w.Rank() < 3 || w.Rank() > 5 {
			return nil, fmt.Sprintf("Conv weight %q is %d-D (amq quantizes 3-D, 4-D and 5-D)", l.Weight, w.Rank())
		}
		l.Spatial = w.Rank() - 2
		if d := n.AttrInts("dilations"); l.Spatial == 3 && len(d) == 3 && d[0] != 1 {
			return nil, fmt.Sprintf("Conv3d with dilation %d along depth (must be 1)", d[0])
		}
		if b != nil && b.Len() != w.Shape[0] {
			return nil, fmt.Sprintf("Conv bias %q has %d values for %d output channels", l.Bias, b.Len(), w.Shape[0])
		}
	case "ConvTranspose":
		switch w.Rank() {
		case 4:
		case 3:
			return nil, "ConvTranspose1d (3-D weight) is not supported"
		case 5:
			return nil, "ConvTranspose3d (5-D weight) is not supported"
		default:
			return nil, fmt.Sprintf("ConvTranspose weight %q is %d-D, not 4-D", l.Weight, w.Rank())
		}
		l.Spatial = 2
		for _, d := range n.AttrInts("dilations") {
			if d != 1 {
				return nil, fmt.Sprintf("ConvTranspose with dilations %v (must be 1)", n.AttrInts("dilations"))
			}
		}
		if b != nil && b.Len() != w.Shape[1]*int(n.AttrInt("group", 1)) {
			return nil, fmt.Sprintf("ConvTranspose bias %q does not match the output channels", l.Bias)
		}
	}
	return l, ""
}

// perChannelBias reports whether a Gemm bias of shape s holds one value per
// output channel ([N], [1, N]) or one for all ([1], scalar).
func perChannelBias(s []int, cout int) bool {
	n := onnx.NumElems(s)
	if n != cout && n != 1 {
		return false
	}
	return len(s) <= 1 || (len(s) == 2 && s[0] == 1)
}

// constRoot returns the initializer or Constant-node output behind tensor
// name, following Identity nodes, or "" when name is not constant.
func constRoot(g *onnx.Graph, name string) string {
	for range len(g.Nodes) + 1 {
		if _, ok := g.Initializers[name]; ok {
			return name
		}
		p := g.Producer(name)
		if p == nil || p.Domain != "" {
			return ""
		}
		switch p.OpType {
		case "Constant":
			if p.AttrTensor("value") != nil {
				return name
			}
			return ""
		case "Identity":
			name = p.Inputs[0]
		default:
			return ""
		}
	}
	return ""
}

// constUse is one read of a constant: input Input of Node, or a graph output
// when Node is nil.
type constUse struct {
	Node  *onnx.Node
	Input int
}

// constUses maps every constant root to its readers. Identity nodes that
// forward a constant are transparent: their readers count instead.
func constUses(g *onnx.Graph) map[string][]constUse {
	uses := map[string][]constUse{}
	for _, n := range g.Nodes {
		if n.OpType == "Identity" && n.Domain == "" && constRoot(g, n.Input(0)) != "" {
			continue
		}
		for i, in := range n.Inputs {
			if in == "" {
				continue
			}
			if r := constRoot(g, in); r != "" {
				uses[r] = append(uses[r], constUse{n, i})
			}
		}
	}
	for _, o := range g.Outputs {
		if r := constRoot(g, o.Name); r != "" {
			uses[r] = append(uses[r], constUse{nil, 0})
		}
	}
	return uses
}

// describeUses names the readers in uses other than input input of node
// self.
func describeUses(uses []constUse, self *onnx.Node, input int) string {
	var s []string
	for _, u := range uses {
		switch {
		case u.Node == self && u.Input == input:
		case u.Node == nil:
			s = append(s, "a graph output")
		case u.Node == self:
			s = append(s, fmt.Sprintf("its own input %d", u.Input))
		default:
			s = append(s, u.Node.String())
		}
	}
	s = slices.Compact(s)
	return strings.Join(s, ", ")
}

// removeDeadConstants deletes the roots (and the Identity and Constant nodes
// in front of them) that no longer have readers after unsharing.
func removeDeadConstants(g *onnx.Graph, roots []string) {
	for changed := true; changed; {
		changed = false
		for i := len(g.Nodes) - 1; i >= 0; i-- {
			n := g.Nodes[i]
			if n.Domain != "" || (n.OpType != "Identity" && n.OpType != "Constant") || len(n.Outputs) != 1 {
				continue
			}
			r := constRoot(g, n.Outputs[0])
			if !slices.Contains(roots, r) || len(g.Consumers(n.Outputs[0])) > 0 || g.IsOutput(n.Outputs[0]) {
				continue
			}
			g.RemoveNode(n)
			changed = true
		}
	}
	for _, r := range roots {
		if _, ok := g.Initializers[r]; ok && len(g.Consumers(r)) == 0 && !g.IsOutput(r) {
			delete(g.Initializers, r)
		}
	}
}
