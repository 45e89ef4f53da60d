package quant

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"amq/internal/atomicfile"
	"amq/onnx"
)

// SaveOptions controls Save.
type SaveOptions struct {
	// Balance says how the record's balance factors are applied to the
	// model (ApplyBalance), when some layer has a factor other than 1.
	Balance BalanceOptions
	// Model is passed to onnx.Model.Save for both files.
	Model *onnx.SaveOptions
	// BiasShift maps a layer to one amount per output channel that is
	// subtracted from its bias before the bias is quantized (bias
	// correction, see QuantizeOptions.BiasCorrect). A Conv, ConvTranspose
	// or Gemm without a bias gets one; a MatMul, which has no bias input,
	// gets an Add of the negated amounts after its dequantization.
	BiasShift map[string][]float64

	// quantized, when set, is the model already quantized with these
	// options (bias correction does so), which Save rewrites instead of
	// quantizing every weight again.
	quantized *quantizedSave
}

// quantizedSave is a quantized model ready for Save and the report of
// quantizing it (Quantized, Skipped, Warnings, Balance).
type quantizedSave struct {
	q   *quantizedModel
	rep SaveReport
}

// SaveReport tells what Save wrote.
type SaveReport struct {
	FakeQuantPath string
	DeployPath    string
	// Quantized lists the quantized layers in graph order.
	Quantized []string
	// Skipped lists the given layers that stay float, with the reason.
	Skipped []Exclusion
	// Warnings are conditions worth a look that do not stop the save, such
	// as all-zero weight channels.
	Warnings []string
	// Balance tells how each balanced layer was balanced; nil when no
	// layer has a factor other than 1.
	Balance *BalanceReport
}

// Save writes <prefix>_fake_quant_model.onnx (standard ONNX ops, runs in
// ONNX Runtime) and <prefix>_deploy_model.onnx (AscendQuant/AscendDequant,
// int8 weights, int32 bias) for m, quantizing the layers that cfg enables
// (cfg nil enables all) with the factors of rec. Both files are written or
// neither. m is not changed.
//
// Per layer, with s_d, o_d the activation scale and offset and s_w[c] the
// weight scales: w_q = clamp(round_half_even(w/s_w[c]), -128, 127),
// b_q = round_half_even(b/(s_d*s_w[c])) in int32, and the output is
// (sum (q - o_d) w_q + b_q) * float32(s_d*s_w[c]) where
// q = clamp(round_half_even(x/s_d) + o_d, -128, 127).
func Save(m *onnx.Model, layers []*Layer, cfg *Config, rec Record, prefix string, opt SaveOptions) (*SaveReport, error) {
	return SaveContext(context.Background(), m, layers, cfg, rec, prefix, opt)
}

// SaveContext is Save stopped by ctx between its steps: once ctx is
// cancelled it fails with ctx.Err() and leaves no file.
func SaveContext(ctx context.Context, m *onnx.Model, layers []*Layer, cfg *Config, rec Record, prefix string, opt SaveOptions) (_ *SaveReport, err error) {
	if m == nil || m.Graph == nil {
		return nil, fmt.Errorf("save: model has no graph")
	}
	dir, base := filepath.Split(prefix)
	if dir == "" {
		dir = "."
	}
	st, err := atomicfile.NewStaging(dir, ".amq-save-")
	if err != nil {
		return nil, fmt.Errorf("save: %w", err)
	}
	defer st.Discard()
	defer func() { err = st.Err(err) }() // the output's name, not the staging's
	rep, err := saveStaged(ctx, st, base, m, layers, cfg, rec, opt)
	if err != nil {
		return nil, err
	}
	rep.FakeQuantPath, rep.DeployPath = prefix+fakeQuantSuffix, prefix+deploySuffix
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("save: %w", err)
	}
	if err := st.Commit(); err != nil {
		return nil, fmt.Errorf("save: %w", err)
	}
	return rep, nil
}

// The file names Save gives its models after the prefix.
const (
	fakeQuantSuffix = "_fake_quant_model.onnx"
	deploySuffix    = "_deploy_model.onnx"
)

