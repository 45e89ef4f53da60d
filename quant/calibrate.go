package quant

import (
	"fmt"
	"slices"

	"amq/backend"
	"amq/onnx"
)

// Calibrate computes the quantization factors of every enabled layer of cfg
// and stores them in rec, next to the balance factors Preprocess put there.
//
// It applies the balance factors of rec to a clone of m (AMCT's explicit
// Mul per layer; m itself is not changed), runs cfg.BatchNum batches of data
// through b while streaming each layer's activation input into the
// calibrator of its act_algo, and then derives scale_d/offset_d with IFMR or
// HFMG (symmetric when asymmetric is false, and always for Conv3d), and
// scale_w with ARQ on the balanced weights; offset_w and shift_bit are 0 and
// act_type and wts_type are INT8, as in AMCT's records. The activations are
// observed with every calibrated layer's weights fake-quantized (AMCT does
// the same), so a layer's range reflects the quantized layers before it;
// a ConvTranspose keeps its float weights there, as in AMCT.
//
// When b implements backend.Concurrent, up to Concurrency() batches are in flight,
// but statistics are merged in batch order, so the record equals that of a
// sequential run.
func Calibrate(m *onnx.Model, layers []*Layer, cfg *Config, rec Record, b backend.Backend, data DataSource) error {
	_, err := calibrate(m, layers, cfg, rec, b, data)
	return err
}

// calibrate is Calibrate that also returns, by layer name, a summary of
// the histogram each layer's activation was calibrated from, with the
// range its scale and offset represent.
func calibrate(m *onnx.Model, layers []*Layer, cfg *Config, rec Record, b backend.Backend, data DataSource) (map[string]*ActHistogram, error) {
	if err := checkCalibrateArgs(cfg, rec, data); err != nil {
		return nil, err
	}
	c, err := newCalibration(m, layers, cfg, rec)
	if c == nil || err != nil {
		return nil, err
	}
	err = runBatches(b, c.model, c.observe, data, cfg.BatchNum, func(_ int, name string, t *onnx.Tensor) error {
		return c.observeTensor(name, t)
	})
	if err != nil {
		return nil, fmt.Errorf("calibrate: %w", err)
	}
	return activationFactors(c.jobs, c.cals, c.weightScales, rec)
}

// calibration is a calibration under way: the balanced model with its
// layers' weights fake-quantized, the tensors to observe and a calibrator
// per calibratorKey. Calibrate feeds it from the backend; a merge of
// sharded statistics feeds it from stats files (docs/design.md "Sharded
// statistics").
type calibration struct {
	model        *onnx.Model
	jobs         []calibrationJob
	cals         map[calibratorKey]ActCalibrator
	byTensor     map[string][]ActCalibrator // cals by the tensor they watch
	observe      []string                   // sorted
	weightScales map[string][]float32
}

