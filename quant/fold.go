package quant

import (
	"fmt"
	"slices"

	"amq/onnx"
)

// foldSite is what a folder needs to know of the tensor it divides: the
// factors and the axis its balanced readers take channels from.
type foldSite struct {
	s []float32
	// rank is the tensor's rank when convolutions read it (channels on
	// axis 1), 0 when Gemm/MatMul layers do (channels on the last axis).
	rank int
}

// conv reports whether the readers are convolutions.
func (f foldSite) conv() bool { return f.rank > 0 }

// channelShape is the factor vector's shape broadcast along the tensor's
// channel axis: [C, 1, ..., 1] for convolutions, [C] otherwise.
func (f foldSite) channelShape() []int {
	if !f.conv() {
		return []int{len(f.s)}
	}
	ch := make([]int, f.rank-1)
	for i := range ch {
		ch[i] = 1
	}
	ch[0] = len(f.s)
	return ch
}

// A folder divides the output of a producer p by the factors of f, or
// says why it cannot. It checks everything before it changes the graph.
type folder struct {
	kind string // of the BalanceAction
	fold func(g *onnx.Graph, p *onnx.Node, f foldSite) error
}

// folders maps the op type of a producer to its folder.
var folders = map[string]folder{
	"LayerNormalization": {BalanceFoldLayerNorm, foldLayerNorm},
	"BatchNormalization": {BalanceFoldBatchNorm, foldBatchNorm},
	"Add":                {BalanceFoldMulAdd, foldMulAdd},
	"Conv":               {BalanceFoldConv, foldConv},
	"Gemm":               {BalanceFoldGemm, foldGemm},
}

// foldBalances folds the factors of bals into the producers of the tensors
// they read, one tensor at a time, where that is exact. It sets the kind
// and node of every folded layer's action and the note of the others.
func foldBalances(g *onnx.Graph, bals []*balancedLayer) {
	readers := map[string][]*balancedLayer{}
	var order []string
	for _, b := range bals {
		x := b.node.Inputs[0]
		if readers[x] == nil {
			order = append(order, x)
		}
		readers[x] = append(readers[x], b)
	}
	for _, x := range order {
		kind, producer, err := foldBalance(g, x, readers[x])
		for _, b := range readers[x] {
			if err != nil {
				b.action.Note = err.Error()
			} else {
				b.action.Kind, b.action.Node = kind, producer
			}
		}
	}
}

// foldBalance divides tensor x by the factors of its balanced readers
// inside x's producer when that is exact, and returns the kind and the
// producer's name, or why it could not fold.
func foldBalance(g *onnx.Graph, x string, readers []*balancedLayer) (kind, producer string, err error) {
	site := foldSite{s: readers[0].s, rank: readers[0].rank}
	nodes := make([]*onnx.Node, len(readers))
	for i, b := range readers {
		if !slices.Equal(b.s, site.s) {
			return "", "", fmt.Errorf("the layers reading %q have different factors (joint factors allow folding)", x)
		}
		nodes[i] = b.node
	}
	p, err := foldableProducer(g, x, nodes, site.conv())
	if err != nil {
		return "", "", err
	}
	f, ok := folders[p.OpType]
	if !ok {
		return "", "", fmt.Errorf("producer %v of %q cannot absorb the factors", p, x)
	}
	if err := f.fold(g, p, site); err != nil {
		return "", "", err
	}
	return f.kind, p.Name, nil
}

// foldableProducer returns x's producer when dividing its output would
// change only what consumers read: they are all of x's readers, all
// convolutions (conv) or all Gemm/MatMul, and read x as their activation
// only, and x is neither a graph input nor a graph output.
func foldableProducer(g *onnx.Graph, x string, consumers []*onnx.Node, conv bool) (*onnx.Node, error) {
	for _, n := range consumers {
		if conv != (n.OpType == "Conv" || n.OpType == "ConvTranspose") {
			return nil, fmt.Errorf("tensor %q feeds both convolutions and Gemm/MatMul layers", x)
		}
	}
	for _, n := range consumers {
		for i, in := range n.Inputs {
			if in == x && i != 0 {
				return nil, fmt.Errorf("%v reads tensor %q as more than its activation", n, x)
			}
		}
	}
	if g.IsOutput(x) {
		return nil, fmt.Errorf("tensor %q is a graph output", x)
	}
	all := g.Consumers(x)
	if len(all) != len(consumers) {
		return nil, fmt.Errorf("tensor %q has consumers that are not balanced layers", x)
	}
	for _, c := range all {
		if !slices.Contains(consumers, c) {
			return nil, fmt.Errorf("tensor %q is also read by %v", x, c)
		}
	}
	p := g.Producer(x)
	if p == nil {
		return nil, fmt.Errorf("tensor %q is a graph input", x)
	}
	if p.Domain != "" || len(p.Outputs) == 0 || p.Outputs[0] != x {
		return nil, fmt.Errorf("producer %v of %q cannot be folded into", p, x)
	}
	return p, nil
}

