package quant

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"amq/backend"
	"amq/onnx"
)

// BiasCorrection is what bias correction found for one quantized layer
// (QuantizeOptions.BiasCorrect; docs/design.md "Bias correction").
type BiasCorrection struct {
	// Kept says whether the correction went into the models: only when
	// it lowered the error on the held-out samples.
	Kept bool
	// Shift is, per output channel, the mean of y_q - y over the fitting
	// samples: what is subtracted from the layer's float bias before the
	// bias is quantized.
	Shift []float64
	// MSEBefore and MSEAfter are the mean squared difference between the
	// layer's quantized output y_q and its float output y over the
	// held-out samples, without and with the correction (as the int32
	// bias rounds it); NaN without held-out samples.
	MSEBefore, MSEAfter float64
	// FitSamples and HeldOutSamples count the samples (slices along axis
	// 0 of the layer's output) the correction was computed from and
	// checked on: the even and the odd ones, counted across batches.
	FitSamples, HeldOutSamples int64
}

// checkBiasCorrection refuses, before any forward pass, calibration data
// too small to both fit and check a correction: fewer than two samples in
// the batch_num batches (the batch size read as axis 0 of the first input
// of the first batch).
func checkBiasCorrection(data DataSource, batchNum int) error {
	in, err := data.Batch(0)
	if err != nil {
		return fmt.Errorf("bias correction: batch 0: %w", err)
	}
	size := samplesIn(in)
	if batchNum*size < 2 {
		return fmt.Errorf("bias correction needs at least 2 calibration samples, one to compute the correction from and one to check it on; "+
			"batch_num %d of %d samples gives %d", batchNum, size, batchNum*size)
	}
	return nil
}

// correctBiases computes the bias correction of every layer of p enabled
// in its config, quantized with rec and applied as RunFlow will save it
// (balance folded when fold is set), on the first batch_num batches of
// data through b.
//
// y_q is the layer's output in the fake-quant model, y the float layer
// (on its balanced weights) applied to the same input, so that each
// correction removes the bias the layer's own quantization adds and the
// corrections of all layers can be computed in one pass and applied
// together: a layer's input already carries the error of the quantized
// layers before it, but no bias of theirs is counted twice. One extra
// forward pass per batch, of the fake-quant model with a float twin of
// every layer; memory is a few sums per output channel.
//
// It also returns the quantized model with the kept corrections in its
// layers, for Save to rewrite instead of quantizing every weight again
// (SaveOptions.quantized).
func correctBiases(p *Prepared, rec Record, b backend.Backend, data DataSource, fold bool) (map[string]*BiasCorrection, *quantizedSave, error) {
	qs := &quantizedSave{}
	q, err := quantizeModel(p.Model, p.Layers, p.Config, rec, SaveOptions{Balance: BalanceOptions{Fold: fold}}, &qs.rep, false)
	if err != nil {
		return nil, nil, fmt.Errorf("bias correction: %w", err)
	}
	probe := q.model.Clone()
	stats := make([]*biasStats, len(q.targets))
	var observe []string
	for i, l := range q.targets {
		stats[i] = &biasStats{y: l.Node.Outputs[0], ref: addFloatTwin(probe.Graph, probe.Graph.Node(l.Name)), axis: channelAxis(l.Type)}
		observe = append(observe, stats[i].y, stats[i].ref)
	}
	if err := rewrite(probe, q.layers, false); err != nil {
		return nil, nil, fmt.Errorf("bias correction: %w", err)
	}
	pairs := newTensorPairs(len(stats))
	for i, s := range stats {
		pairs.add(s.y, s.ref, func(y, ref *onnx.Tensor) error {
			if err := s.add(y, ref); err != nil {
				return fmt.Errorf("layer %q: %w", q.targets[i].Name, err)
			}
			return nil
		})
	}
	err = runBatches(b, probe, observe, data, p.Config.BatchNum, pairs.sink)
	if err != nil {
		return nil, nil, fmt.Errorf("bias correction: %w", err)
	}
	res := map[string]*BiasCorrection{}
	saved := slices.Clone(q.layers)
	for i, l := range q.targets {
		s := stats[i]
		bc := &BiasCorrection{Shift: s.shift(), FitSamples: s.fitRows, HeldOutSamples: s.heldRows, MSEBefore: math.NaN(), MSEAfter: math.NaN()}
		res[l.Name] = bc
		if bc.Shift == nil || s.heldN == 0 {
			continue
		}
		// The correction as the quantized bias will carry it.
		applied, _, err := quantizeLayer(q.model.Graph, l, rec[l.Name], bc.Shift)
		if err != nil {
			return nil, nil, fmt.Errorf("bias correction: %w", err)
		}
		bc.MSEBefore, bc.MSEAfter = s.heldOutMSE(appliedShift(q.layers[i], applied))
		if bc.Kept = bc.MSEAfter < bc.MSEBefore; bc.Kept {
			saved[i] = applied
		}
	}
	qs.q = &quantizedModel{model: q.model, targets: q.targets, layers: saved}
	return res, qs, nil
}