// newCalibration readies the calibration of the enabled layers of cfg with
// the balance factors of rec; nil when cfg enables no layer.
func newCalibration(m *onnx.Model, layers []*Layer, cfg *Config, rec Record) (*calibration, error) {
	var active []*Layer
	for _, l := range layers {
		if lc := cfg.Layers[l.Name]; lc != nil && lc.QuantEnable {
			active = append(active, l)
		}
	}
	if len(active) == 0 {
		return nil, nil
	}
	if err := requireBalanceFactors(active, cfg, rec); err != nil {
		return nil, fmt.Errorf("calibrate: %w", err)
	}
	// The jobs are checked on the unbalanced graph first, so that a bad
	// config fails before any weight is balanced.
	if _, err := calibrationJobs(m.Graph, active, cfg); err != nil {
		return nil, err
	}
	// A layer at a time: its weight is balanced (a float32 copy of one
	// layer), its weight scales computed, and it is replaced by its int8
	// codes and scales (int8Weight), which the backend widens to the
	// fake-quantized values as it computes: activations are observed
	// through fake-quantized weights, as in AMCT's quantize_model, so that
	// each layer's activation range includes the error of the quantized
	// layers before it. Only one layer's weight is float32 at a time
	// (docs/design.md "Loading large models"); the balance replaces the
	// weights it scales, so m's are never written.
	bal := m.CloneShared()
	var jobs []calibrationJob
	weightScales := map[string][]float32{}
	for _, l := range active {
		if _, err := ApplyBalance(bal, []*Layer{l}, rec, BalanceOptions{}); err != nil {
			return nil, fmt.Errorf("calibrate: %w", err)
		}
		js, err := calibrationJobs(bal.Graph, []*Layer{l}, cfg)
		if err != nil {
			return nil, err
		}
		j := js[0]
		sw, err := j.wts.scales(j.layer.Type, j.node, j.weight, j.lc.Weight.ChannelWise)
		if err != nil {
			return nil, fmt.Errorf("layer %q: %w", j.layer.Name, err)
		}
		weightScales[j.layer.Name] = sw
		if j.layer.Type != "ConvTranspose" {
			// AMCT's weight calibration hands the float (balanced)
			// weight of a ConvTranspose back to the model, not the
			// fake-quantized one, so the layers after it are
			// calibrated on its float output (docs/design.md
			// "Calibration order").
			if err := fakeQuantLayer(bal.Graph, &j, sw); err != nil {
				return nil, fmt.Errorf("layer %q: %w", j.layer.Name, err)
			}
		}
		jobs = append(jobs, j)
	}
	// One calibrator per key: layers that read the same unbalanced tensor
	// with the same algorithm and bin count share it.
	cals := map[calibratorKey]ActCalibrator{}
	var observe []string
	for _, j := range jobs {
		if cals[j.cal] == nil {
			cals[j.cal] = j.act.calibrator(j.cal.bins)
			observe = append(observe, j.cal.tensor)
		}
	}
	observe = dedupe(observe)
	byTensor := map[string][]ActCalibrator{}
	for k, cal := range cals {
		byTensor[k.tensor] = append(byTensor[k.tensor], cal)
	}
	// bal has its own copies of the quantized layers' weights now.
	m.PageOutWeights()
	return &calibration{model: bal, jobs: jobs, cals: cals, byTensor: byTensor, observe: observe, weightScales: weightScales}, nil
}

// fakeQuantLayer replaces j's weight in g by its fake-quantized values
// under the weight scales sw: an initializer by a new tensor holding the
// int8 codes (int8Weight; the old one may be m's, shared), a Constant
// node's value in place, on a copy of its own.
func fakeQuantLayer(g *onnx.Graph, j *calibrationJob, sw []float32) error {
	if g.Initializers[j.weight.Name] != j.weight {
		ownData(g, j.weight)
		return FakeQuantWeight(j.layer.Type, j.node, j.weight, sw)
	}
	q, err := fakeQuantCodes(j.layer.Type, j.node, j.weight, sw)
	if err != nil {
		return err
	}
	// The weight may lie in a mapped file: not resident once coded.
	j.weight.PageOut()
	j.weight = &onnx.Tensor{Name: j.weight.Name, DType: onnx.Float, Shape: j.weight.Shape, Data: q}
	g.SetInitializer(j.weight)
	return nil
}

// observeTensor feeds one observed tensor of a batch to the calibrators
// that watch it. t need not outlive the call (backend.Observer).
func (c *calibration) observeTensor(name string, t *onnx.Tensor) error {
	for _, cal := range c.byTensor[name] {
		if err := cal.Observe(t); err != nil {
			return err
		}
	}
	return nil
}

// add feeds one batch's observed tensors to the calibrators.
func (c *calibration) add(out map[string]*onnx.Tensor) error {
	for _, name := range c.observe {
		t, err := outputTensor(out, name)
		if err != nil {
			return err
		}
		if err := c.observeTensor(name, t); err != nil {
			return err
		}
	}
	return nil
}

// outputTensor is tensor name of a run's outputs, or an error naming it
// when the backend did not return it.
func outputTensor(out map[string]*onnx.Tensor, name string) (*onnx.Tensor, error) {
	t := out[name]
	if t == nil {
		return nil, fmt.Errorf("backend returned no tensor %q", name)
	}
	return t, nil
}

// ownData gives w elements of its own when they are still those of the
// initializer of its name in g (a clone made by CloneShared).
func ownData(g *onnx.Graph, w *onnx.Tensor) {
	o, ok := g.Initializers[w.Name]
	if !ok {
		return
	}
	a, ok1 := o.Data.([]float32)
	b, ok2 := w.Data.([]float32)
	if ok1 && ok2 && len(a) > 0 && len(b) > 0 && &a[0] == &b[0] {
		w.Data = slices.Clone(b)
		o.PageOut()
	}
}

