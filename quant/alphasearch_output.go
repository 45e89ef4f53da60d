package quant

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"amq/backend"
	"amq/onnx"
)

// Bounds of the output check's held-in subset: the first calibration
// batches while they hold at most outputCheckSamples samples, but one
// batch at least. Their float outputs are kept for every plan when they
// take at most outputCheckBytes, else computed again for each.
const (
	outputCheckSamples = 128
	outputCheckBytes   = 64 << 20
)

// amctAlpha is AMCT's default migration strength, that of the uniform plan
// the output check compares with.
const amctAlpha = 0.5

// OutputCheck is the α search's check at the model's outputs. The search
// judges each layer by its own output on float inputs, which cannot see
// what the layers after it make of its error; so the layer-local choices
// ("per layer") and AMCT's two modes as the search would quantize them
// (α 0.5 on every layer, no balance anywhere) are each quantized into a
// model with the factors the search derived, and run on the first
// calibration batches next to the float model; the plan whose graph
// outputs are closest to the float ones is kept. When a uniform plan wins,
// each unit in graph order whose layer-local choice differs from it (by
// more than a tie at the layer) gets that choice where it lowers the
// output error further (docs/design.md "Per-layer α search").
type OutputCheck struct {
	// Samples is the number of calibration samples the plans ran on.
	Samples int
	// Plans are the plans compared, in order, with their output error.
	Plans []PlanError
	// Chosen is the name of the plan kept.
	Chosen string
	// Adopted are the layers (the first of each unit) whose layer-local
	// choice replaced the winning uniform plan's.
	Adopted []string
	// Error is the output error of the plan kept, with Adopted.
	Error float64
}

// String is the check as amq prints it: the samples, every plan's error
// and the plan kept.
func (c *OutputCheck) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "α search output check on %d calibration samples:", c.Samples)
	for i, p := range c.Plans {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, " %s %.3g", p.Name, p.Error)
	}
	fmt.Fprintf(&b, "; kept %s", c.Chosen)
	if len(c.Adopted) > 0 {
		fmt.Fprintf(&b, " with the per-layer choice of %s (%.3g)", strings.Join(c.Adopted, ", "), c.Error)
	}
	return b.String()
}

// PlanError is one plan of the output check and its error: the sum over
// the model's float graph outputs of Σ(float − quantized)² / Σ float².
type PlanError struct {
	Name  string
	Error float64
}

// Names of the output check's plans.
const (
	planPerLayer = "per layer"
	planUniform  = "α 0.5 everywhere"
	planNone     = "no balance"
)

// plan is a candidate per unit.
type plan []*searchCandidate

// checkOutputs runs the output check of the units' choices on the first
// batches of data and sets every unit's choice to the winning plan's. A
// model without float graph outputs keeps the layer-local choices.
//
// first, when not nil, is the float model's outputs on batch 0, kept from
// the preprocess pass so that the float model need not run on it again.
func checkOutputs(m *onnx.Model, units []*searchUnit, b backend.Backend, data DataSource, first map[string]*onnx.Tensor) error {
	outs := floatOutputs(m)
	if len(outs) == 0 || len(units) == 0 {
		return nil
	}
	type named struct {
		name string
		p    plan
	}
	plans := []named{{planPerLayer, perLayerPlan(units)}}
	if p := uniformPlan(units, func(c *searchCandidate) bool { return !c.none && c.alpha == amctAlpha }); p != nil {
		plans = append(plans, named{planUniform, p})
	}
	if p := uniformPlan(units, func(c *searchCandidate) bool { return c.none }); p != nil {
		plans = append(plans, named{planNone, p})
	}
	sub, err := newCheckSubset(m, outs, b, data, first)
	if err != nil {
		return fmt.Errorf("α search: output check: %w", err)
	}
	rep := &OutputCheck{Samples: sub.samples}
	least := math.Inf(1)
	for _, pl := range plans {
		e, err := sub.planError(units, pl.p)
		if err != nil {
			return fmt.Errorf("α search: output check, plan %q: %w", pl.name, err)
		}
		rep.Plans = append(rep.Plans, PlanError{pl.name, e})
		least = min(least, e)
	}
	// As for a layer's candidates: the first plan within alphaTie of the
	// least error wins, the layer-local choices first.
	best := slices.IndexFunc(rep.Plans, func(p PlanError) bool { return p.Error <= least*(1+alphaTie) })
	rep.Chosen, rep.Error = plans[best].name, rep.Plans[best].Error
	final := plans[best].p
	if best > 0 {
		if final, err = adoptLocal(sub, units, final, plans[0].p, rep); err != nil {
			return fmt.Errorf("α search: output check: %w", err)
		}
	}
	for ui, u := range units {
		c := final[ui]
		u.choice.None, u.choice.Alpha, u.choice.Output = c.none, c.alpha, rep
	}
	return nil
}