// saveStaged writes the fake-quant and deploy models of Save into st, named
// after name; the report's paths are those in st.
func saveStaged(ctx context.Context, st *atomicfile.Staging, name string, m *onnx.Model, layers []*Layer, cfg *Config, rec Record, opt SaveOptions) (*SaveReport, error) {
	rep := &SaveReport{
		FakeQuantPath: st.Path(name + fakeQuantSuffix),
		DeployPath:    st.Path(name + deploySuffix),
	}
	var q *quantizedModel
	if pre := opt.quantized; pre != nil {
		q = pre.q
		rep.Quantized, rep.Skipped, rep.Warnings, rep.Balance = pre.rep.Quantized, pre.rep.Skipped, pre.rep.Warnings, pre.rep.Balance
	} else {
		var err error
		if q, err = quantizeModel(m, layers, cfg, rec, opt, rep, true); err != nil {
			return nil, err
		}
	}
	// Both rewrites take the quantized layers' weights from q.layers and
	// drop the float ones, which can go now; the fake-quant model shares
	// the rest with the deploy model (docs/design.md "Loading large
	// models").
	dropFloatWeights(q)
	fake := q.model.CloneShared()
	dep := q.model
	if err := rewrite(dep, q.layers, true); err != nil {
		return nil, fmt.Errorf("save: deploy model: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("save: %w", err)
	}
	if err := dep.Save(rep.DeployPath, opt.Model); err != nil {
		return nil, fmt.Errorf("save %s: %w", filepath.Base(rep.DeployPath), err)
	}
	if err := rewrite(fake, q.layers, false); err != nil {
		return nil, fmt.Errorf("save: fake-quant model: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("save: %w", err)
	}
	if err := fake.Save(rep.FakeQuantPath, opt.Model); err != nil {
		return nil, fmt.Errorf("save %s: %w", filepath.Base(rep.FakeQuantPath), err)
	}
	return rep, nil
}

// dropFloatWeights empties the float weight initializers of q's layers,
// which their rewrites replace by the quantized values in q.layers and then
// remove: a model's worth of balanced weights need not wait for both
// rewrites. A tensor left empty by mistake would fail to save, not save
// wrong values. Only the layer reads its weight (FindLayers gives shared
// weights private copies), and the tensor is q's own (CloneShared).
func dropFloatWeights(q *quantizedModel) {
	for _, l := range q.targets {
		dropFloatWeight(q.model.Graph, l)
	}
}

// dropFloatWeight empties the float weight initializer of layer l in g
// when l alone reads it (see dropFloatWeights).
func dropFloatWeight(g *onnx.Graph, l *Layer) {
	if t, ok := g.Initializers[l.Node.Input(1)]; ok && len(g.Consumers(t.Name)) == 1 {
		t.PageOut() // when still the mapped file's elements
		t.Data = nil
	}
}

// quantizedModel is a model ready to be rewritten into its fake-quant or
// deploy form: a balanced clone of the caller's model, the layers to
// quantize bound to its nodes, and their quantized parameters.
type quantizedModel struct {
	model   *onnx.Model
	targets []*Layer
	layers  []*quantLayer
}

// quantizeModel clones m, applies the balance factors of rec and quantizes
// the parameters of every layer cfg enables, noting in rep what it
// skipped, balanced and warns of.
//
// With drop, each layer's float weight is dropped once it is quantized
// (dropFloatWeight): Save's rewrites need only the quantized values.
func quantizeModel(m *onnx.Model, layers []*Layer, cfg *Config, rec Record, opt SaveOptions, rep *SaveReport, drop bool) (*quantizedModel, error) {
	// Nothing below writes into a weight: the balance and the rewrites
	// replace tensors, so m's elements can be shared.
	dep := m.CloneShared()
	g := dep.Graph
	targets, skipped, err := saveTargets(g, layers, cfg, rec)
	if err != nil {
		return nil, err
	}
	rep.Skipped = skipped
	if len(targets) == 0 {
		return nil, fmt.Errorf("save: no layer to quantize")
	}
	if dep.Opset() < 11 {
		return nil, fmt.Errorf("save: the fake-quant model needs opset >= 11 (Round), the model has opset %d", dep.Opset())
	}
	// Quantize every layer's parameters once, on the balanced weights.
	// Folding changes producers, which may be layers too, so it balances
	// all layers before any is quantized; otherwise each layer is
	// balanced just before it is quantized and its float weight dropped
	// right after, so that one layer's balanced weight is float32 at a
	// time (docs/design.md "Loading large models").
	balance := needsBalance(targets, rec)
	perLayer := balance && !opt.Balance.Fold
	if balance && !perLayer {
		bal, err := ApplyBalance(dep, targets, rec, opt.Balance)
		if err != nil {
			return nil, fmt.Errorf("save: apply balance: %w", err)
		}
		rep.Balance = bal
	}
	q := &quantizedModel{model: dep, targets: targets, layers: make([]*quantLayer, len(targets))}
	for i, l := range targets {
		if perLayer {
			bal, err := ApplyBalance(dep, []*Layer{l}, rec, opt.Balance)
			if err != nil {
				return nil, fmt.Errorf("save: apply balance: %w", err)
			}
			if rep.Balance == nil {
				rep.Balance = &BalanceReport{}
			}
			rep.Balance.Layers = append(rep.Balance.Layers, bal.Layers...)
		}
		ql, warn, err := quantizeLayer(g, l, rec[l.Name], opt.BiasShift[l.Name])
		if err != nil {
			return nil, err
		}
		if drop {
			dropFloatWeight(q.model.Graph, l)
		}
		q.layers[i] = ql
		rep.Warnings = append(rep.Warnings, warn...)
		rep.Quantized = append(rep.Quantized, l.Name)
	}
	// The rewrites need the quantized weights (q.layers), not the float
	// ones the balance copied.
	m.PageOutWeights()
	return q, nil
}

// saveTargets returns the layers of g to quantize, bound to g's nodes, and
// the layers cfg leaves float (cfg nil enables all); every layer to
// quantize must have quant factors in rec.
func saveTargets(g *onnx.Graph, layers []*Layer, cfg *Config, rec Record) (targets []*Layer, skipped []Exclusion, err error) {
	for _, l := range layers {
		n := g.Node(l.Name)
		if n == nil || n.OpType != l.Type {
			return nil, nil, fmt.Errorf("layer %q (%s): not in the model", l.Name, l.Type)
		}
		cl := *l
		cl.Node = n
		if cfg != nil {
			lc := cfg.Layers[l.Name]
			if lc == nil {
				skipped = append(skipped, Exclusion{l.Name, l.Type, "not in the quant config"})
				continue
			}
			if !lc.QuantEnable {
				skipped = append(skipped, Exclusion{l.Name, l.Type, "quant_enable false in the quant config"})
				continue
			}
		}
		r := rec[l.Name]
		if r == nil || !r.HasQuant {
			return nil, nil, fmt.Errorf("layer %q (%s): the record has no quant factors for it (run calibration first)", l.Name, l.Type)
		}
		targets = append(targets, &cl)
	}
	return targets, skipped, nil
}

// needsBalance reports whether any target has a balance factor other than 1.
func needsBalance(ls []*Layer, rec Record) bool {
	for _, l := range ls {
		for _, f := range rec[l.Name].BalanceFactor {
			if f != 1 {
				return true
			}
		}
	}
	return false
}

// quantLayer is a layer's quantized parameters.
type quantLayer struct {
	name     string
	typ      string
	spatial  int
	invScale float32 // 1/scale_d, AscendQuant's scale
	offset   int32   // offset_d
	wShape   []int
	wq       []int8
	bq       []int32   // nil without bias; one per output channel
	deq      []float32 // scale_d*scale_w[c], one per scale_w
	shift    []uint32
	// post, one per output channel, is added to a MatMul's dequantized
	// output: its bias correction (nil without).
	post []float32
}

// quantizeLayer computes w_q, b_q and the dequant scales of l from its
// current weights and record r, with shift (nil for none) subtracted from
// the bias per output channel (see SaveOptions.BiasShift).
func quantizeLayer(g *onnx.Graph, l *Layer, r *LayerRecord, shift []float64) (*quantLayer, []string, error) {
	n := l.Node
	where := fmt.Sprintf("layer %q (%s)", l.Name, l.Type)
	if err := r.validate(); err != nil {
		return nil, nil, fmt.Errorf("%s: record: %w", where, err)
	}
	w, ok := g.Constant(n.Input(1))
	if !ok {
		return nil, nil, fmt.Errorf("%s: weight %q is not a constant", where, n.Input(1))
	}
	wd, err := weightFloats(w)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: weight %q: %w", where, n.Input(1), err)
	}
	cout, chanOf, err := outputChannels(l.Type, n, w.Shape)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", where, err)
	}
	ns := len(r.ScaleW)
	if ns != 1 && ns != cout {
		return nil, nil, fmt.Errorf("%s: the record has %d scale_w for %d output channels (want 1 or %d)", where, ns, cout, cout)
	}
	for c, s := range r.ShiftBit {
		if s != 0 {
			return nil, nil, fmt.Errorf("%s: shift_bit[%d] = %d, only 0 is supported", where, c, s)
		}
	}
	scaleIdx := func(c int) int {
		if ns == 1 {
			return 0
		}
		return c
	}
	ql := &quantLayer{
		name:     l.Name,
		typ:      l.Type,
		spatial:  l.Spatial,
		invScale: float32(1 / float64(r.ScaleD)),
		offset:   r.OffsetD,
		wShape:   append([]int(nil), w.Shape...),
		wq:       make([]int8, len(wd)),
		deq:      make([]float32, ns),
		shift:    make([]uint32, ns),
	}
	if math.IsInf(float64(ql.invScale), 0) {
		return nil, nil, fmt.Errorf("%s: scale_d %g is so small that 1/scale_d overflows float32", where, r.ScaleD)
	}
	for c := range ns {
		ql.deq[c] = float32(float64(r.ScaleD) * float64(r.ScaleW[c]))
		if !(ql.deq[c] > 0) || math.IsInf(float64(ql.deq[c]), 0) {
			return nil, nil, fmt.Errorf("%s: scale_d*scale_w[%d] = %g*%g is not a positive float32", where, c, r.ScaleD, r.ScaleW[c])
		}
	}
	absMax := make([]float64, cout)
	beyond := make([]int, cout)
	for i, v := range wd {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, nil, fmt.Errorf("%s: weight %q has the non-finite value %v at element %d", where, n.Input(1), v, i)
		}
		c := chanOf(i)
		s := r.ScaleW[scaleIdx(c)]
		x := math.RoundToEven(float64(v) / float64(s))
		// 128 is AMCT's arithmetic, not an anomaly: a channel whose
		// negative end is the larger gets scale max|w|/128, so its largest
		// positive weight may round to 128 and clip to 127 by one step.
		if x < -128 || x > 128 {
			beyond[c]++
		}
		ql.wq[i] = int8(max(-128, min(127, x)))
		absMax[c] = max(absMax[c], math.Abs(float64(v)))
	}
	warn := weightWarnings(where, absMax, beyond)
	if shift != nil && len(shift) != cout {
		return nil, nil, fmt.Errorf("%s: %d bias corrections for %d output channels", where, len(shift), cout)
	}
	if l.Type == "MatMul" {
		// No bias input: the correction is added after the dequantization.
		if shift != nil {
			ql.post = make([]float32, cout)
			for c, v := range shift {
				ql.post[c] = float32(-v)
			}
		}
		return ql, warn, nil
	}
	var bd []float32
	if b := n.Input(2); b != "" {
		bt, ok := g.Constant(b)
		if !ok {
			return nil, nil, fmt.Errorf("%s: bias %q is not a constant", where, b)
		}
		if bd, err = weightFloats(bt); err != nil {
			return nil, nil, fmt.Errorf("%s: bias %q: %w", where, b, err)
		}
		if len(bd) != cout && len(bd) != 1 {
			return nil, nil, fmt.Errorf("%s: bias %q has %d values for %d output channels", where, b, len(bd), cout)
		}
	} else if shift == nil {
		return ql, warn, nil
	}
	ql.bq = make([]int32, cout)
	for c := range cout {
		var bv float64 // 0 for a layer that gets its bias from the correction
		if len(bd) > 0 {
			bv = float64(bd[min(c, len(bd)-1)])
		}
		if shift != nil {
			bv -= shift[c]
		}
		d := ql.deq[scaleIdx(c)]
		q := math.RoundToEven(bv / float64(d))
		if math.IsNaN(q) || q < math.MinInt32 || q > math.MaxInt32 {
			return nil, nil, fmt.Errorf("%s: output channel %d: bias %g / (scale_d*scale_w = %g) = %g does not fit in int32; the weight scale of this channel is too small for its bias",
				where, c, float32(bv), d, bv/float64(d))
		}
		ql.bq[c] = int32(q)
	}
	return ql, warn, nil
}

