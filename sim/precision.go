package sim

import (
	"math"

	"amq/backend"
	"amq/onnx"
)

// Precision is the ATC precision mode a Session emulates (docs/design.md
// "NPU numerics"). The zero value computes everything in float32, as sim
// always did.
type Precision = backend.Precision

// FP16Stat counts what rounding one tensor to float16 did (see
// backend.FP16Stat).
type FP16Stat = backend.FP16Stat

// matrixOps are the operators ATC maps to the AI Core's cube (matrix) unit;
// every other float operator runs on its vector unit. The precision modes
// treat the two kinds differently.
var matrixOps = map[string]bool{"MatMul": true, "Gemm": true, "Conv": true, "ConvTranspose": true}

// fp16Rule says how node n computes under mode p: whether it reads its
// float32 inputs as float16 and whether it rounds its float32 outputs to
// float16. Matrix ops accumulate in float32 whatever the mode (the cube
// unit writes float32 partial sums), so rounding their inputs and output
// is all that differs.
//
//   - force_fp16: every float op runs in float16, inputs and outputs;
//   - allow_fp32_to_fp16: matrix ops in float16, vector ops keep float32;
//   - force_fp32 (cube_fp16in_fp32out): matrix ops read float16 and write
//     float32, vector ops keep float32;
//   - must_keep_origin_dtype and the default: float32 throughout.
func fp16Rule(p Precision, n *onnx.Node) (in, out bool) {
	if n.Domain != "" {
		return false, false
	}
	matrix := matrixOps[n.OpType]
	switch p {
	case backend.ForceFP16:
		return true, true
	case backend.AllowFP32ToFP16:
		return matrix, matrix
	case backend.ForceFP32:
		return matrix, false
	}
	return false, false
}

// fp16Plan is what a precision mode does to a session's steps, decided
// once when the session is created; a nil plan rounds nothing, so the
// default path pays for one pointer test per step.
type fp16Plan struct {
	in, out []bool // by step: read float32 inputs as float16; round float32 outputs
	// exact marks the tensors an out-rounding step writes: already float16
	// values, so readers need no copy.
	exact map[string]bool
	// consts holds the float initializers that some step reads as float16,
	// rounded once, and what rounding them did, named after their first
	// such reader.
	consts     map[string]*onnx.Tensor
	constStats map[string]FP16Stat
}

// newFP16Plan returns the plan of mode p for s's steps, nil when p rounds
// nothing in this graph.
func newFP16Plan(p Precision, s *Session) *fp16Plan {
	pl := &fp16Plan{in: make([]bool, len(s.steps)), out: make([]bool, len(s.steps)),
		exact: map[string]bool{}, consts: map[string]*onnx.Tensor{}, constStats: map[string]FP16Stat{}}
	rounds := false
	for i, st := range s.steps {
		n := st.node
		pl.in[i], pl.out[i] = fp16Rule(p, n)
		rounds = rounds || pl.in[i] || pl.out[i]
		if pl.out[i] {
			for _, o := range n.Outputs {
				pl.exact[o] = o != ""
			}
		}
		if !pl.in[i] {
			continue
		}
		for _, name := range n.Inputs {
			// An initializer that is also a graph input is a default the
			// caller may override: it is rounded per run instead.
			c, ok := s.consts[name]
			if !ok || c.DType != onnx.Float || s.isInput(name) {
				continue
			}
			if _, done := pl.consts[name]; done {
				continue
			}
			r, stat := roundFP16(c, s.threads)
			stat.Node, stat.OpType, stat.Tensor = n.Name, n.OpType, name
			pl.consts[name], pl.constStats[name] = r, stat
		}
	}
	if !rounds {
		return nil
	}
	return pl
}

// fp16Run is one Run's float16 bookkeeping.
type fp16Run struct {
	plan    *fp16Plan
	threads int
	// rounded holds the float32 tensors read as float16 so far, by name, so
	// that several readers share one copy.
	rounded map[string]*onnx.Tensor
	stats   []FP16Stat
}

func newFP16Run(p *fp16Plan, threads int) *fp16Run {
	return &fp16Run{plan: p, threads: threads, rounded: map[string]*onnx.Tensor{}}
}