// activationFactors derives every job's scale_d and offset_d from its
// calibrator and stores them in rec with the weight scales; it returns the
// histogram summaries by layer name.
func activationFactors(jobs []calibrationJob, cals map[calibratorKey]ActCalibrator, weightScales map[string][]float32, rec Record) (map[string]*ActHistogram, error) {
	hists := map[string]*ActHistogram{}
	summaries := map[calibratorKey]*ActHistogram{}
	for _, j := range jobs {
		sd, od, err := cals[j.cal].ScaleOffset(actParams(j.layer, j.lc))
		if err != nil {
			return nil, fmt.Errorf("layer %q: activation %q: %w", j.layer.Name, j.cal.tensor, err)
		}
		setQuantRecord(rec, j.layer.Name, sd, od, weightScales[j.layer.Name])
		if _, done := summaries[j.cal]; !done {
			summaries[j.cal] = summarizeCalibrator(cals[j.cal], j.cal, ActHistogramBins)
		}
		if sum := summaries[j.cal]; sum != nil {
			h := *sum // the counts are shared, read-only
			h.ClipLo, h.ClipHi = float64(sd)*float64(-128-od), float64(sd)*float64(127-od)
			hists[j.layer.Name] = &h
		}
	}
	return hists, nil
}

// actParams are the activation parameters layer l is calibrated with: its
// config's, made symmetric for a Conv3d, whose activations Ascend
// quantizes symmetrically only.
func actParams(l *Layer, lc *LayerConfig) ActParams {
	act := lc.Act
	if l.Type == "Conv" && l.Spatial == 3 {
		act.Asymmetric = false
	}
	return act
}

// checkCalibrateArgs checks Calibrate's arguments before any work.
func checkCalibrateArgs(cfg *Config, rec Record, data DataSource) error {
	if cfg == nil {
		return fmt.Errorf("calibrate: no quant config")
	}
	if rec == nil {
		return fmt.Errorf("calibrate: nil record; pass an empty Record")
	}
	if cfg.BatchNum < 1 {
		return fmt.Errorf("calibrate: batch_num %d must be at least 1", cfg.BatchNum)
	}
	if data == nil || data.Len() < cfg.BatchNum {
		have := 0
		if data != nil {
			have = data.Len()
		}
		return fmt.Errorf("calibrate: batch_num is %d but the data has %d batches", cfg.BatchNum, have)
	}
	return nil
}

// calibrationJob is one layer to calibrate, with its algorithms.
type calibrationJob struct {
	layer  *Layer
	lc     *LayerConfig
	node   *onnx.Node
	weight *onnx.Tensor
	act    *actAlgorithm
	wts    *weightAlgorithm
	cal    calibratorKey // the calibrator of its activation
}

// calibrationJobs checks the config of every active layer of g and returns
// their jobs, in order.
func calibrationJobs(g *onnx.Graph, active []*Layer, cfg *Config) ([]calibrationJob, error) {
	var jobs []calibrationJob
	for _, l := range active {
		lc := cfg.Layers[l.Name]
		n, w, err := layerWeight(g, l)
		if err != nil {
			return nil, err
		}
		if lc.Act.NumBits != 0 && lc.Act.NumBits != 8 || lc.Weight.NumBits != 0 && lc.Weight.NumBits != 8 {
			return nil, fmt.Errorf("layer %q: only 8-bit quantization is supported (activation %d, weight %d bits)", l.Name, lc.Act.NumBits, lc.Weight.NumBits)
		}
		act, err := lookupActAlgorithm(lc.Act.Algo)
		if err != nil {
			return nil, fmt.Errorf("layer %q: %w", l.Name, err)
		}
		if err := act.check(lc.Act); err != nil {
			return nil, fmt.Errorf("layer %q: %w", l.Name, err)
		}
		wts, err := lookupWeightAlgorithm(lc.Weight.Algo)
		if err != nil {
			return nil, fmt.Errorf("layer %q: %w", l.Name, err)
		}
		jobs = append(jobs, calibrationJob{l, lc, n, w, act, wts, act.key(n.Inputs[0], lc.Act)})
	}
	return jobs, nil
}

// setQuantRecord stores a layer's quantization factors in rec, next to
// what is there already: offset_w and shift_bit 0 per weight scale and
// INT8 types, as in AMCT's records.
func setQuantRecord(rec Record, layer string, scaleD float32, offsetD int32, scaleW []float32) {
	r := rec[layer]
	if r == nil {
		r = &LayerRecord{}
		rec[layer] = r
	}
	r.ScaleD, r.OffsetD = scaleD, offsetD
	r.ScaleW = scaleW
	r.OffsetW = make([]int32, len(scaleW))
	r.ShiftBit = make([]uint32, len(scaleW))
	r.ActType, r.WtsType = "INT8", "INT8"
	r.HasQuant = true
}

