package quant

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"amq/backend"
	"amq/npy"
	"amq/onnx"
)

// failFake is a backend that fails to prepare the fake-quant model, after
// the flow has saved everything into its temporary folder.
type failFake struct{ backend.Backend }

func (b failFake) Prepare(m *onnx.Model, observe []string) (backend.Runner, error) {
	for _, n := range m.Graph.Nodes {
		if strings.HasSuffix(n.Name, ".quant.Clip") {
			return nil, errors.New("injected failure")
		}
	}
	return b.Backend.Prepare(m, observe)
}

func TestRunFlowFailureLeavesNoFiles(t *testing.T) {
	t.Parallel()
	m, _ := calibModel()
	dir := t.TempDir()
	_, err := RunFlow(m, failFake{testSim}, calibData(3, 2), filepath.Join(dir, "out", "m"), QuantizeOptions{})
	if err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("error %v, want the injected failure", err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "out"))
	if len(entries) != 0 {
		t.Errorf("a failed run left %d entries: %v", len(entries), entries[0].Name())
	}
}

// TestRunFlowReportsFactorsBalanceAndSQNR checks the report of a run with DMQ on some layers:
// factors from the record, balance only where configured, SQNR computed
// independently here from the two models' layer outputs.
func TestRunFlowReportsFactorsBalanceAndSQNR(t *testing.T) {
	t.Parallel()
	m, layers := calibModel()
	data := calibData(5, 3)
	cfg := calibConfig(layers, 3)
	prefix := filepath.Join(t.TempDir(), "m")
	rep, err := RunFlow(m, testSim, data, prefix, QuantizeOptions{Config: cfg, EvalBatches: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Layers) != 3 || rep.Batches != 3 || rep.EvalBatches != 3 {
		t.Fatalf("%d layers on %d batches, evaluated on %d, want 3 on 3 and 3", len(rep.Layers), rep.Batches, rep.EvalBatches)
	}
	fake, err := onnx.LoadFile(rep.FakeQuantPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range rep.Layers {
		r := rep.Record[l.Name]
		if l.ScaleD != r.ScaleD || l.OffsetD != r.OffsetD || !equalF(l.ScaleW, r.ScaleW) {
			t.Errorf("%s: report and record disagree", l.Name)
		}
		wantBal := "none"
		if cfg.Layers[l.Name].DMQ != nil {
			wantBal = "Mul"
		}
		if l.Balance.String() != wantBal {
			t.Errorf("%s: balance %q, want %q", l.Name, l.Balance, wantBal)
		}
		// SQNR over the three batches, from the models run here.
		out := m.Graph.Node(l.Name).Outputs[0]
		var sig, noise float64
		for _, in := range data {
			y := runSimFetch(t, m, in, out)
			yq := runSimFetch(t, fake, in, out)
			for k, v := range y {
				sig += float64(v) * float64(v)
				noise += (float64(v) - float64(yq[k])) * (float64(v) - float64(yq[k]))
			}
		}
		want := 10 * math.Log10(sig/noise)
		if math.Abs(l.SQNR-want) > 1e-6*math.Abs(want) {
			t.Errorf("%s: SQNR %v dB, want %v", l.Name, l.SQNR, want)
		}
		t.Logf("%s: balance %s, SQNR %.2f dB", l.Name, l.Balance, l.SQNR)
	}
	if cfg.Layers["c1"].DMQ != nil {
		t.Error("RunFlow changed the caller's config")
	}
}

func runSimFetch(t *testing.T, m *onnx.Model, in map[string]*onnx.Tensor, name string) []float32 {
	t.Helper()
	r, err := testSim.Prepare(m, []string{name})
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	return out[name].Floats()
}

// TestRunFlowFoldsJointFactorsIntoLayerNorm: on the op17 transformer, joint factors let the
// balance of q, k, v and fc1 fold into the LayerNormalization in front of
// them; the result is as good as with AMCT's Mul.
func TestRunFlowFoldsJointFactorsIntoLayerNorm(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(quantFixtures, "transformer")
	m, err := onnx.LoadFile(filepath.Join(dir, "model_op17.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	calib, err := npy.ReadFile(filepath.Join(dir, "calib.npy"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := NewTensorSource(map[string]*onnx.Tensor{"input": calib}, 64)
	if err != nil {
		t.Fatal(err)
	}
	simple, err := LoadSimpleConfig(filepath.Join(quantFixtures, "dmq.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := RunFlow(m, testSim, data, filepath.Join(t.TempDir(), "m"), QuantizeOptions{Simple: simple, Joint: true, Fold: true})
	if err != nil {
		t.Fatal(err)
	}
	folded := 0
	for _, l := range rep.Layers {
		if strings.HasPrefix(l.Balance.String(), "folded into ") {
			folded++
			if !strings.HasSuffix(l.Balance.String(), "LayerNormalization") {
				t.Errorf("%s: %s", l.Name, l.Balance)
			}
		}
	}
	for _, l := range rep.Layers {
		if l.Balance.Note != "" {
			t.Logf("%s: %s", l.Name, l.Balance.Note)
		}
	}
	// fc1 of both blocks reads a LayerNorm output that nothing else reads.
	// q, k and v read one that a Shape node reads too (torch exports
	// x.shape), which balance.go does not fold into (yet); they keep the
	// Mul and say why.
	for _, name := range []string{"/blocks/blocks.0/fc1/MatMul", "/blocks/blocks.1/fc1/MatMul"} {
		if l := findReport(rep, name); l == nil || !strings.HasPrefix(l.Balance.String(), "folded into ") {
			t.Errorf("%s not folded", name)
		}
	}
	for _, name := range []string{"/blocks/blocks.0/attn/q/MatMul", "/blocks/blocks.1/attn/v/MatMul"} {
		if l := findReport(rep, name); l == nil || l.Balance.Kind != BalanceMul || l.Balance.Note == "" {
			t.Errorf("%s: want a Mul and a note saying why it was not folded", name)
		}
	}
	db := rep.Outputs["output"]
	t.Logf("joint factors folded into LayerNorm: %d layers, output SQNR %.1f dB on the calibration batch", folded, db)
	if db < 25 {
		t.Errorf("output SQNR %.1f dB with folded balance, want >= 25", db)
	}
}

func findReport(rep *QuantizeReport, name string) *LayerReport {
	for i := range rep.Layers {
		if rep.Layers[i].Name == name {
			return &rep.Layers[i]
		}
	}
	return nil
}

// flowPeak runs the whole flow on n generated batches of 8 samples and
// returns the peak live heap seen when batches are requested.
func flowPeak(tb testing.TB, n int) uint64 { return flowPeakWith(tb, n, QuantizeOptions{}) }

// flowPeakWith is flowPeak with more options (Config and BatchNum are set).
func flowPeakWith(tb testing.TB, n int, opt QuantizeOptions) uint64 {
	b := newBuilder(4)
	x := b.input("x", 8, 16, 32, 32)
	c1 := b.node("Conv", "c1", map[string]any{"pads": []int64{1, 1, 1, 1}}, x, b.init("w1", 0.2, 0, 16, 16, 3, 3))
	r := b.node("Relu", "r", nil, c1)
	c2 := b.node("Conv", "c2", nil, r, b.init("w2", 0.2, 0, 4, 16, 1, 1))
	m := b.model(c2)
	layers := []*Layer{layer(m, "c1"), layer(m, "c2")}
	cfg := testConfig(layers, true)
	cfg.Layers["c2"].Act = hfmgParams(8192, true)
	var peak uint64
	opt.Config, opt.BatchNum = cfg, n
	_, err := RunFlow(m, testSim, genData{n: n, batch: 8, peak: &peak}, filepath.Join(tb.TempDir(), "m"), opt)
	if err != nil {
		tb.Fatal(err)
	}
	return peak
}

// BenchmarkQuantizeBatches reports the peak live heap of the whole flow for
// 4 and 64 calibration batches.
func BenchmarkQuantizeBatches(b *testing.B) {
	for _, n := range []int{4, 64} {
		b.Run(fmt.Sprintf("batches=%d", n), func(b *testing.B) {
			var peak uint64
			for b.Loop() {
				peak = max(peak, flowPeak(b, n))
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
		})
	}
}

// TestRunFlowLeavesNoFileWhenOneCannotBeReplaced checks the promise that
// the output files are all written or none: when one destination cannot be
// replaced (here it is a folder), RunFlow may not leave the others in
// place.
func TestRunFlowLeavesNoFileWhenOneCannotBeReplaced(t *testing.T) {
	t.Parallel()
	m, _ := calibModel()
	prefix := filepath.Join(t.TempDir(), "m")
	// The record sorts last among RunFlow's four files.
	if err := os.MkdirAll(prefix+"_record.txt/x", 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := RunFlow(m, testSim, calibData(3, 2), prefix, QuantizeOptions{NoEval: true})
	if err == nil || !strings.Contains(err.Error(), "_record.txt") {
		t.Errorf("RunFlow onto a folder named like the record: error %v, want one naming it", err)
	}
	for _, s := range []string{"_deploy_model.onnx", "_fake_quant_model.onnx", "_quant_config.json"} {
		if _, err := os.Stat(prefix + s); err == nil {
			t.Errorf("RunFlow failed but left %s", prefix+s)
		}
	}
}

// TestRunFlowReportsTheStatisticsBehindTheFactors checks what RunFlow
// reports besides the factors, against values computed here from the data
// and the weights: per-channel max|X| of each balanced layer's activation
// and max|W| per input channel before the balance, the factors of the
// record and the maxima after the balance (X/s, W·s); each layer's
// activation histogram (the balanced activation's, its clip range from the
// record); the batch size and the phases.
func TestRunFlowReportsTheStatisticsBehindTheFactors(t *testing.T) {
	t.Parallel()
	m := dmqModel()
	rng := rand.New(rand.NewPCG(9, 9))
	var data sliceData
	for range 3 {
		data = append(data, map[string]*onnx.Tensor{"x": randInput(rng, -1, 4, 6), "y": randInput(rng, 1, 2, 4, 5, 5)})
	}
	layers := []*Layer{layer(m, "a"), layer(m, "b"), layer(m, "c")}
	cfg := testConfig(layers, true)
	cfg.BatchNum = 3
	cfg.Layers["b"].DMQ.MigrationStrength = 0.7
	rep, err := RunFlow(m, testSim, data, filepath.Join(t.TempDir(), "m"), QuantizeOptions{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	// Maxima straight from the batches and the initializers.
	xmax, ymax := make([]float64, 6), make([]float64, 4)
	for _, d := range data {
		for i, v := range d["x"].Floats() {
			xmax[i%6] = max(xmax[i%6], math.Abs(float64(v)))
		}
		for i, v := range d["y"].Floats() {
			ymax[(i/25)%4] = max(ymax[(i/25)%4], float64(max(v, 0))) // after Relu
		}
	}
	wamax, wbmax, wcmax := make([]float64, 6), make([]float64, 6), make([]float64, 4)
	for i, v := range m.Graph.Initializers["wa"].Floats() { // [6,3]
		wamax[i/3] = max(wamax[i/3], math.Abs(float64(v)))
	}
	for i, v := range m.Graph.Initializers["wb"].Floats() { // [5,6], transB
		wbmax[i%6] = max(wbmax[i%6], math.Abs(float64(v)))
	}
	for i, v := range m.Graph.Initializers["wc"].Floats() { // [6,2,3,3], group 2
		o, jl := i/18, (i/9)%2
		wcmax[(o/3)*2+jl] = max(wcmax[(o/3)*2+jl], math.Abs(float64(v)))
	}
	want := map[string]struct {
		tensor     string
		alpha      float64
		xmax, wmax []float64
	}{"a": {"x", 0.5, xmax, wamax}, "b": {"x", 0.7, xmax, wbmax}, "c": {"r_out", 0.5, ymax, wcmax}}
	for _, l := range rep.Layers {
		w, s, r := want[l.Name], l.BalanceStats, rep.Record[l.Name]
		if s == nil {
			t.Fatalf("%s: no balance statistics", l.Name)
		}
		if s.Tensor != w.tensor || s.Alpha != w.alpha || !slices.Equal(s.XMax, w.xmax) || !slices.Equal(s.WMax, w.wmax) {
			t.Errorf("%s: tensor %q alpha %v\nx_max %v\nw_max %v\nwant %q %v\n%v\n%v", l.Name, s.Tensor, s.Alpha, s.XMax, s.WMax, w.tensor, w.alpha, w.xmax, w.wmax)
		}
		if !equalF(s.Factors, r.BalanceFactor) {
			t.Errorf("%s: factors %v, record %v", l.Name, s.Factors, r.BalanceFactor)
		}
		bx, bw := s.BalancedXMax(), s.BalancedWMax()
		for j := range w.xmax {
			if bx[j] != w.xmax[j]/float64(r.BalanceFactor[j]) || bw[j] != w.wmax[j]*float64(r.BalanceFactor[j]) {
				t.Errorf("%s channel %d: after balance x %v w %v, want %v %v", l.Name, j, bx[j], bw[j], w.xmax[j]/float64(r.BalanceFactor[j]), w.wmax[j]*float64(r.BalanceFactor[j]))
			}
		}
		h := l.Histogram
		if h == nil {
			t.Fatalf("%s: no histogram", l.Name)
		}
		var sum int64
		for _, c := range h.Counts {
			sum += c
		}
		// Layer a reads x[4,6] through its balance Mul; c reads Relu(y)[2,4,5,5].
		values := map[string]int64{"a": 3 * 24, "b": 3 * 24, "c": 3 * 200}[l.Name]
		if h.N != values || sum != values || len(h.Counts) > ActHistogramBins {
			t.Errorf("%s: histogram of %d values in %d bins summing to %d, want %d", l.Name, h.N, len(h.Counts), sum, values)
		}
		if !strings.HasPrefix(h.Tensor, l.Name+".dmq_balance.output") {
			t.Errorf("%s: histogram of %q, want the balance Mul's output", l.Name, h.Tensor)
		}
		if h.ClipLo != float64(r.ScaleD)*float64(-128-r.OffsetD) || h.ClipHi != float64(r.ScaleD)*float64(127-r.OffsetD) {
			t.Errorf("%s: clip range [%v, %v] for scale_d %v offset_d %d", l.Name, h.ClipLo, h.ClipHi, r.ScaleD, r.OffsetD)
		}
	}
	// Balanced x of layer a: max over all values of |x_j| / s_j.
	ha, sa := rep.Layers[0].Histogram, rep.Record["a"].BalanceFactor
	var lo, hi float64
	for _, d := range data {
		for i, v := range d["x"].Floats() {
			b := float64(v * float32(1/float64(sa[i%6])))
			lo, hi = min(lo, b), max(hi, b)
		}
	}
	if math.Abs(ha.Min-lo) > 1e-6*math.Abs(lo) || math.Abs(ha.Max-hi) > 1e-6*hi {
		t.Errorf("a: histogram range [%v, %v], want [%v, %v]", ha.Min, ha.Max, lo, hi)
	}
	if rep.BatchSize != 4 {
		t.Errorf("batch size %d, want 4 (axis 0 of x)", rep.BatchSize)
	}
	var names []string
	for _, p := range rep.Phases {
		names = append(names, p.Name)
		if p.Time <= 0 {
			t.Errorf("phase %s took %v", p.Name, p.Time)
		}
	}
	if want := []string{"prepare", "preprocess", "calibrate", "write", "evaluate"}; !slices.Equal(names, want) {
		t.Errorf("phases %v, want %v", names, want)
	}
}

// TestRunFlowCommitsBeforeCommitFilesWithTheOutputs: files written by the
// BeforeCommit hook appear with the four outputs, and a hook error leaves
// none of them.
func TestRunFlowCommitsBeforeCommitFilesWithTheOutputs(t *testing.T) {
	t.Parallel()
	m, _ := calibModel()
	dir := t.TempDir()
	var seen *QuantizeReport
	hook := func(rep *QuantizeReport, path func(string) string) error {
		seen = rep
		return os.WriteFile(path("m_extra.txt"), []byte("x"), 0o644)
	}
	rep, err := RunFlow(m, testSim, calibData(3, 2), filepath.Join(dir, "m"), QuantizeOptions{NoEval: true, BeforeCommit: hook})
	if err != nil {
		t.Fatal(err)
	}
	if seen != rep {
		t.Error("the hook did not get the report RunFlow returned")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "m_extra.txt")); err != nil || string(b) != "x" {
		t.Errorf("hook's file: %q, %v", b, err)
	}
	bad := t.TempDir()
	_, err = RunFlow(m, testSim, calibData(3, 2), filepath.Join(bad, "m"), QuantizeOptions{NoEval: true,
		BeforeCommit: func(rep *QuantizeReport, path func(string) string) error {
			os.WriteFile(path("m_extra.txt"), []byte("x"), 0o644)
			return errors.New("injected report failure")
		}})
	if err == nil || !strings.Contains(err.Error(), "injected report failure") {
		t.Fatalf("error %v, want the hook's", err)
	}
	if entries, _ := os.ReadDir(bad); len(entries) != 0 {
		t.Errorf("a failed hook left %d entries, first %s", len(entries), entries[0].Name())
	}
}

// TestRunFlowRefusesAnUnwritableOutputBeforeAnyForwardPass checks that an
// output prefix whose folder cannot be created fails the run before the
// backend runs anything.
func TestRunFlowRefusesAnUnwritableOutputBeforeAnyForwardPass(t *testing.T) {
	t.Parallel()
	m, _ := calibModel()
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	b := &countingBackend{Backend: testSim}
	_, err := RunFlow(m, b, calibData(3, 2), filepath.Join(file, "out", "m"), QuantizeOptions{})
	if err == nil {
		t.Fatal("RunFlow wrote under a file")
	}
	if b.prepared != 0 {
		t.Errorf("the backend prepared %d models before the output folder was refused: %v", b.prepared, err)
	}
}

// TestRunFlowEvaluatesOneBatchIn20ByDefault: the SQNR evaluation, two
// forward passes per batch, runs on the first batch_num/20 batches (at
// least one) unless told otherwise, so that it costs at most a tenth of
// the flow; the SQNR is that of those batches.
func TestRunFlowEvaluatesOneBatchIn20ByDefault(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]int{1: 1, 19: 1, 20: 1, 40: 2, 64: 3} {
		if got := DefaultEvalBatches(n); got != want {
			t.Errorf("DefaultEvalBatches(%d) = %d, want %d", n, got, want)
		}
	}
	m, layers := calibModel()
	data := calibData(5, 3)
	evaluated := 0
	opt := QuantizeOptions{Config: calibConfig(layers, 3), Progress: func(step string, done, total int) {
		if step == "evaluate" {
			evaluated = max(evaluated, done)
		}
	}}
	rep, err := RunFlow(m, testSim, data, filepath.Join(t.TempDir(), "m"), opt)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Batches != 3 || rep.EvalBatches != 1 || evaluated != 1 {
		t.Fatalf("calibrated on %d batches, evaluated on %d (progress %d), want 3 and 1", rep.Batches, rep.EvalBatches, evaluated)
	}
	fake, err := onnx.LoadFile(rep.FakeQuantPath)
	if err != nil {
		t.Fatal(err)
	}
	out := m.Graph.Outputs[0].Name
	if want := outputSQNR(t, m, fake, data[0], out); math.Abs(rep.Outputs[out]-want) > 1e-6*math.Abs(want) {
		t.Errorf("output SQNR %v dB, want %v on the first batch", rep.Outputs[out], want)
	}
}

// outputSQNR is the SQNR in dB of tensor out of the fake-quant model fake
// against that of the float model m, both run here on in.
func outputSQNR(t *testing.T, m, fake *onnx.Model, in map[string]*onnx.Tensor, out string) float64 {
	t.Helper()
	y, yq := runSimFetch(t, m, in, out), runSimFetch(t, fake, in, out)
	var sig, noise float64
	for k, v := range y {
		sig += float64(v) * float64(v)
		noise += (float64(v) - float64(yq[k])) * (float64(v) - float64(yq[k]))
	}
	return 10 * math.Log10(sig/noise)
}

// TestRunFlowSameWithOrWithoutObserver: the whole flow gives the same
// record and SQNRs whether the backend hands observed tensors over as it
// computes them (backend.Observer, sim) or returns them with each batch.
func TestRunFlowSameWithOrWithoutObserver(t *testing.T) {
	t.Parallel()
	m, layers := calibModel()
	data := calibData(5, 3)
	var reps []*QuantizeReport
	for _, b := range []backend.Backend{testSim, runOnly{testSim}} {
		rep, err := RunFlow(m, b, data, filepath.Join(t.TempDir(), "m"), QuantizeOptions{Config: calibConfig(layers, 3), EvalBatches: 3, BiasCorrect: true})
		if err != nil {
			t.Fatal(err)
		}
		reps = append(reps, rep)
	}
	if !reflect.DeepEqual(reps[0].Record, reps[1].Record) {
		t.Error("records differ")
	}
	if !reflect.DeepEqual(reps[0].Outputs, reps[1].Outputs) || len(reps[0].Outputs) == 0 {
		t.Errorf("output SQNRs %v and %v", reps[0].Outputs, reps[1].Outputs)
	}
	for i, l := range reps[0].Layers {
		if l.SQNR != reps[1].Layers[i].SQNR || math.IsNaN(l.SQNR) {
			t.Errorf("layer %s: SQNR %v and %v", l.Name, l.SQNR, reps[1].Layers[i].SQNR)
		}
	}
}

// TestRunFlowLeavesTheCallersWeightsAlone checks that no step writes into
// a weight of the caller's model: the flow's copies share its elements
// (onnx.Model.CloneShared), so a step that wrote in place would change it.
func TestRunFlowLeavesTheCallersWeightsAlone(t *testing.T) {
	t.Parallel()
	simple, err := LoadSimpleConfig(filepath.Join(quantFixtures, "dmq.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, dir, model, input string
		opt                     QuantizeOptions
	}{
		{"dmq", "transformer", "model_op17.onnx", "input", QuantizeOptions{Simple: simple}},
		{"joint fold", "transformer", "model_op17.onnx", "input", QuantizeOptions{Simple: simple, Joint: true, Fold: true}},
		{"bias correction", "transformer", "model_op17.onnx", "input", QuantizeOptions{Simple: simple, BiasCorrect: true, BatchNum: 2}},
		{"alpha search", "transformer", "model_op17.onnx", "input", QuantizeOptions{Alpha: DefaultAlphaSearch()}},
		{"conv+bn fusion", "cnn", "model_op13_bn.onnx", "input", QuantizeOptions{Simple: simple}},
	}
	for _, c := range cases {
		m, err := onnx.LoadFile(filepath.Join(quantFixtures, c.dir, c.model))
		if err != nil {
			t.Fatal(err)
		}
		before, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		calib, err := npy.ReadFile(filepath.Join(quantFixtures, c.dir, "calib.npy"))
		if err != nil {
			t.Fatal(err)
		}
		data, err := NewTensorSource(map[string]*onnx.Tensor{c.input: calib}, 32)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := RunFlow(m, testSim, data, filepath.Join(t.TempDir(), "m"), c.opt); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		after, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) {
			t.Errorf("%s: RunFlow changed the caller's model", c.name)
		}
	}
}