// inputs replaces the float32 arguments of step i by their float16 values
// when the step reads float16.
func (r *fp16Run) inputs(i int, n *onnx.Node, args []*onnx.Tensor) {
	if !r.plan.in[i] {
		return
	}
	for j, t := range args {
		if t == nil || t.DType != onnx.Float {
			continue
		}
		name := n.Inputs[j]
		if r.plan.exact[name] {
			continue
		}
		if c, ok := r.rounded[name]; ok {
			args[j] = c
			continue
		}
		c, ok := r.plan.consts[name]
		var st FP16Stat
		if ok {
			st = r.plan.constStats[name]
		} else {
			c, st = roundFP16(t, r.threads)
			st.Node, st.OpType, st.Tensor = n.Name, n.OpType, name
		}
		r.rounded[name] = c
		r.stats = append(r.stats, st)
		args[j] = c
	}
}

// outputs rounds the float32 results of step i to float16 when the step
// writes float16; names are the tensors they become.
func (r *fp16Run) outputs(i int, n *onnx.Node, outs []*onnx.Tensor, names []string) {
	if !r.plan.out[i] {
		return
	}
	for j, t := range outs {
		if j >= len(names) || names[j] == "" || t == nil || t.DType != onnx.Float {
			continue
		}
		c, st := roundFP16(t, r.threads)
		st.Node, st.OpType, st.Tensor = n.Name, n.OpType, names[j]
		outs[j] = c
		r.stats = append(r.stats, st)
	}
}

// roundFP16 returns t with its values rounded to float16 (half to even;
// beyond ±65504 to ±Inf, below 2^-24 in magnitude through subnormals to 0)
// and what the rounding did. t itself is returned when no value changes:
// its data may be shared (a constant, a graph input, a view), so it is
// never written.
func roundFP16(t *onnx.Tensor, threads int) (*onnx.Tensor, FP16Stat) {
	x := t.Data.([]float32)
	y := make([]float32, len(x))
	type part struct {
		over, under int64
		maxAbs      float32
		changed     bool
	}
	const grain = 1 << 15
	parts := make([]part, max(1, min(threads, (len(x)+grain-1)/grain)))
	per := (len(x) + len(parts) - 1) / len(parts)
	parallelFor(len(parts), len(parts), 1, func(first, last int) {
		for pi := first; pi < last; pi++ {
			p := &parts[pi]
			for k := pi * per; k < min((pi+1)*per, len(x)); k++ {
				v := x[k]
				h := roundHalf(v)
				y[k] = h
				if a := float32(math.Abs(float64(v))); a > p.maxAbs && a <= math.MaxFloat32 {
					p.maxAbs = a
				}
				if h == v || v != v {
					continue
				}
				// v is finite here: an infinite v rounds to itself.
				p.changed = true
				if math.IsInf(float64(h), 0) {
					p.over++
				} else if h == 0 {
					p.under++
				}
			}
		}
	})
	st := FP16Stat{Elements: int64(len(x))}
	changed := false
	for _, p := range parts {
		st.Overflow += p.over
		st.Underflow += p.under
		st.MaxAbs = math.Max(st.MaxAbs, float64(p.maxAbs))
		changed = changed || p.changed
	}
	if !changed {
		return t, st
	}
	out := onnx.NewTensor(t.Shape, y)
	out.Name = t.Name
	return out, st
}

// roundHalf rounds v to the nearest float16 value, half to even, as
// onnx.Float32ToFloat16 does, held as a float32. Values in float16's
// normal range, the common case, are rounded on the float32 bits: adding
// half an ulp of float16 (less one, plus the kept lowest bit, for ties to
// even) and clearing the 13 bits float16 lacks, a carry moving into the
// exponent as it should; the rest (subnormals, overflow, NaN) take the
// general conversion.
func roundHalf(v float32) float32 {
	const (
		minNormal = 0x38800000 // 2^-14, float16's smallest normal
		overflow  = 0x477ff000 // 65520: from here on the result is ±Inf
	)
	b := math.Float32bits(v)
	if a := b &^ (1 << 31); a >= minNormal && a < overflow {
		a += 0x0fff + (a>>13)&1
		return math.Float32frombits(b&(1<<31) | a&^0x1fff)
	}
	return onnx.Float16ToFloat32(onnx.Float32ToFloat16(v))
}