// adoptLocal starts from the uniform plan p that beat the layer-local
// choices local and, unit by unit in graph order, gives a unit its local
// choice where that lowers the output error below rep.Error by more than
// a tie; units whose two candidates tie at the layer itself are left
// alone. It returns the plan and notes the adopted units in rep.
func adoptLocal(sub *checkSubset, units []*searchUnit, p, local plan, rep *OutputCheck) (plan, error) {
	p = slices.Clone(p)
	for ui, u := range units {
		c := local[ui]
		if c == p[ui] || c.layerError() >= p[ui].layerError()*(1-alphaTie) {
			continue
		}
		try := slices.Clone(p)
		try[ui] = c
		e, err := sub.planError(units, try)
		if err != nil {
			return nil, fmt.Errorf("%s with α %s: %w", u.name(), c, err)
		}
		if e < rep.Error*(1-alphaTie) {
			p, rep.Error = try, e
			rep.Adopted = append(rep.Adopted, u.layers[0].layer.Name)
		}
	}
	return p, nil
}

// perLayerPlan is the plan of the layer-local choices.
func perLayerPlan(units []*searchUnit) plan {
	p := make(plan, len(units))
	for ui, u := range units {
		p[ui] = u.chosen()
	}
	return p
}

// uniformPlan is the plan giving every unit the candidate match picks, or
// nil when some unit has none that matches or could not be quantized
// with it.
func uniformPlan(units []*searchUnit, match func(*searchCandidate) bool) plan {
	p := make(plan, len(units))
	for ui, u := range units {
		i := slices.IndexFunc(u.cands, match)
		if i < 0 || u.cands[i].err != nil {
			return nil
		}
		p[ui] = u.cands[i]
	}
	return p
}

// checkSubset is the output check's held-in subset: the first batches of
// data, the float model's outputs on them (refs, unless they were too big
// to keep) and the sum of their squares per output.
type checkSubset struct {
	m       *onnx.Model
	b       backend.Backend
	data    DataSource
	outs    []string // the float graph outputs compared
	batches int
	samples int
	refs    []map[string]*onnx.Tensor // by batch; nil when not kept
	signal  []float64                 // Σ float² per output
	// units caches each candidate's quantized layers (unitNodes).
	units map[*searchCandidate]*onnx.Graph
}

// floatOutputs are the names of m's float graph outputs, which the output
// check compares.
func floatOutputs(m *onnx.Model) []string {
	var outs []string
	for _, o := range m.Graph.Outputs {
		if o.DType == onnx.Float {
			outs = append(outs, o.Name)
		}
	}
	return outs
}

// firstOutputs keeps copies of the float outputs outs of batch 0's run as
// the observed tensors stream by, for checkOutputs.
type firstOutputs struct {
	outs  []string
	keep  map[string]*onnx.Tensor
	bytes int
}

func newFirstOutputs(outs []string) *firstOutputs {
	return &firstOutputs{outs: outs, keep: map[string]*onnx.Tensor{}}
}

// observe is a tensorSink: it copies batch 0's outputs while they stay
// within outputCheckBytes (t may be valid only during the call).
func (f *firstOutputs) observe(i int, name string, t *onnx.Tensor) {
	if i != 0 || f.keep == nil || !slices.Contains(f.outs, name) {
		return
	}
	if f.bytes += 4 * t.Len(); f.bytes > outputCheckBytes {
		f.keep = nil
		return
	}
	f.keep[name] = t.Clone()
}

// result is the outputs kept, or nil when one is missing or they took
// more than outputCheckBytes (they are then computed again).
func (f *firstOutputs) result() map[string]*onnx.Tensor {
	if f.keep == nil || len(f.keep) < len(f.outs) || len(f.outs) == 0 {
		return nil
	}
	return f.keep
}

// newCheckSubset runs the float model m through b on the first batches of
// data, up to outputCheckSamples samples (one batch at least), but for
// batch 0 when first holds its outputs, and keeps its outputs outs within
// outputCheckBytes.
func newCheckSubset(m *onnx.Model, outs []string, b backend.Backend, data DataSource, first map[string]*onnx.Tensor) (s *checkSubset, err error) {
	s = &checkSubset{m: m, b: b, data: data, outs: outs, signal: make([]float64, len(outs)), units: map[*searchCandidate]*onnx.Graph{}}
	var ref backend.Runner // prepared when needed
	defer func() {
		if ref != nil {
			closeRunner(ref, &err)
		}
	}()
	bytes, drop := 0, false
	for i := 0; i < data.Len(); i++ {
		in, err := data.Batch(i)
		if err != nil {
			return nil, fmt.Errorf("batch %d: %w", i, err)
		}
		n := samplesIn(in)
		if i > 0 && s.samples+n > outputCheckSamples {
			break
		}
		out := first
		if i > 0 || first == nil {
			if ref == nil {
				if ref, err = b.Prepare(m, nil); err != nil {
					return nil, fmt.Errorf("prepare the float model: %w", err)
				}
			}
			if out, err = ref.Run(in); err != nil {
				return nil, fmt.Errorf("batch %d: %w", i, err)
			}
		}
		keep := map[string]*onnx.Tensor{}
		for k, name := range outs {
			x := out[name]
			if x == nil {
				return nil, fmt.Errorf("batch %d: backend returned no tensor %q", i, name)
			}
			sig, _, err := sqnrSums(x, x)
			if err != nil {
				return nil, fmt.Errorf("batch %d: output %q: %w", i, name, err)
			}
			s.signal[k] += sig
			keep[name] = x
			bytes += 4 * x.Len()
		}
		if drop = drop || bytes > outputCheckBytes; drop {
			s.refs = nil
		} else {
			s.refs = append(s.refs, keep)
		}
		s.batches, s.samples = i+1, s.samples+n
	}
	return s, nil
}