// foldLayerNorm divides the scale and bias of a LayerNormalization, which
// act on the last axis.
func foldLayerNorm(g *onnx.Graph, p *onnx.Node, f foldSite) error {
	if f.conv() {
		return fmt.Errorf("LayerNormalization %q normalizes the last axis, the convolutions read channels on axis 1", p.Name)
	}
	return divideInputs(g, p, []int{1, 2}, f.channelShape(), f.s)
}

// foldBatchNorm divides the scale and bias of an inference-mode
// BatchNormalization, which act on axis 1.
func foldBatchNorm(g *onnx.Graph, p *onnx.Node, f foldSite) error {
	if !f.conv() {
		return fmt.Errorf("BatchNormalization %q scales axis 1, the layers read the last axis", p.Name)
	}
	if p.AttrInt("training_mode", 0) != 0 || countOutputs(p) > 1 {
		return fmt.Errorf("BatchNormalization %q is in training mode", p.Name)
	}
	return divideInputs(g, p, []int{1, 2}, []int{len(f.s)}, f.s)
}

// foldMulAdd divides gamma and beta of Add(Mul(z, gamma), beta), a
// decomposed LayerNorm, where gamma and beta are constant and the Mul's
// output feeds only the Add.
func foldMulAdd(g *onnx.Graph, add *onnx.Node, f foldSite) error {
	ch := f.channelShape()
	ci := constIndex(g, add)
	if ci < 0 {
		return fmt.Errorf("Add %q has no constant operand", add.Name)
	}
	y := add.Inputs[1-ci]
	mul := g.Producer(y)
	if mul == nil || mul.OpType != "Mul" || mul.Domain != "" {
		return fmt.Errorf("Add %q is not fed by a Mul", add.Name)
	}
	if len(g.Consumers(y)) != 1 || g.IsOutput(y) {
		return fmt.Errorf("Mul %q's output has other uses", mul.Name)
	}
	mi := constIndex(g, mul)
	if mi < 0 {
		return fmt.Errorf("Mul %q has no constant operand", mul.Name)
	}
	gamma, _ := g.Constant(mul.Inputs[mi])
	beta, _ := g.Constant(add.Inputs[ci])
	gt, err := scaleAlong(gamma, ch, f.s)
	if err != nil {
		return fmt.Errorf("Mul %q constant: %w", mul.Name, err)
	}
	bt, err := scaleAlong(beta, ch, f.s)
	if err != nil {
		return fmt.Errorf("Add %q constant: %w", add.Name, err)
	}
	if err := replaceConstant(g, mul, mi, gt); err != nil {
		return err
	}
	return replaceConstant(g, add, ci, bt)
}

// foldConv divides the output channels of a Conv, which are on axis 1.
func foldConv(g *onnx.Graph, p *onnx.Node, f foldSite) error {
	if !f.conv() {
		return fmt.Errorf("Conv %q writes channels on axis 1, the layers read the last axis", p.Name)
	}
	return foldOutputChannels(g, p, f.s)
}

// foldGemm divides the output columns of a Gemm, which are on the last axis.
func foldGemm(g *onnx.Graph, p *onnx.Node, f foldSite) error {
	if f.conv() {
		return fmt.Errorf("Gemm %q writes columns, the convolutions read axis 1", p.Name)
	}
	return foldOutputChannels(g, p, f.s)
}

// countOutputs counts p's non-empty outputs.
func countOutputs(p *onnx.Node) int {
	k := 0
	for _, o := range p.Outputs {
		if o != "" {
			k++
		}
	}
	return k
}