// weightWarnings says, once per layer, what is wrong with its weights
// against the record and what to do: all-zero output channels (absMax 0),
// and weights more than one int8 step beyond the range of their scale_w
// (beyond > 0), which means the record was computed for other weights.
func weightWarnings(where string, absMax []float64, beyond []int) []string {
	var zero, far []int
	n := 0
	for c := range absMax {
		if absMax[c] == 0 {
			zero = append(zero, c)
		}
		if beyond[c] > 0 {
			far = append(far, c)
			n += beyond[c]
		}
	}
	var warn []string
	if len(zero) > 0 {
		verb := "has"
		if len(zero) > 1 {
			verb = "have"
		}
		warn = append(warn, fmt.Sprintf("%s: %s %s all-zero weights, so the quantized bias is all they output (fine for pruned channels; otherwise check the model)",
			where, channelList(zero), verb))
	}
	if len(far) > 0 {
		warn = append(warn, fmt.Sprintf("%s: %d weights of %s lie more than one step beyond the int8 range of scale_w and are clipped: the record was not computed for these weights; run calibrate again on this model and config",
			where, n, channelList(far)))
	}
	return warn
}

// channelList names output channels for a message: "output channel 1",
// "output channels 1, 4 and 7", or the first few and a count.
func channelList(cs []int) string {
	if len(cs) == 1 {
		return fmt.Sprintf("output channel %d", cs[0])
	}
	const show = 5
	parts := make([]string, 0, show)
	for _, c := range cs[:min(len(cs), show)] {
		parts = append(parts, strconv.Itoa(c))
	}
	list := strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
	if len(cs) > show {
		list = strings.Join(parts, ", ") + fmt.Sprintf(" and %d more", len(cs)-show)
	}
	return "output channels " + list
}

