package quant

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"amq/backend"
	"amq/onnx"
)

// DMQOptions tunes Preprocess.
type DMQOptions struct {
	// Joint gives all DMQ layers that read the same tensor one factor per
	// channel, computed from the maximum over their weights' channel
	// maxima, so that ApplyBalance can fold it into the tensor's producer.
	// The layers must share the migration strength (or the
	// amq_alpha_search settings). By default each layer has its own
	// factors, as in AMCT, so records stay comparable.
	Joint bool
}

// Preprocess computes DMQ balance factors with per-layer factors; see
// PreprocessWith.
func Preprocess(m *onnx.Model, layers []*Layer, cfg *Config, b backend.Backend, data DataSource) (Record, error) {
	return PreprocessWith(m, layers, cfg, b, data, DMQOptions{})
}

// PreprocessWith computes the DMQ balance factors of every enabled layer
// whose config has a dmq_balancer, and returns them as a record with only
// BalanceFactor set.
//
// It runs every batch of data through b, keeping a running per-channel
// max|X_j| of each such layer's activation input (AMCT keeps only the last
// batch's), takes max|W_j| per input channel from the weight, and sets
// s_j = max|X_j|^a / max|W_j|^(1-a) (see BalanceFactors). m is not changed.
//
// For the layers whose config has an amq_alpha_search instead, the α
// search chooses a (or no balance) per layer from the same pass (see
// AlphaSearch): the record has an entry for each such layer, without
// factors where no balance won.
func PreprocessWith(m *onnx.Model, layers []*Layer, cfg *Config, b backend.Backend, data DataSource, opt DMQOptions) (Record, error) {
	r, err := preprocess(m, layers, cfg, b, data, opt)
	if err != nil {
		return nil, err
	}
	return r.rec, nil
}

// PreprocessChoices is PreprocessWith that also returns what the α search
// chose, by layer name, for every layer it searched.
func PreprocessChoices(m *onnx.Model, layers []*Layer, cfg *Config, b backend.Backend, data DataSource, opt DMQOptions) (Record, map[string]*AlphaChoice, error) {
	r, err := preprocess(m, layers, cfg, b, data, opt)
	if err != nil {
		return nil, nil, err
	}
	return r.rec, r.choices, nil
}

// BalanceStats is what the balance of one layer saw and decided: the
// per-channel maxima its factors come from, for reports. Layers that read
// the same tensor share the XMax slice; treat every slice as read-only.
type BalanceStats struct {
	Tensor string  // the activation tensor observed
	Alpha  float64 // migration strength (the one chosen, for a searched layer)
	// XMax is max|X_j| per activation channel over every preprocess batch.
	XMax []float64
	// WMax is max|W_j| per input channel of the layer's own weight, before
	// the balance (with Joint, the factors come from the maximum over the
	// readers of the tensor, but WMax stays the layer's).
	WMax []float64
	// Factors are the s_j of the record.
	Factors []float32
}

// BalancedXMax returns max|X_j| / s_j, the activation's channel maxima
// after the balance.
func (s *BalanceStats) BalancedXMax() []float64 {
	out := make([]float64, len(s.XMax))
	for j, v := range s.XMax {
		out[j] = v / float64(s.Factors[j])
	}
	return out
}

// BalancedWMax returns max|W_j| · s_j, the weight's input-channel maxima
// after the balance.
func (s *BalanceStats) BalancedWMax() []float64 {
	out := make([]float64, len(s.WMax))
	for j, v := range s.WMax {
		out[j] = v * float64(s.Factors[j])
	}
	return out
}

// balanceResult is what the balance step found: the record with the
// factors and, by layer name, the statistics behind them and the α
// search's choices.
type balanceResult struct {
	rec     Record
	stats   map[string]*BalanceStats
	choices map[string]*AlphaChoice
}

