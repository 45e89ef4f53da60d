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

// outputCheckPart is the number of samples a plan runs on at a time, when
// the model's inputs and outputs declare a batch axis: after each part the
// plan stops if its error so far already rules it out.
const outputCheckPart = 16

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
		fmt.Fprintf(&b, " %s", p)
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
	// StoppedAfter, when not 0, is the number of samples after which the
	// plan was stopped because its error could no longer win (or, for an
	// adopted choice, lower the error); Error is then its error so far,
	// less than its whole error.
	StoppedAfter int
}

// String is the plan's name and error, marked when it was stopped.
func (p PlanError) String() string {
	if p.StoppedAfter > 0 {
		return fmt.Sprintf("%s > %.3g (stopped after %d samples)", p.Name, p.Error, p.StoppedAfter)
	}
	return fmt.Sprintf("%s %.3g", p.Name, p.Error)
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
		// A plan stopped above the bound has a whole error above it too,
		// so it could not have won.
		e, stopped, err := sub.planError(units, pl.p, least*(1+alphaTie))
		if err != nil {
			return fmt.Errorf("α search: output check, plan %q: %w", pl.name, err)
		}
		rep.Plans = append(rep.Plans, PlanError{pl.name, e, stopped})
		if stopped == 0 {
			least = min(least, e)
		}
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
		e, stopped, err := sub.planError(units, try, rep.Error*(1-alphaTie))
		if err != nil {
			return nil, fmt.Errorf("%s with α %s: %w", u.name(), c, err)
		}
		if stopped == 0 && e < rep.Error*(1-alphaTie) {
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
	parts   []checkPart               // the subset in the order plans run on it
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
			x, err := outputTensor(out, name)
			if err != nil {
				return nil, fmt.Errorf("batch %d: %w", i, err)
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
		s.parts = append(s.parts, checkPart{batch: i, lo: 0, hi: n})
	}
	if batchAxis(m, outs) {
		s.parts = splitParts(s.parts, outputCheckPart)
	}
	return s, nil
}

// checkPart is samples [lo, hi) of a batch of the output check's subset.
type checkPart struct{ batch, lo, hi int }

// splitParts splits each part of more than 2·size samples into parts of
// size samples, the last one taking the rest.
func splitParts(parts []checkPart, size int) []checkPart {
	var out []checkPart
	for _, p := range parts {
		for p.hi-p.lo >= 2*size {
			out = append(out, checkPart{p.batch, p.lo, p.lo + size})
			p.lo += size
		}
		out = append(out, p)
	}
	return out
}

// batchAxis reports whether every input of m and every output of outs
// declares its first axis as one and the same named dimension, the batch,
// so that the model's outputs on some samples of a batch are those
// samples' rows of its outputs on the whole batch.
func batchAxis(m *onnx.Model, outs []string) bool {
	g := m.Graph
	dims := make([][]onnx.Dim, 0, len(g.Inputs)+len(outs))
	for _, in := range g.Inputs {
		if _, ok := g.Initializers[in.Name]; !ok {
			dims = append(dims, in.Shape)
		}
	}
	for _, o := range g.Outputs {
		if slices.Contains(outs, o.Name) {
			dims = append(dims, o.Shape)
		}
	}
	if len(dims) == 0 || len(dims[0]) == 0 || dims[0][0].Param == "" {
		return false
	}
	for _, d := range dims {
		if len(d) == 0 || d[0] != dims[0][0] {
			return false
		}
	}
	return true
}

// partOf is samples [p.lo, p.hi) of every tensor of batch, which holds
// p.hi samples at least along axis 0.
func partOf(batch map[string]*onnx.Tensor, p checkPart) (map[string]*onnx.Tensor, error) {
	out := make(map[string]*onnx.Tensor, len(batch))
	for name, t := range batch {
		if t.Rank() == 0 || t.Shape[0] < p.hi {
			return nil, fmt.Errorf("tensor %q of shape %v has no samples [%d, %d)", name, t.Shape, p.lo, p.hi)
		}
		r, err := t.Rows(p.lo, p.hi)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		r.Name = t.Name
		out[name] = r
	}
	return out, nil
}

// planError runs p's quantized model (planModel) through the backend on the
// subset, part by part, and returns the error of its outputs (see
// PlanError). It stops after the first part at which the error so far,
// which only grows, exceeds bound, and then returns that error and the
// samples it ran on (else 0).
func (s *checkSubset) planError(units []*searchUnit, p plan, bound float64) (e float64, stoppedAfter int, err error) {
	qm, err := s.planModel(units, p)
	if err != nil {
		return 0, 0, err
	}
	q, err := s.b.Prepare(qm, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("prepare the quantized model: %w", err)
	}
	defer closeRunner(q, &err)
	var ref backend.Runner
	if s.refs == nil {
		if ref, err = s.b.Prepare(s.m, nil); err != nil {
			return 0, 0, fmt.Errorf("prepare the float model: %w", err)
		}
		defer closeRunner(ref, &err)
	}
	noise := make([]float64, len(s.outs))
	var batch map[string]*onnx.Tensor
	loaded, samples := -1, 0
	for pi, pt := range s.parts {
		if pt.batch != loaded {
			if batch, err = s.data.Batch(pt.batch); err != nil {
				return 0, 0, fmt.Errorf("batch %d: %w", pt.batch, err)
			}
			loaded = pt.batch
		}
		whole := pt.lo == 0 && pt.hi == samplesIn(batch)
		in := batch
		if !whole {
			if in, err = partOf(batch, pt); err != nil {
				return 0, 0, fmt.Errorf("batch %d: %w", pt.batch, err)
			}
		}
		got, err := q.Run(in)
		if err != nil {
			return 0, 0, fmt.Errorf("batch %d: %w", pt.batch, err)
		}
		var want map[string]*onnx.Tensor
		switch {
		case s.refs == nil:
			want, err = ref.Run(in)
		case whole:
			want = s.refs[pt.batch]
		default:
			want, err = partOf(s.refs[pt.batch], pt)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("batch %d: %w", pt.batch, err)
		}
		for k, name := range s.outs {
			x, y := want[name], got[name]
			if x == nil || y == nil {
				return 0, 0, fmt.Errorf("batch %d: backend returned no tensor %q", pt.batch, name)
			}
			_, d, err := sqnrSums(x, y)
			if err != nil {
				return 0, 0, fmt.Errorf("batch %d: output %q: %w", pt.batch, name, err)
			}
			noise[k] += d
		}
		samples += pt.hi - pt.lo
		e = 0
		for k := range s.outs {
			if s.signal[k] > 0 {
				e += noise[k] / s.signal[k]
			}
		}
		if e > bound && pi < len(s.parts)-1 {
			return e, samples, nil
		}
	}
	return e, 0, nil
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