// planError runs p's quantized model (planModel) through the backend on the
// subset and returns the error of its outputs (see PlanError).
func (s *checkSubset) planError(units []*searchUnit, p plan) (e float64, err error) {
	qm, err := s.planModel(units, p)
	if err != nil {
		return 0, err
	}
	q, err := s.b.Prepare(qm, nil)
	if err != nil {
		return 0, fmt.Errorf("prepare the quantized model: %w", err)
	}
	defer closeRunner(q, &err)
	var ref backend.Runner
	if s.refs == nil {
		if ref, err = s.b.Prepare(s.m, nil); err != nil {
			return 0, fmt.Errorf("prepare the float model: %w", err)
		}
		defer closeRunner(ref, &err)
	}
	noise := make([]float64, len(s.outs))
	for i := range s.batches {
		in, err := s.data.Batch(i)
		if err != nil {
			return 0, fmt.Errorf("batch %d: %w", i, err)
		}
		got, err := q.Run(in)
		if err != nil {
			return 0, fmt.Errorf("batch %d: %w", i, err)
		}
		var want map[string]*onnx.Tensor
		if s.refs != nil {
			want = s.refs[i]
		} else if want, err = ref.Run(in); err != nil {
			return 0, fmt.Errorf("batch %d: %w", i, err)
		}
		for k, name := range s.outs {
			x, y := want[name], got[name]
			if x == nil || y == nil {
				return 0, fmt.Errorf("batch %d: backend returned no tensor %q", i, name)
			}
			_, d, err := sqnrSums(x, y)
			if err != nil {
				return 0, fmt.Errorf("batch %d: output %q: %w", i, name, err)
			}
			noise[k] += d
		}
	}
	for k := range s.outs {
		if s.signal[k] > 0 {
			e += noise[k] / s.signal[k]
		}
	}
	return e, nil
}

// planModel is the fake-quant model of p: m with every unit's layers
// replaced by their quantized form under the unit's candidate
// (unitNodes). Layers outside the units stay float: they are the same in
// every plan.
func (s *checkSubset) planModel(units []*searchUnit, p plan) (*onnx.Model, error) {
	qm := s.m.Clone()
	g := qm.Graph
	replaced := map[string]bool{}
	for _, u := range units {
		for _, sl := range u.layers {
			replaced[sl.layer.Name] = true
		}
	}
	nodes := slices.DeleteFunc(g.Nodes, func(n *onnx.Node) bool { return replaced[n.Name] })
	for ui, u := range units {
		ug, err := s.unitNodes(u, p[ui])
		if err != nil {
			return nil, err
		}
		for _, n := range ug.Nodes {
			c := *n // the cached nodes stay as they are
			nodes = append(nodes, &c)
		}
		maps.Copy(g.Initializers, ug.Initializers)
	}
	g.Nodes = nodes
	g.Reindex()
	if err := g.TopoSort(); err != nil {
		return nil, err
	}
	return qm, nil
}

// unitNodes is unit u's layers as candidate c quantizes them, built by
// quantizedLayers as the search's candidate models are (ApplyBalance's
// Mul, Save's quantizeLayer and fake-quant rewrite on the unit's own
// weights), reading the unit's tensor and writing each layer's output
// tensor; its nodes and initializers are named after the unit's first
// layer. Built once per candidate: plans share them.
func (s *checkSubset) unitNodes(u *searchUnit, c *searchCandidate) (*onnx.Graph, error) {
	if ug := s.units[c]; ug != nil {
		return ug, nil
	}
	prefix := s.m.Graph.UniqueName(u.layers[0].layer.Name + ".amq_check")
	ug := newSearchGraph(nil)
	if err := u.quantizedLayers(ug, c, prefix, s.m.Opset()); err != nil {
		return nil, fmt.Errorf("%s with α %s: %w", u.name(), c, err)
	}
	rename := map[string]string{"x": u.key.tensor}
	for li, sl := range u.layers {
		rename[fmt.Sprintf("%s.%d", prefix, li)] = sl.node.Outputs[0]
	}
	for _, n := range ug.Nodes {
		for i, name := range n.Inputs {
			if to, ok := rename[name]; ok {
				n.Inputs[i] = to
			}
		}
		for i, name := range n.Outputs {
			if to, ok := rename[name]; ok {
				n.Outputs[i] = to
			}
		}
	}
	s.units[c] = ug
	return ug, nil
}