// rewrite replaces every layer of qls in m by its quantized form: the
// deploy form (Ascend operators, int8/int32 tensors) or the fake-quant form
// (standard ops on integer-valued floats). Layers that read the same tensor
// with the same scale and offset share one quantization.
func rewrite(m *onnx.Model, qls []*quantLayer, deploy bool) error {
	g := m.Graph
	type qkey struct {
		in     string
		inv    float32
		offset int32
	}
	quantized := map[qkey]string{}
	var oldParams []string
	for _, ql := range qls {
		n := g.Node(ql.name)
		if n == nil {
			return fmt.Errorf("layer %q: not in the model", ql.name)
		}
		where := fmt.Sprintf("layer %q", ql.name)
		for _, in := range n.Inputs[1:] {
			if r := constRoot(g, in); r != "" {
				oldParams = append(oldParams, r)
			}
		}
		// Quantize the input, once per (tensor, scale, offset).
		key := qkey{n.Inputs[0], ql.invScale, ql.offset}
		qin, ok := quantized[key]
		if !ok {
			var err error
			qin, err = insertQuant(g, n, ql, deploy)
			if err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			quantized[key] = qin
		}
		g.SetInput(n, 0, qin)

		// Integer weights and bias.
		wName := g.UniqueName(ql.name + ".weight_quant")
		if deploy {
			// The layer's int8 weights themselves, not a copy: nothing
			// writes into them, and a model's worth of them is large.
			g.SetInitializer(&onnx.Tensor{Name: wName, DType: onnx.Int8, Shape: ql.wShape, Data: ql.wq})
		} else {
			// The same int8 values, widened to float as they are written
			// or computed with (int8Weight): no float copy of them all.
			g.SetInitializer(&onnx.Tensor{Name: wName, DType: onnx.Float, Shape: ql.wShape, Data: integerWeight(ql.wq)})
		}
		g.SetInput(n, 1, wName)
		if ql.bq != nil {
			bName := g.UniqueName(ql.name + ".bias_quant")
			if deploy {
				g.SetInitializer(&onnx.Tensor{Name: bName, DType: onnx.Int32, Shape: []int{len(ql.bq)}, Data: slices.Clone(ql.bq)})
			} else {
				g.SetInitializer(&onnx.Tensor{Name: bName, DType: onnx.Float, Shape: []int{len(ql.bq)}, Data: onnx.ConvertSlice[float32](ql.bq)})
			}
			if len(n.Inputs) < 3 && n.OpType == "Gemm" {
				// A bias added by bias correction; Gemm scales it by beta.
				n.SetAttr("beta", float32(1))
			}
			g.SetInput(n, 2, bName)
		}

		// Dequantize the accumulator into the original output tensor.
		out := n.Outputs[0]
		acc := g.UniqueName(ql.name + ".acc")
		var deq *onnx.Node
		if deploy {
			param := g.UniqueName(ql.name + ".dequant.param")
			p := make([]uint64, len(ql.deq))
			for c, d := range ql.deq {
				// Bits 0-31 the float32 scale, 32-39 shift_n, 40-47 offset_w (0).
				p[c] = uint64(math.Float32bits(d)) | uint64(ql.shift[c]&0xff)<<32
			}
			g.SetInitializer(&onnx.Tensor{Name: param, DType: onnx.Uint64, Shape: []int{len(p)}, Data: p})
			deq = &onnx.Node{Name: g.UniqueName(ql.name + ".dequant"), OpType: "AscendDequant", Inputs: []string{acc, param}, Outputs: []string{out}}
			deq.SetAttr("dtype", int64(0))
			deq.SetAttr("sqrt_mode", int64(0))
			deq.SetAttr("relu_flag", int64(0))
		} else {
			shape := []int{len(ql.deq)}
			if len(ql.deq) > 1 && (ql.typ == "Conv" || ql.typ == "ConvTranspose") {
				// The channel axis of a convolution output is 1.
				shape = make([]int, 2+ql.spatial)
				for i := range shape {
					shape[i] = 1
				}
				shape[1] = len(ql.deq)
			}
			scale := g.UniqueName(ql.name + ".dequant.scale")
			g.SetInitializer(&onnx.Tensor{Name: scale, DType: onnx.Float, Shape: shape, Data: slices.Clone(ql.deq)})
			deq = &onnx.Node{Name: g.UniqueName(ql.name + ".dequant"), OpType: "Mul", Inputs: []string{acc, scale}, Outputs: []string{out}}
		}
		// The output changes hands after the names are chosen, so that
		// none of them can be the old output's.
		g.SetOutput(n, 0, acc)
		pos := slices.Index(g.Nodes, n) + 1
		g.InsertNode(pos, deq)
		if ql.post != nil {
			// A MatMul's bias correction, in float after the dequantization.
			deqOut := g.UniqueName(ql.name + ".dequant.out")
			c := g.UniqueName(ql.name + ".bias_correction")
			g.SetInitializer(&onnx.Tensor{Name: c, DType: onnx.Float, Shape: []int{len(ql.post)}, Data: slices.Clone(ql.post)})
			add := &onnx.Node{Name: g.UniqueName(ql.name + ".bias_correction.add"), OpType: "Add",
				Inputs: []string{deqOut, c}, Outputs: []string{out}}
			g.SetOutput(deq, 0, deqOut)
			g.InsertNode(pos+1, add)
		}
	}
	removeDeadConstants(g, oldParams)
	if err := g.TopoSort(); err != nil {
		return err
	}
	return nil
}

