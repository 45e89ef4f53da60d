package quant

import (
	"fmt"
	"slices"

	"amq/backend"
	"amq/onnx"
)

// evaluate runs the float model ref and the fake-quant model fake on every
// batch of data and fills the SQNR of each layer output and graph output of
// rep, accumulating sums so that memory does not grow with the batches.
// board, when not nil, also runs each batch as the NPU computes it,
// against the float model's results, fills rep.Board and is closed.
func evaluate(ref, fake *onnx.Model, layers []*Layer, b backend.Backend, data DataSource, rep *QuantizeReport, board *boardEval) (err error) {
	if board != nil {
		defer board.close(&err)
	}
	outOf, observe, err := layerOutputs(ref, fake, "fake-quant", layers)
	if err != nil {
		return err
	}
	rr, err := b.Prepare(ref, observe)
	if err != nil {
		return fmt.Errorf("prepare float model: %w", err)
	}
	defer closeRunner(rr, &err)
	fr, err := b.Prepare(fake, observe)
	if err != nil {
		return fmt.Errorf("prepare fake-quant model: %w", err)
	}
	defer closeRunner(fr, &err)

	sums := map[string]*sqnrAcc{}
	for _, name := range append(slices.Clone(observe), rep.OutputNames...) {
		sums[name] = &sqnrAcc{}
	}
	// SQNR is for float tensors; a graph output of another type (class
	// indices, shapes) gets none rather than failing the run.
	notFloat := map[string]bool{}
	// addPair adds the float model's tensor x and the fake-quant model's y
	// to the sums of name; the paired runs call it from two goroutines,
	// for different names.
	addPair := func(name string, x, y *onnx.Tensor) error {
		if x == nil || y == nil {
			return fmt.Errorf("backend returned no tensor %q", name)
		}
		if x.DType != onnx.Float && ref.Graph.IsOutput(name) && !slices.Contains(observe, name) {
			notFloat[name] = true
			return nil
		}
		s, n, err := sqnrSums(x, y)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", name, err)
		}
		sums[name].sig += s
		sums[name].noise += n
		return nil
	}
	for i := range data.Len() {
		in, err := data.Batch(i)
		if err != nil {
			return fmt.Errorf("batch %d: %w", i, err)
		}
		var ro, fo map[string]*onnx.Tensor
		if pr, pf, paired := pairedRunners(rr, fr, board); paired {
			var rerr, ferr, aerr error
			ro, fo, rerr, ferr, aerr = runPaired(pr, pf, in, addPair)
			switch {
			case aerr != nil:
				return fmt.Errorf("batch %d: fake-quant model: %w", i, aerr)
			case rerr != nil:
				return fmt.Errorf("batch %d: float model: %w", i, rerr)
			case ferr != nil:
				return fmt.Errorf("batch %d: fake-quant model: %w", i, ferr)
			}
		} else {
			ro, err = rr.Run(in)
			if err != nil {
				return fmt.Errorf("batch %d: float model: %w", i, err)
			}
			if board != nil {
				if err := board.batch(in, ro); err != nil {
					return fmt.Errorf("batch %d: %w", i, err)
				}
			}
			// Each tensor of the fake-quant model is compared with the
			// float model's as it comes: with a backend.Observer, only
			// one model's tensors are alive at once.
			fo, err = runObserving(fr, in, observe, func(name string, y *onnx.Tensor) error { return addPair(name, ro[name], y) })
			if err != nil {
				return fmt.Errorf("batch %d: fake-quant model: %w", i, err)
			}
		}
		for _, name := range rep.OutputNames {
			if slices.Contains(observe, name) {
				continue
			}
			if err := addPair(name, ro[name], fo[name]); err != nil {
				return fmt.Errorf("batch %d: %w", i, err)
			}
		}
	}
	for i := range rep.Layers {
		if a := sums[outOf[rep.Layers[i].Name]]; a != nil {
			rep.Layers[i].SQNR = a.db()
		}
	}
	for _, o := range rep.OutputNames {
		if !notFloat[o] {
			rep.Outputs[o] = sums[o].db()
		}
	}
	if board != nil {
		rep.Board = board.report()
	}
	return nil
}

// pairedRunners returns the float and fake-quant runners as observers when
// both are and no board takes the float model's results: then the two
// models run a batch at once and their tensors are compared as they come
// (runPaired), rather than holding every observed tensor of the float
// model until the fake-quant model has run.
func pairedRunners(rr, fr backend.Runner, board *boardEval) (ref, fake backend.Observer, ok bool) {
	if board != nil {
		return nil, nil, false
	}
	ref, ok1 := rr.(backend.Observer)
	fake, ok2 := fr.(backend.Observer)
	return ref, fake, ok1 && ok2
}

// runObserving runs one batch on r, handing each tensor of observe (r's
// observed tensors) to add: as it is computed when r is a
// backend.Observer, else from the result. It returns the result.
func runObserving(r backend.Runner, in map[string]*onnx.Tensor, observe []string, add func(name string, t *onnx.Tensor) error) (map[string]*onnx.Tensor, error) {
	if obs, ok := r.(backend.Observer); ok {
		return obs.RunObserved(in, add)
	}
	out, err := r.Run(in)
	if err != nil {
		return nil, err
	}
	for _, name := range observe {
		if err := add(name, out[name]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// layerOutputs maps each layer to its output tensor in the float model ref
// and lists those to observe, the ones that are not graph outputs. A
// layer's output keeps its name in the quantized model q (the kind one, in
// messages): the dequantization writes the original tensor.
func layerOutputs(ref, q *onnx.Model, kind string, layers []*Layer) (outOf map[string]string, observe []string, err error) {
	outOf = map[string]string{}
	for _, l := range layers {
		n := ref.Graph.Node(l.Name)
		if n == nil || len(n.Outputs) == 0 {
			return nil, nil, fmt.Errorf("layer %q: not in the model", l.Name)
		}
		out := n.Outputs[0]
		if q.Graph.Producer(out) == nil {
			return nil, nil, fmt.Errorf("layer %q: output %q is not in the %s model", l.Name, out, kind)
		}
		outOf[l.Name] = out
		if !ref.Graph.IsOutput(out) {
			observe = append(observe, out)
		}
	}
	return outOf, dedupe(observe), nil
}

// sqnrSums returns sum x^2 and sum (x-y)^2 of two float tensors of the same
// shape.
func sqnrSums(x, y *onnx.Tensor) (sig, noise float64, err error) {
	xd, err := onnx.Data[float32](x)
	if err != nil {
		return 0, 0, err
	}
	yd, err := onnx.Data[float32](y)
	if err != nil {
		return 0, 0, err
	}
	if !slices.Equal(x.Shape, y.Shape) {
		return 0, 0, fmt.Errorf("shapes %v and %v differ", x.Shape, y.Shape)
	}
	for k, v := range xd {
		d := float64(v) - float64(yd[k])
		sig += float64(float64(v) * float64(v))
		noise += float64(d * d)
	}
	return sig, noise, nil
}

// SQNR returns 10*log10(sum ref^2 / sum (ref - got)^2) in dB for two float
// tensors of the same shape: +Inf when they are equal.
func SQNR(ref, got *onnx.Tensor) (float64, error) {
	s, n, err := sqnrSums(ref, got)
	if err != nil {
		return 0, err
	}
	return (&sqnrAcc{s, n}).db(), nil
}

func closeRunner(r backend.Runner, err *error) {
	if cerr := r.Close(); cerr != nil && *err == nil {
		*err = fmt.Errorf("close runner: %w", cerr)
	}
}