// preprocess is PreprocessWith with everything it found.
func preprocess(m *onnx.Model, layers []*Layer, cfg *Config, b backend.Backend, data DataSource, opt DMQOptions) (*balanceResult, error) {
	p, err := newBalancePlan(m, layers, cfg, opt)
	if err != nil {
		return nil, err
	}
	if err := p.observe(b, data); err != nil {
		return nil, err
	}
	if err := p.search(b, data); err != nil {
		return nil, err
	}
	return p.result(), nil
}

// balancePlan is the balance step under way: the layers with a fixed
// migration strength (items) and the α search's units, and once observed
// the activations' channel maxima and the search's reservoirs of rows.
type balancePlan struct {
	model *onnx.Model
	joint bool
	items []*balanceItem
	units []*searchUnit
	obs   map[obsKey]*ChannelMax
	res   map[obsKey]*reservoir
	// first is the float outputs of batch 0, for the α search's output
	// check (keepFirstOutputs).
	first map[string]*onnx.Tensor
}

// newBalancePlan checks the balance settings of every enabled layer of cfg
// against m, before any batch runs.
func newBalancePlan(m *onnx.Model, layers []*Layer, cfg *Config, opt DMQOptions) (*balancePlan, error) {
	if cfg == nil {
		return nil, fmt.Errorf("preprocess: no quant config")
	}
	items, err := balanceItems(m.Graph, layers, cfg)
	if err != nil {
		return nil, err
	}
	units, err := searchUnits(m.Graph, layers, cfg, opt.Joint)
	if err != nil {
		return nil, err
	}
	if opt.Joint {
		for _, u := range units {
			for _, it := range items {
				if it.key == u.key {
					return nil, fmt.Errorf("layers %q (dmq_balancer_param) and %q (%s) read tensor %q; joint factors need one setting", it.layer.Name, u.layers[0].layer.Name, alphaSearchKey, u.key.tensor)
				}
			}
		}
	}
	return &balancePlan{model: m, joint: opt.Joint, items: items, units: units}, nil
}

// observe runs every batch of data through b, keeping a running
// per-channel max|X_j| of every balanced layer's activation and, for the α
// search, a reservoir of its rows, and computes the fixed-strength layers'
// factors.
func (p *balancePlan) observe(b backend.Backend, data DataSource) error {
	if err := p.observeBatches(b, data); err != nil {
		return err
	}
	return p.fixedFactors()
}