// insertQuant inserts, before layer node n, the quantization of its input
// and returns the name of the quantized tensor: AscendQuant's int8 output in
// the deploy model, the float (q - offset) in the fake-quant model.
func insertQuant(g *onnx.Graph, n *onnx.Node, ql *quantLayer, deploy bool) (string, error) {
	in := n.Inputs[0]
	pos := slices.Index(g.Nodes, n)
	if deploy {
		out := g.UniqueName(ql.name + ".quant.out")
		q := &onnx.Node{Name: g.UniqueName(ql.name + ".quant"), OpType: "AscendQuant", Inputs: []string{in}, Outputs: []string{out}}
		q.SetAttr("scale", ql.invScale)
		q.SetAttr("offset", float32(ql.offset))
		q.SetAttr("sqrt_mode", int64(0))
		q.SetAttr("round_mode", "Round")
		q.SetAttr("dst_type", "INT8")
		g.InsertNode(pos, q)
		return out, nil
	}
	scalar := func(suffix string, v float32) string {
		name := g.UniqueName(ql.name + suffix)
		g.SetInitializer(&onnx.Tensor{Name: name, DType: onnx.Float, Shape: []int{}, Data: []float32{v}})
		return name
	}
	inv := scalar(".quant.scale", ql.invScale)
	off := scalar(".quant.offset", float32(ql.offset))
	lo := scalar(".quant.min", -128)
	hi := scalar(".quant.max", 127)
	steps := []struct {
		op  string
		arg []string
	}{
		{"Mul", []string{inv}},
		{"Add", []string{off}},
		{"Round", nil},
		{"Clip", []string{lo, hi}},
		{"Sub", []string{off}},
	}
	x := in
	for i, s := range steps {
		name := g.UniqueName(fmt.Sprintf("%s.quant.%s", ql.name, s.op))
		out := g.UniqueName(name + ".out")
		node := &onnx.Node{Name: name, OpType: s.op, Inputs: append([]string{x}, s.arg...), Outputs: []string{out}}
		g.InsertNode(pos+i, node)
		x = out
	}
	return x, nil
}
