package quant

import (
	"fmt"
	"math"

	"amq/backend"
	"amq/onnx"
)

// BoardCheck asks RunFlow to evaluate the deploy model as the NPU computes
// it under an ATC precision mode (docs/design.md "NPU numerics"): the SQNR
// the board would see and the tensors that overflow float16 there.
type BoardCheck struct {
	// Precision is the ATC precision mode, as the report names it.
	Precision backend.Precision
	// Backend computes in that mode: sim opened with it, whose runners
	// count float16 overflow (backend.FP16Reporter).
	Backend backend.Backend
}

// check fails before any work when the board check cannot run.
func (c *BoardCheck) check(noEval bool) error {
	switch {
	case c == nil:
		return nil
	case c.Backend == nil:
		return fmt.Errorf("board check in %s: no backend", c.Precision)
	case noEval:
		return fmt.Errorf("board check in %s: needs the evaluation, which is turned off", c.Precision)
	}
	return nil
}

// BoardReport is what the NPU would compute under an ATC precision mode,
// measured on the calibration batches against the float model computed by
// the flow's backend (float32 in sim).
type BoardReport struct {
	Precision backend.Precision
	// Outputs is the SQNR in dB of each float graph output of the deploy
	// model computed in the mode; FloatOutputs that of the float model
	// computed in the mode, what the mode alone costs.
	Outputs, FloatOutputs map[string]float64
	// Layers is the SQNR of each quantized layer's output in the deploy
	// model computed in the mode, by layer name.
	Layers map[string]float64
	// Before lists the tensors of the float model, before the balance and
	// the quantization, that overflow float16 or flush to zero in bulk in
	// the mode (backend.FP16Stat.Flagged), summed over the batches; After
	// those of the deploy model, balanced and quantized, which the board
	// runs. Both in graph order; nil when none.
	Before, After []backend.FP16Stat
	// PeakBefore and PeakAfter are the tensors with the largest finite |x|
	// of each model: how close to 65504 a model that does not overflow
	// comes.
	PeakBefore, PeakAfter backend.FP16Stat
}

// boardEval runs the float and the deploy model on a BoardCheck's backend
// batch by batch, alongside evaluate, summing the board's SQNR against
// evaluate's float results.
type boardEval struct {
	check      *BoardCheck
	float, dep backend.Runner
	outOf      map[string]string // layer -> output tensor
	outputs    []string          // float graph outputs
	// sums by tensor: the deploy model's and the float model's errors.
	dep2, float2 map[string]*sqnrAcc
}

// sqnrAcc sums a tensor's signal (sum x²) and noise (sum (x-y)²) over
// batches.
type sqnrAcc struct{ sig, noise float64 }

// db is the SQNR in dB: +Inf without noise.
func (a *sqnrAcc) db() float64 {
	if a.noise == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(a.sig/a.noise)
}

// newBoardEval prepares ref (the float model) and deploy on the check's
// backend, observing every layer's output.
func newBoardEval(check *BoardCheck, ref, deploy *onnx.Model, layers []*Layer) (e *boardEval, err error) {
	outOf, observe, err := layerOutputs(ref, deploy, "deploy", layers)
	if err != nil {
		return nil, err
	}
	e = &boardEval{check: check, outOf: outOf, dep2: map[string]*sqnrAcc{}, float2: map[string]*sqnrAcc{}}
	for _, out := range outOf {
		e.dep2[out] = &sqnrAcc{}
	}
	for _, o := range ref.Graph.Outputs {
		if o.DType == onnx.Float || o.DType == onnx.Undefined {
			e.outputs = append(e.outputs, o.Name)
			e.dep2[o.Name], e.float2[o.Name] = &sqnrAcc{}, &sqnrAcc{}
		}
	}
	if e.float, err = check.Backend.Prepare(ref, observe); err != nil {
		return nil, fmt.Errorf("prepare float model in %s: %w", check.Precision, err)
	}
	if e.dep, err = check.Backend.Prepare(deploy, observe); err != nil {
		e.float.Close()
		return nil, fmt.Errorf("prepare deploy model in %s: %w", check.Precision, err)
	}
	return e, nil
}

// batch runs one batch in on both models and adds their errors against
// ref, the float model's results on the flow's backend.
func (e *boardEval) batch(in, ref map[string]*onnx.Tensor) error {
	fo, err := e.float.Run(in)
	if err != nil {
		return fmt.Errorf("float model in %s: %w", e.check.Precision, err)
	}
	do, err := e.dep.Run(in)
	if err != nil {
		return fmt.Errorf("deploy model in %s: %w", e.check.Precision, err)
	}
	for _, sums := range []struct {
		got map[string]*onnx.Tensor
		acc map[string]*sqnrAcc
	}{{do, e.dep2}, {fo, e.float2}} {
		for name, a := range sums.acc {
			x, y := ref[name], sums.got[name]
			if x == nil || y == nil {
				return fmt.Errorf("no tensor %q to compare", name)
			}
			if x.DType != onnx.Float { // an output of another type gets no SQNR
				delete(sums.acc, name)
				continue
			}
			s, n, err := sqnrSums(x, y)
			if err != nil {
				return fmt.Errorf("tensor %q in %s: %w", name, e.check.Precision, err)
			}
			a.sig += s
			a.noise += n
		}
	}
	return nil
}

// report returns what the batches showed.
func (e *boardEval) report() *BoardReport {
	r := &BoardReport{Precision: e.check.Precision, Outputs: map[string]float64{}, FloatOutputs: map[string]float64{}, Layers: map[string]float64{}}
	for _, o := range e.outputs {
		if a, ok := e.dep2[o]; ok {
			r.Outputs[o] = a.db()
		}
		if a, ok := e.float2[o]; ok {
			r.FloatOutputs[o] = a.db()
		}
	}
	for l, t := range e.outOf {
		r.Layers[l] = e.dep2[t].db()
	}
	r.Before, r.PeakBefore = flaggedFP16(e.float)
	r.After, r.PeakAfter = flaggedFP16(e.dep)
	return r
}

// flaggedFP16 returns the flagged tensors a runner counted and the one
// with the largest |x|.
func flaggedFP16(r backend.Runner) (bad []backend.FP16Stat, peak backend.FP16Stat) {
	rep, ok := r.(backend.FP16Reporter)
	if !ok {
		return nil, peak
	}
	for _, s := range rep.FP16Stats() {
		if s.Flagged() {
			bad = append(bad, s)
		}
		if s.MaxAbs > peak.MaxAbs {
			peak = s
		}
	}
	return bad, peak
}

// close releases both runners, setting *err to the first failure unless
// it holds one already.
func (e *boardEval) close(err *error) {
	closeRunner(e.float, err)
	closeRunner(e.dep, err)
}

// openBoardEval prepares the board check of opt.Board on the staged
// deploy model; nil without one.
func openBoardEval(check *BoardCheck, p *Prepared, srep *SaveReport) (*boardEval, error) {
	if check == nil {
		return nil, nil
	}
	deploy, err := onnx.LoadFile(srep.DeployPath)
	if err != nil {
		return nil, fmt.Errorf("reload deploy model: %w", err)
	}
	return newBoardEval(check, p.Model, deploy, p.Layers)
}