// keptShifts are the shifts of the corrections that were kept, by layer.
func keptShifts(bc map[string]*BiasCorrection) map[string][]float64 {
	var out map[string][]float64
	for name, c := range bc {
		if c.Kept {
			if out == nil {
				out = map[string][]float64{}
			}
			out[name] = c.Shift
		}
	}
	return out
}

// addFloatTwin adds, next to layer node n, a copy of it that keeps its
// float inputs when n is quantized, and returns the copy's output.
func addFloatTwin(g *onnx.Graph, n *onnx.Node) string {
	twin := *n
	twin.Name = g.UniqueName(n.Name + ".float")
	twin.Inputs = slices.Clone(n.Inputs)
	twin.Outputs = []string{g.UniqueName(n.Name + ".float.out")}
	twin.Attrs = maps.Clone(n.Attrs) // rewrite may set an attribute of n
	g.InsertNode(slices.Index(g.Nodes, n)+1, &twin)
	return twin.Outputs[0]
}

// appliedShift is, per output channel, how much the quantized layer after
// (with its bias correction) outputs less than before, from the rounded
// int32 biases or the MatMul's float Add.
func appliedShift(before, after *quantLayer) []float64 {
	if after.post != nil {
		d := make([]float64, len(after.post))
		for c, v := range after.post {
			d[c] = -float64(v)
		}
		return d
	}
	d := make([]float64, len(after.bq))
	for c, q := range after.bq {
		var old int32
		if before.bq != nil {
			old = before.bq[c]
		}
		dq := after.deq[0]
		if len(after.deq) > 1 {
			dq = after.deq[c]
		}
		d[c] = float64(old-q) * float64(dq)
	}
	return d
}

// biasStats accumulates d = y_q - y of one layer per output channel: its
// sum over the fitting samples, its sum and sum of squares over the
// held-out ones.
type biasStats struct {
	y, ref string // the tensors of y_q and y
	axis   int    // channel axis; negative counts from the end

	rows              int64 // samples seen
	fitRows, heldRows int64
	fitN, heldN       int64 // values per channel in either part
	fitSum            []float64
	heldSum, heldSq   []float64
}

// add accumulates one batch of y_q and y. A sample is a slice along axis
// 0; an output whose channel axis is 0 is one sample per batch.
func (s *biasStats) add(yq, y *onnx.Tensor) error {
	a, err := onnx.Data[float32](yq)
	if err != nil {
		return err
	}
	b, err := onnx.Data[float32](y)
	if err != nil {
		return err
	}
	if !slices.Equal(yq.Shape, y.Shape) {
		return fmt.Errorf("quantized output of shape %v, float output of shape %v", yq.Shape, y.Shape)
	}
	axis := s.axis
	if axis < 0 {
		axis += yq.Rank()
	}
	if axis < 0 || axis >= yq.Rank() {
		return fmt.Errorf("output of shape %v has no channel axis %d", yq.Shape, s.axis)
	}
	ch := yq.Shape[axis]
	if s.fitSum == nil {
		s.fitSum, s.heldSum, s.heldSq = make([]float64, ch), make([]float64, ch), make([]float64, ch)
	} else if len(s.fitSum) != ch {
		return fmt.Errorf("output of shape %v has %d channels, earlier batches had %d", yq.Shape, ch, len(s.fitSum))
	}
	rows := 1
	if axis > 0 {
		rows = yq.Shape[0]
	}
	if len(a) == 0 || rows == 0 {
		return nil
	}
	perRow := len(a) / rows
	inner := onnx.NumElems(yq.Shape[axis+1:])
	for r := range rows {
		held := (s.rows+int64(r))%2 == 1
		if held {
			s.heldRows++
			s.heldN += int64(perRow / ch)
		} else {
			s.fitRows++
			s.fitN += int64(perRow / ch)
		}
		for k := r * perRow; k < (r+1)*perRow; k++ {
			c := (k / inner) % ch
			d := float64(a[k]) - float64(b[k])
			if held {
				s.heldSum[c] += d
				s.heldSq[c] += float64(d * d)
			} else {
				s.fitSum[c] += d
			}
		}
	}
	s.rows += int64(rows)
	return nil
}

// shift is the mean of d per channel over the fitting samples; nil
// without any.
func (s *biasStats) shift() []float64 {
	if s.fitN == 0 {
		return nil
	}
	c := make([]float64, len(s.fitSum))
	for i, v := range s.fitSum {
		c[i] = v / float64(s.fitN)
	}
	return c
}

// heldOutMSE is the mean of d² over the held-out samples, and of
// (d - applied)² with applied subtracted per channel.
func (s *biasStats) heldOutMSE(applied []float64) (before, after float64) {
	n := float64(s.heldN) * float64(len(s.heldSq))
	for c, sq := range s.heldSq {
		before += sq
		// sum (d - a)² = sum d² - 2a sum d + n a²
		a := applied[c]
		after += max(0, sq-float64(2*a*s.heldSum[c])+float64(float64(s.heldN)*a*a))
	}
	return before / n, after / n
}