// tensorSink receives the observed tensors of batch i, one at a time. t
// may be valid only during the call (backend.Observer): a sink folds it
// into statistics and does not keep it.
type tensorSink func(i int, name string, t *onnx.Tensor) error

// runBatches prepares m on b with observe exposed and runs batches 0..n-1 of
// data, handing each batch's observed tensors to sink in batch order (in
// the order observe lists them, or as the engine computes them). A runner
// that implements backend.Observer hands them over as it computes them, so
// memory is that of one forward pass; otherwise each batch's result is
// passed on. With a concurrent backend up to Concurrency() batches run at
// once; at most that many results exist at any time, so memory does not
// grow with n.
func runBatches(b backend.Backend, m *onnx.Model, observe []string, data DataSource, n int, sink tensorSink) error {
	return runBatchesTo(b, m, observe, data, n, sink, nil)
}

// runBatchesTo is runBatches that, when whole is not nil, hands a runner's
// result to whole as it is instead of its tensors to sink one at a time.
func runBatchesTo(b backend.Backend, m *onnx.Model, observe []string, data DataSource, n int, sink tensorSink, whole func(i int, out map[string]*onnx.Tensor) error) (err error) {
	if b == nil {
		return fmt.Errorf("no backend")
	}
	observe = dedupe(observe)
	r, err := b.Prepare(m, observe)
	if err != nil {
		return fmt.Errorf("prepare model: %w", err)
	}
	defer func() {
		if cerr := r.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close runner: %w", cerr)
		}
	}()
	merge := func(i int, out map[string]*onnx.Tensor) error {
		for _, name := range observe {
			t, err := outputTensor(out, name)
			if err != nil {
				return err
			}
			if whole != nil {
				continue
			}
			if err := sink(i, name, t); err != nil {
				return err
			}
		}
		if whole != nil {
			return whole(i, out)
		}
		return nil
	}
	width := 1
	if c, ok := b.(backend.Concurrent); ok {
		width = max(1, c.Concurrency())
	}
	if width == 1 {
		obs, streams := r.(backend.Observer)
		for i := range n {
			in, err := data.Batch(i)
			if err != nil {
				return fmt.Errorf("batch %d: %w", i, err)
			}
			if streams {
				if _, err := obs.RunObserved(in, func(name string, t *onnx.Tensor) error { return sink(i, name, t) }); err != nil {
					return fmt.Errorf("batch %d: %w", i, err)
				}
				continue
			}
			out, err := r.Run(in)
			if err == nil {
				err = merge(i, out)
			}
			if err != nil {
				return fmt.Errorf("batch %d: %w", i, err)
			}
		}
		return nil
	}
	return runConcurrent(r, data, n, width, merge)
}

// runConcurrent runs batches 0..n-1 of data on r, up to width at once,
// and merges their results in batch order.
func runConcurrent(r backend.Runner, data DataSource, n, width int, merge func(i int, out map[string]*onnx.Tensor) error) error {
	type result struct {
		out map[string]*onnx.Tensor
		err error
	}
	pending := make([]chan result, n)
	start := func(i int) {
		ch := make(chan result, 1)
		pending[i] = ch
		// Batches are fetched here, one at a time and in order: a data
		// source need not be safe for concurrent use, and progress
		// reporting counts on the order. Only the runs overlap.
		in, err := data.Batch(i)
		if err != nil {
			ch <- result{nil, fmt.Errorf("batch %d: %w", i, err)}
			return
		}
		go func() {
			out, err := r.Run(in)
			if err != nil {
				err = fmt.Errorf("batch %d: %w", i, err)
			}
			ch <- result{out, err}
		}()
	}
	for i := range min(width, n) {
		start(i)
	}
	var firstErr error
	for i := range n {
		if pending[i] == nil {
			break // not started because an earlier batch failed
		}
		res := <-pending[i]
		pending[i] = nil
		if firstErr != nil {
			continue // drain batches already in flight
		}
		if res.err != nil {
			firstErr = res.err
		} else if err := merge(i, res.out); err != nil {
			firstErr = fmt.Errorf("batch %d: %w", i, err)
		}
		if firstErr == nil && i+width < n {
			start(i + width)
		}
	}
	return firstErr
}