// divideInputs divides the constant inputs idx of p (absent ones are
// skipped) by s along the channel dimension of ch (see scaleAlong). Every
// input is checked before any is changed, so a failure leaves g intact.
func divideInputs(g *onnx.Graph, p *onnx.Node, idx []int, ch []int, s []float32) error {
	var fixed []*onnx.Tensor
	var at []int
	for _, i := range idx {
		name := p.Input(i)
		if name == "" {
			continue
		}
		c, ok := g.Constant(name)
		if !ok {
			return fmt.Errorf("input %d (%q) of %v is not a constant", i, name, p)
		}
		t, err := scaleAlong(c, ch, s)
		if err != nil {
			return fmt.Errorf("input %d (%q) of %v: %w", i, name, p, err)
		}
		fixed = append(fixed, t)
		at = append(at, i)
	}
	for k, i := range at {
		if err := replaceConstant(g, p, i, fixed[k]); err != nil {
			return err
		}
	}
	return nil
}

// constIndex returns which of a binary node's two inputs is a float
// constant (0 or 1; the second when both are), or -1.
func constIndex(g *onnx.Graph, n *onnx.Node) int {
	if len(n.Inputs) != 2 {
		return -1
	}
	for _, i := range []int{1, 0} {
		if c, ok := g.Constant(n.Inputs[i]); ok && c.DType == onnx.Float {
			return i
		}
	}
	return -1
}

// foldOutputChannels divides output channel o of a Conv or Gemm producer
// (weight and bias) by s_o.
func foldOutputChannels(g *onnx.Graph, p *onnx.Node, s []float32) error {
	w, ok := g.Constant(p.Input(1))
	if !ok || w.DType != onnx.Float {
		return fmt.Errorf("weight of %v is not a float constant", p)
	}
	count, chanOf, err := outputChannels(p.OpType, p, w.Shape)
	if err != nil {
		return fmt.Errorf("%v: %w", p, err)
	}
	if count != len(s) {
		return fmt.Errorf("%v has %d output channels, the factors %d", p, count, len(s))
	}
	wd, err := weightFloats(w)
	if err != nil {
		return fmt.Errorf("weight of %v: %w", p, err)
	}
	nw := make([]float32, len(wd))
	for i, v := range wd {
		nw[i] = float32(float64(v) / float64(s[chanOf(i)]))
	}
	var bt *onnx.Tensor
	if b := p.Input(2); b != "" {
		c, ok := g.Constant(b)
		if !ok {
			return fmt.Errorf("bias of %v is not a constant", p)
		}
		if bt, err = scaleAlong(c, []int{len(s)}, s); err != nil {
			return fmt.Errorf("bias of %v: %w", p, err)
		}
	}
	if err := replaceConstant(g, p, 1, onnx.NewTensor(w.Shape, nw)); err != nil {
		return err
	}
	if bt != nil {
		return replaceConstant(g, p, 2, bt)
	}
	return nil
}

// scaleAlong returns c broadcast against the shape ch (a factor vector
// [C, 1, ..., 1] or [C], right-aligned as in ONNX broadcasting) and divided
// by s along ch's first dimension. The result broadcasts to the same shapes
// c did against any tensor whose channel dimension is C.
func scaleAlong(c *onnx.Tensor, ch []int, s []float32) (*onnx.Tensor, error) {
	cd, err := weightFloats(c)
	if err != nil {
		return nil, err
	}
	r := max(len(c.Shape), len(ch))
	shape := make([]int, r)
	cs := make([]int, r) // c's shape right-aligned, padded with 1
	for i := range r {
		cs[i] = 1
		if k := i - (r - len(c.Shape)); k >= 0 {
			cs[i] = c.Shape[k]
		}
		d := 1
		if k := i - (r - len(ch)); k >= 0 {
			d = ch[k]
		}
		switch {
		case cs[i] == d || d == 1:
			shape[i] = cs[i]
		case cs[i] == 1:
			shape[i] = d
		default:
			return nil, fmt.Errorf("constant of shape %v does not broadcast against channel shape %v", c.Shape, ch)
		}
	}
	axis := r - len(ch) // the channel dimension in shape
	// Strides of c in the padded layout (0 along broadcast dims).
	cstride := make([]int, r)
	st := 1
	for i := r - 1; i >= 0; i-- {
		if cs[i] != 1 {
			cstride[i] = st
		}
		st *= cs[i]
	}
	out := make([]float32, onnx.NumElems(shape))
	idx := make([]int, r)
	for i := range out {
		off := 0
		for d := range r {
			off += idx[d] * cstride[d]
		}
		out[i] = float32(float64(cd[off]) / float64(s[idx[axis]]))
		for d := r - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return onnx.NewTensor(shape, out), nil
}