// observeBatches is observe without the factors: the maxima (and
// reservoirs) of every batch of data. A shard stops there (see
// PreprocessShard).
func (p *balancePlan) observeBatches(b backend.Backend, data DataSource) error {
	if len(p.items) == 0 && len(p.units) == 0 {
		return nil
	}
	if data == nil || data.Len() == 0 {
		return fmt.Errorf("preprocess: no calibration batches")
	}
	p.obs = map[obsKey]*ChannelMax{}
	var observe []string
	keys := make([]obsKey, 0, len(p.items)+len(p.units))
	for _, it := range p.items {
		keys = append(keys, it.key)
	}
	for _, u := range p.units {
		keys = append(keys, u.key)
	}
	for _, k := range keys {
		if p.obs[k] == nil {
			p.obs[k] = &ChannelMax{Axis: k.axis}
			observe = append(observe, k.tensor)
		}
	}
	observe = dedupe(observe)
	p.res = map[obsKey]*reservoir{}
	for _, u := range p.units {
		p.res[u.key] = nil
	}
	for k := range p.res {
		p.res[k] = newReservoir(k.tensor, k.axis == 1, len(p.res))
	}
	var outs []string
	if len(p.units) > 0 {
		outs = floatOutputs(p.model)
	}
	first := newFirstOutputs(outs)
	byTensor := map[string][]obsKey{}
	for k := range p.obs {
		byTensor[k.tensor] = append(byTensor[k.tensor], k)
	}
	err := runBatches(b, p.model, append(observe, outs...), data, data.Len(), func(i int, name string, t *onnx.Tensor) error {
		first.observe(i, name, t)
		for _, k := range byTensor[name] {
			if err := p.obs[k].Observe(t); err != nil {
				return err
			}
			if r := p.res[k]; r != nil {
				if err := r.Observe(t); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("preprocess: %w", err)
	}
	p.first = first.result()
	return nil
}

// fixedFactors computes the factors of the layers with a fixed migration
// strength from the observed maxima.
func (p *balancePlan) fixedFactors() error {
	for _, it := range p.items {
		if got := len(p.obs[it.key].Max); got != len(it.wmax) {
			return fmt.Errorf("layer %q: activation %q has %d channels, the weight has %d input channels", it.layer.Name, it.key.tensor, got, len(it.wmax))
		}
	}
	if p.joint {
		return jointFactors(p.items, p.obs)
	}
	for _, it := range p.items {
		it.factors = BalanceFactors(p.obs[it.key].Max, it.wmax, it.alpha)
	}
	return nil
}

// search runs the α search for the plan's units (see searchAlpha), lets
// go of the reservoirs, and checks the choices at the model's outputs on
// the first batches of data (see OutputCheck).
func (p *balancePlan) search(b backend.Backend, data DataSource) error {
	if len(p.units) == 0 {
		return nil
	}
	err := searchAlpha(p.model, p.units, p.obs, p.res, b)
	p.res = nil
	if err != nil {
		return err
	}
	first := p.first
	p.first = nil
	return checkOutputs(p.model, p.units, b, data, first)
}

// result is the record, statistics and choices of the plan.
func (p *balancePlan) result() *balanceResult {
	r := &balanceResult{rec: Record{}, stats: map[string]*BalanceStats{}, choices: map[string]*AlphaChoice{}}
	for _, it := range p.items {
		r.rec[it.layer.Name] = &LayerRecord{BalanceFactor: it.factors}
		r.stats[it.layer.Name] = &BalanceStats{Tensor: it.key.tensor, Alpha: it.alpha,
			XMax: p.obs[it.key].Max, WMax: it.wmax, Factors: slices.Clone(it.factors)}
	}
	for _, u := range p.units {
		c := u.chosen()
		for _, sl := range u.layers {
			name := sl.layer.Name
			r.choices[name] = u.choice
			// An entry without factors records that the search ran and
			// chose no balance (calibration checks for the entry).
			r.rec[name] = &LayerRecord{BalanceFactor: slices.Clone(c.factors)}
			if !c.none {
				r.stats[name] = &BalanceStats{Tensor: u.key.tensor, Alpha: c.alpha,
					XMax: p.obs[u.key].Max, WMax: sl.wmax, Factors: slices.Clone(c.factors)}
			}
		}
	}
	return r
}

// balanceItem is one layer to balance: its weight's input-channel maxima,
// the activation it observes and, once computed, its factors.
type balanceItem struct {
	layer   *Layer
	alpha   float64
	key     obsKey
	wmax    []float64
	factors []float32
}

// balanceItems returns the enabled layers of cfg that have a dmq_balancer,
// with their migration strength checked and their weight maxima taken.
func balanceItems(g *onnx.Graph, layers []*Layer, cfg *Config) ([]*balanceItem, error) {
	var items []*balanceItem
	for _, l := range layers {
		lc := cfg.Layers[l.Name]
		if lc == nil || !lc.QuantEnable || lc.DMQ == nil {
			continue
		}
		a := lc.DMQ.MigrationStrength
		if !(a >= 0.2 && a <= 0.8) {
			return nil, fmt.Errorf("layer %q: dmq migration_strength %v is outside [0.2, 0.8]", l.Name, a)
		}
		n, _, wmax, err := layerWeightMax(g, l)
		if err != nil {
			return nil, err
		}
		k := obsKey{tensor: n.Inputs[0], axis: channelAxis(l.Type)}
		items = append(items, &balanceItem{layer: l, alpha: a, key: k, wmax: wmax})
	}
	return items, nil
}

// layerWeightMax returns l's node in g, its weight and max|W_j| per input
// channel of the weight, what a balance factor needs of the weight.
func layerWeightMax(g *onnx.Graph, l *Layer) (*onnx.Node, *onnx.Tensor, []float64, error) {
	n, w, err := layerWeight(g, l)
	if err != nil {
		return nil, nil, nil, err
	}
	wmax, err := weightInputMax(l.Type, n, w)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("layer %q: %w", l.Name, err)
	}
	return n, w, wmax, nil
}

// jointFactors gives all items that read one tensor the same factors,
// computed from the channel-wise maximum over their weights' maxima.
func jointFactors(items []*balanceItem, obs map[obsKey]*ChannelMax) error {
	groups := map[obsKey][]*balanceItem{}
	for _, it := range items {
		groups[it.key] = append(groups[it.key], it)
	}
	for k, grp := range groups {
		joint := make([]float64, len(grp[0].wmax))
		for _, it := range grp {
			if it.alpha != grp[0].alpha {
				return fmt.Errorf("layers %q and %q read tensor %q with migration strengths %v and %v; a joint factor needs one", grp[0].layer.Name, it.layer.Name, k.tensor, grp[0].alpha, it.alpha)
			}
			for j, v := range it.wmax {
				joint[j] = max(joint[j], v)
			}
		}
		s := BalanceFactors(obs[k].Max, joint, grp[0].alpha)
		for _, it := range grp {
			it.factors = slices.Clone(s)
		}
	}
	return nil
}

// obsKey identifies a per-channel observation: a tensor and its channel axis.
type obsKey struct {
	tensor string
	axis   int
}

// channelAxis is the channel axis of a layer's activation input and of its
// output: 1 for convolutions (N, C, ...), the last axis (-1) for
// Gemm/MatMul.
func channelAxis(op string) int {
	if op == "Conv" || op == "ConvTranspose" {
		return 1
	}
	return -1
}

// BalanceFactors returns the DMQ factors s_j = xmax_j^a / wmax_j^(1-a) for
// the per-channel maxima of |X| and |W| and migration strength a, in float64
// then rounded to float32.
//
// Edge cases, as AMCT: a channel with zero weight gets
// s_j = xmax_j / max_k(xmax_k/s_k), so its balanced activation is no larger
// than the others'; a channel with zero activation gets
// s_j = max_k(wmax_k*s_k) / wmax_j, so its balanced weight is no larger than
// the others' (k over channels where both are non-zero); a channel where both
// are zero, or where no regular channel exists to compare with, gets 1.
// Every factor is clamped to [FLT_EPSILON, 1/FLT_EPSILON].
func BalanceFactors(xmax, wmax []float64, alpha float64) []float32 {
	n := len(xmax)
	s := make([]float64, n)
	clamp := func(v float64) float64 {
		if math.IsNaN(v) {
			return 1
		}
		return max(FltEpsilon, min(1/FltEpsilon, v))
	}
	var xRef, wRef float64 // max_k xmax_k/s_k, max_k wmax_k*s_k
	regular := false
	for j := range n {
		if xmax[j] > 0 && wmax[j] > 0 {
			s[j] = clamp(math.Pow(xmax[j], alpha) / math.Pow(wmax[j], 1-alpha))
			xRef = max(xRef, xmax[j]/s[j])
			wRef = max(wRef, wmax[j]*s[j])
			regular = true
		}
	}
	out := make([]float32, n)
	for j := range n {
		switch {
		case xmax[j] > 0 && wmax[j] > 0:
		case !regular || (xmax[j] == 0 && wmax[j] == 0):
			s[j] = 1
		case wmax[j] == 0:
			s[j] = clamp(xmax[j] / xRef)
		default:
			s[j] = clamp(wRef / wmax[j])
		}
		out[j] = float32(s[j])
		// Rounding to float32 must not leave the allowed interval.
		out[j] = max(float32(FltEpsilon), min(float32(1/FltEpsilon), out[j]))
	}
	return out
}

// layerWeight returns a layer's node in g (looked up by name, so that it
// works on clones) and its constant weight.
func layerWeight(g *onnx.Graph, l *Layer) (*onnx.Node, *onnx.Tensor, error) {
	n := g.Node(l.Name)
	if n == nil {
		return nil, nil, fmt.Errorf("layer %q: no such node in the model", l.Name)
	}
	if n.OpType != l.Type {
		return nil, nil, fmt.Errorf("layer %q: node is a %s, the layer list says %s", l.Name, n.OpType, l.Type)
	}
	if len(n.Inputs) < 2 || n.Inputs[0] == "" {
		return nil, nil, fmt.Errorf("layer %q: missing activation or weight input", l.Name)
	}
	if n.OpType == "Gemm" && n.AttrInt("transA", 0) != 0 {
		return nil, nil, fmt.Errorf("layer %q: Gemm with transA=1 is not quantizable", l.Name)
	}
	w, ok := g.Constant(n.Inputs[1])
	if !ok {
		return nil, nil, fmt.Errorf("layer %q: weight %q is not a constant", l.Name, n.Inputs[1])
	}
	if w.DType != onnx.Float {
		return nil, nil, fmt.Errorf("layer %q: weight %q is %v, want FLOAT", l.Name, n.Inputs[1], w.DType)
	}
	return n, w, nil
}

// inputChannels returns the number of input channels of a layer's weight
// and a function mapping a flat weight index to its input channel (the
// activation channel it multiplies).
//
// Conv W[O, I/g, k...]: channel j of group gi = j / (I/g) is
// W[gi*O/g:(gi+1)*O/g, j - gi*I/g]. ConvTranspose W[I, O/g, k...]: axis 0.
// Gemm B: axis 0, or axis 1 when transB=1. MatMul B[K, N]: axis 0.
func inputChannels(op string, n *onnx.Node, shape []int) (int, func(int) int, error) {
	switch op {
	case "Conv":
		if len(shape) < 3 {
			return 0, nil, fmt.Errorf("conv weight of shape %v: want rank >= 3", shape)
		}
		g := int(n.AttrInt("group", 1))
		if g < 1 || shape[0]%g != 0 {
			return 0, nil, fmt.Errorf("conv group %d does not divide %d output channels", g, shape[0])
		}
		perOut := shape[0] / g // output channels per group
		perIn := shape[1]      // input channels per group
		k := onnx.NumElems(shape[2:])
		return g * perIn, func(i int) int {
			o := i / (perIn * k)
			jl := (i / k) % perIn
			return (o/perOut)*perIn + jl
		}, nil
	case "ConvTranspose":
		if len(shape) < 3 {
			return 0, nil, fmt.Errorf("convtranspose weight of shape %v: want rank >= 3", shape)
		}
		inner := onnx.NumElems(shape[1:])
		return shape[0], func(i int) int { return i / inner }, nil
	case "Gemm", "MatMul":
		if len(shape) != 2 {
			return 0, nil, fmt.Errorf("%s weight of shape %v: want rank 2", op, shape)
		}
		cols := shape[1]
		if op == "Gemm" && n.AttrInt("transB", 0) != 0 {
			return cols, func(i int) int { return i % cols }, nil
		}
		return shape[0], func(i int) int { return i / cols }, nil
	}
	return 0, nil, fmt.Errorf("layer type %s is not quantizable", op)
}

// weightInputMax returns max|W_j| per input channel j.
func weightInputMax(op string, n *onnx.Node, w *onnx.Tensor) ([]float64, error) {
	data, err := weightFloats(w)
	if err != nil {
		return nil, err
	}
	count, chanOf, err := inputChannels(op, n, w.Shape)
	if err != nil {
		return nil, err
	}
	m := make([]float64, count)
	for i, v := range data {
		a := math.Abs(float64(v))
		if math.IsNaN(a) || math.IsInf(a, 0) {
			return nil, fmt.Errorf("weight %q: non-finite value %v at element %d", w.Name, v, i)
		}
		j := chanOf(i)
		m[j] = max(m[j], a)
	}
	return m, nil
}

// dedupe returns names sorted without duplicates, for a stable observe list.
func dedupe(names []string) []string {
	sort.Strings(names)
	out := names[:0]
	for i, s := range names {
		if i == 0 || s != names[i-1] {
			out = append(out, s)
		}
	}
	return out
}
