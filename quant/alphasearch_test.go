package quant

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"amq/npy"
	"amq/onnx"
)

// outlierGemm is x[rows, 8] -> Gemm(W[8, 6], b) whose activation channel 3
// is 60 times larger than the others, as after an LLM's LayerNorm: without
// balance one int8 scale spends its levels on that channel.
func outlierGemm(seed uint64, rows int) (*onnx.Model, sliceData) {
	b := newBuilder(seed)
	x := b.input("x", rows, 8)
	y := b.node("Gemm", "fc", nil, x, b.init("w", 0.3, 0, 8, 6), b.init("bias", 0.1, 0, 6))
	m := b.model(y)
	rng := rand.New(rand.NewPCG(seed, 7))
	var data sliceData
	for range 4 {
		d := make([]float32, rows*8)
		for i := range d {
			d[i] = float32(rng.NormFloat64())
			if i%8 == 3 {
				d[i] *= 60
			}
		}
		data = append(data, map[string]*onnx.Tensor{"x": onnx.NewTensor([]int{rows, 8}, d)})
	}
	return m, data
}

// searchConfig enables layers with IFMR defaults and the default α search.
func searchConfig(layers []*Layer, batches int) *Config {
	cfg := testConfig(layers, false)
	cfg.BatchNum = batches
	if err := cfg.UseAlphaSearch(DefaultAlphaSearch()); err != nil {
		panic(err)
	}
	return cfg
}

// candidate returns the candidate of strength a (or no balance) of c.
func candidate(t *testing.T, c *AlphaChoice, none bool, a float64) AlphaCandidate {
	t.Helper()
	i := slices.IndexFunc(c.Candidates, func(x AlphaCandidate) bool { return x.None == none && (none || x.Alpha == a) })
	if i < 0 {
		t.Fatalf("no candidate none=%v α=%g in %v", none, a, c.Candidates)
	}
	return c.Candidates[i]
}

// TestAlphaSearchBalancesAnOutlierChannel: on a layer with an outlier
// activation channel, α = 0.5 has a far smaller error than no balance, and
// the search picks a balance, writes its factors as the record's
// tensor_balance_factor and reports them.
func TestAlphaSearchBalancesAnOutlierChannel(t *testing.T) {
	t.Parallel()
	m, data := outlierGemm(3, 16)
	layers := []*Layer{layer(m, "fc")}
	rec, choices, err := PreprocessChoices(m, layers, searchConfig(layers, 4), testSim, data, DMQOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := choices["fc"]
	if c == nil || c.None || len(c.Candidates) != 21 || c.Rows != 64 {
		t.Fatalf("choice %+v, want a strength among 21 candidates on 64 rows", c)
	}
	none, half := candidate(t, c, true, 0), candidate(t, c, false, 0.5)
	t.Logf("chose α %s; MSE without balance %.3g, with α 0.5 %.3g", c, none.MSE, half.MSE)
	if !(none.MSE > 3*half.MSE) {
		t.Errorf("MSE without balance %g, with α 0.5 %g: want the outlier to make balance 3x better", none.MSE, half.MSE)
	}
	for _, x := range c.Candidates {
		if x.MSE < candidate(t, c, false, c.Alpha).MSE {
			t.Errorf("candidate %s has MSE %g, below the chosen %s's", x, x.MSE, c)
		}
	}
	wmax := make([]float64, 8)
	w, _ := m.Graph.Constant("w")
	for i, v := range w.Floats() {
		wmax[i/6] = max(wmax[i/6], math.Abs(float64(v)))
	}
	if want := BalanceFactors(rowMax(data, 8), wmax, c.Alpha); !slices.Equal(rec["fc"].BalanceFactor, want) {
		t.Errorf("record factors %v, want those of α %s: %v", rec["fc"].BalanceFactor, c, want)
	}
}

// rowMax is max|x_j| over every row of every batch of data's input "x".
func rowMax(data sliceData, ch int) []float64 {
	m := make([]float64, ch)
	for _, d := range data {
		for i, v := range d["x"].Floats() {
			m[i%ch] = max(m[i%ch], math.Abs(float64(v)))
		}
	}
	return m
}

// TestAlphaSearchErrorIsTheQuantizedLayersError recomputes one candidate's
// error by hand: the factors from the data's channel maxima, X/s in
// float32, scale_d and offset_d by IFMR on the histogram of X/s, scale_w by
// ARQ's rule on W·s, the fake-quant arithmetic of the activation (float32
// multiply, add, round half to even, clip), the integer weights and bias,
// and the MSE against the float layer over every row.
func TestAlphaSearchErrorIsTheQuantizedLayersError(t *testing.T) {
	t.Parallel()
	m, data := outlierGemm(5, 16)
	layers := []*Layer{layer(m, "fc")}
	cfg := searchConfig(layers, 4)
	_, choices, err := PreprocessChoices(m, layers, cfg, testSim, data, DMQOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const alpha = 0.35
	got := candidate(t, choices["fc"], false, alpha).MSE

	w, _ := m.Graph.Constant("w")
	bias, _ := m.Graph.Constant("bias")
	W, B := w.Floats(), bias.Floats()
	const K, N = 8, 6
	xmax, wmax := rowMax(data, K), make([]float64, K)
	for i, v := range W {
		wmax[i/N] = max(wmax[i/N], math.Abs(float64(v)))
	}
	inv := make([]float32, K)
	ws := make([]float64, len(W)) // W·s, rounded to float32 as the model holds it
	for j := range K {
		s := float32(math.Pow(xmax[j], alpha) / math.Pow(wmax[j], 1-alpha))
		inv[j] = float32(1 / float64(s))
		for n := range N {
			ws[j*N+n] = float64(float32(float64(W[j*N+n]) * float64(s)))
		}
	}
	var xs []float32
	for _, d := range data {
		for i, v := range d["x"].Floats() {
			xs = append(xs, v*inv[i%K])
		}
	}
	h := NewHistogram(searchIFMRBins)
	if err := h.Add(xs); err != nil {
		t.Fatal(err)
	}
	sd, od, err := IFMR(h, cfg.Layers["fc"].Act)
	if err != nil {
		t.Fatal(err)
	}
	var wlo, whi float64
	for _, v := range ws {
		wlo, whi = min(wlo, v), max(whi, v)
	}
	div := 127.0
	if -wlo > whi {
		div = 128
	}
	sw := float32(max(-wlo, whi) / div)
	d := float32(float64(sd) * float64(sw))
	invD, off := float32(1/float64(sd)), float32(od)
	var sse float64
	var n int
	rows := 0
	for _, bt := range data {
		x := bt["x"].Floats()
		for r := range len(x) / K {
			q := make([]float64, K)
			for j := range K {
				y := xs[(rows+r)*K+j]*invD + off // float32, as Mul then Add
				q[j] = max(-128, min(127, math.RoundToEven(float64(y)))) - float64(off)
			}
			for o := range N {
				acc := math.RoundToEven(float64(B[o]) / float64(d))
				ref := float64(B[o])
				for j := range K {
					acc += q[j] * max(-128, min(127, math.RoundToEven(ws[j*N+o]/float64(sw))))
					ref += float64(x[r*K+j]) * float64(W[j*N+o])
				}
				sse += sq(float64(float32(acc)*d) - ref)
				n++
			}
		}
		rows += len(x) / K
	}
	want := sse / float64(n)
	t.Logf("α %g: MSE %.6g by the search, %.6g by hand (scale_d %g, offset_d %d, scale_w %g)", alpha, got, want, sd, od, sw)
	if math.Abs(got-want) > 1e-5*want {
		t.Errorf("α %g: the search reports MSE %.9g, by hand %.9g", alpha, got, want)
	}
}

// TestAlphaSearchDoesNotDependOnTheBatching: the same rows in 1, 4 or 16
// batches give the same choices and errors (every row fits in the
// reservoir, and the candidates' histograms are built from it), and a run
// over more rows than the reservoir holds is reproducible.
func TestAlphaSearchDoesNotDependOnTheBatching(t *testing.T) {
	t.Parallel()
	m, data := outlierGemm(9, 16)
	m.Graph.Inputs[0].Shape[0] = onnx.Dim{Param: "rows"}
	var all []float32
	for _, d := range data {
		all = append(all, d["x"].Floats()...)
	}
	layers := []*Layer{layer(m, "fc")}
	var ref *AlphaChoice
	for _, batches := range []int{1, 4, 16} {
		src, err := NewTensorSource(map[string]*onnx.Tensor{"x": onnx.NewTensor([]int{64, 8}, all)}, 64/batches)
		if err != nil {
			t.Fatal(err)
		}
		_, choices, err := PreprocessChoices(m, layers, searchConfig(layers, batches), testSim, src, DMQOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c := choices["fc"]
		if ref == nil {
			ref = c
			continue
		}
		for i := range c.Candidates {
			if c.Candidates[i] != ref.Candidates[i] {
				t.Errorf("%d batches: candidate %v, one batch: %v", batches, c.Candidates[i], ref.Candidates[i])
			}
		}
	}
	// 4 batches of 1024 rows: twice what the reservoir keeps.
	big, bigData := outlierGemm(9, 1024)
	bl := []*Layer{layer(big, "fc")}
	_, c1, err := PreprocessChoices(big, bl, searchConfig(bl, 4), testSim, bigData, DMQOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, c2, err := PreprocessChoices(big, bl, searchConfig(bl, 4), testSim, bigData, DMQOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c1["fc"].Rows != reservoirRows || !slices.Equal(c1["fc"].Candidates, c2["fc"].Candidates) {
		t.Errorf("two runs on %d rows: %d rows evaluated, candidates %v and %v", 4*1024, c1["fc"].Rows, c1["fc"].Candidates, c2["fc"].Candidates)
	}
}

// twoReaders is x -> LayerNormalization-like outlier input read by two
// Gemms, for the joint search.
func twoReaders() (*onnx.Model, sliceData) {
	b := newBuilder(12)
	x := b.input("x", 16, 8)
	y1 := b.node("Gemm", "q", nil, x, b.init("wq", 0.3, 0, 8, 6))
	y2 := b.node("Gemm", "k", nil, x, b.init("wk", 0.05, 0, 8, 6))
	m := b.model(y1, y2)
	_, data := outlierGemm(12, 16)
	return m, data
}

// TestAlphaSearchJointGivesTheReadersOfATensorOneChoice: with Joint, the
// layers reading one tensor share one choice, evaluated on both outputs,
// and get equal factors; a reader of that tensor with a fixed strength is
// an error before any batch runs.
func TestAlphaSearchJointGivesTheReadersOfATensorOneChoice(t *testing.T) {
	t.Parallel()
	m, data := twoReaders()
	layers := []*Layer{layer(m, "q"), layer(m, "k")}
	rec, choices, err := PreprocessChoices(m, layers, searchConfig(layers, 4), testSim, data, DMQOptions{Joint: true})
	if err != nil {
		t.Fatal(err)
	}
	if choices["q"] != choices["k"] || !slices.Equal(choices["q"].Layers, []string{"q", "k"}) {
		t.Fatalf("joint choices %+v and %+v, want one for both layers", choices["q"], choices["k"])
	}
	if !slices.Equal(rec["q"].BalanceFactor, rec["k"].BalanceFactor) {
		t.Errorf("joint factors differ: %v and %v", rec["q"].BalanceFactor, rec["k"].BalanceFactor)
	}
	cfg := searchConfig(layers, 4)
	cfg.Layers["k"].AlphaSearch, cfg.Layers["k"].DMQ = nil, &DMQParams{MigrationStrength: 0.5}
	b := &countingBackend{Backend: testSim}
	_, err = PreprocessWith(m, layers, cfg, b, data, DMQOptions{Joint: true})
	if err == nil || !strings.Contains(err.Error(), "joint factors need one setting") || b.prepared != 0 {
		t.Errorf("a joint tensor read with a fixed strength and a search: err %v after %d models prepared", err, b.prepared)
	}
}

// TestAlphaSearchRecordsNoBalanceAsAnEntryWithoutFactors: a layer with one
// input channel gains nothing from balance (only float rounding changes),
// so no balance wins; its record entry has no factors, survives the record
// file, and the deploy model has no balance Mul. Calibration with the
// search's config refuses a record without the entry.
func TestAlphaSearchRecordsNoBalanceAsAnEntryWithoutFactors(t *testing.T) {
	t.Parallel()
	b := newBuilder(4)
	x := b.input("x", 2, 1, 6, 6)
	c := b.node("Conv", "c", map[string]any{"pads": []int64{1, 1, 1, 1}}, x, b.init("w", 0.5, 0, 4, 1, 3, 3))
	m := b.model(c)
	rng := rand.New(rand.NewPCG(1, 1))
	var data sliceData
	for range 3 {
		data = append(data, map[string]*onnx.Tensor{"x": randInput(rng, 1, 2, 1, 6, 6)})
	}
	layers := []*Layer{layer(m, "c")}
	cfg := searchConfig(layers, 3)
	rep, err := RunFlow(m, testSim, data, filepath.Join(t.TempDir(), "m"), QuantizeOptions{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	l := rep.Layers[0]
	if l.Alpha == nil || !l.Alpha.None || l.Balance.Kind != "" || l.BalanceStats != nil {
		t.Fatalf("one input channel: choice %v, balance %q, stats %v; want no balance", l.Alpha, l.Balance, l.BalanceStats)
	}
	back, err := ReadRecord(rep.RecordPath)
	if err != nil {
		t.Fatal(err)
	}
	if r := back["c"]; r == nil || len(r.BalanceFactor) != 0 || !r.HasQuant {
		t.Errorf("record entry %+v, want quant factors and no balance factors", r)
	}
	dep, err := onnx.LoadFile(rep.DeployPath)
	if err != nil {
		t.Fatal(err)
	}
	if hasOp(dep, "Mul") {
		t.Error("the deploy model of an unbalanced layer has a Mul")
	}
	pre := Record{}
	if err := Calibrate(m, layers, cfg, pre, testSim, data); err == nil || !strings.Contains(err.Error(), "amq_alpha_search in the quant config but no entry in the record: run preprocess first") {
		t.Errorf("calibrate without preprocess: err %v", err)
	}
	// After preprocess only, the entry is empty and reads back.
	rec, err := PreprocessWith(m, layers, cfg, testSim, data, DMQOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "record.txt")
	if err := WriteRecord(p, rec); err != nil {
		t.Fatal(err)
	}
	if back, err := ReadRecord(p); err != nil || back["c"] == nil || back["c"].HasQuant {
		t.Errorf("record of preprocess read back as %+v, %v; want an empty entry for c", back, err)
	}
}

// TestRunFlowRefusesBadAlphaSettingsBeforeAnyForwardPass: an empty grid or
// a strength outside [0, 1], given as options or in the config, stops the
// flow before the backend prepares any model, naming the key, and leaves
// no files.
func TestRunFlowRefusesBadAlphaSettingsBeforeAnyForwardPass(t *testing.T) {
	t.Parallel()
	m, data := outlierGemm(3, 16)
	layers := []*Layer{layer(m, "fc")}
	bad := []struct {
		s    *AlphaSearch
		want string
	}{
		{&AlphaSearch{IncludeNone: true}, `"grid" is empty`},
		{&AlphaSearch{Grid: []float64{0.5, 1.2}}, `grid[1] = 1.2 is outside [0, 1]`},
		{&AlphaSearch{Grid: []float64{-0.5}}, `grid[0] = -0.5 is outside [0, 1]`},
	}
	for _, c := range bad {
		cfg := searchConfig(layers, 4)
		cfg.Layers["fc"].AlphaSearch = c.s
		for _, opt := range []QuantizeOptions{{Alpha: c.s}, {Config: cfg}} {
			b := &countingBackend{Backend: testSim}
			dir := t.TempDir()
			_, err := RunFlow(m, b, data, filepath.Join(dir, "m"), opt)
			if err == nil || !strings.Contains(err.Error(), "amq_alpha_search") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("grid %v: err %v, want one naming amq_alpha_search and %q", c.s.Grid, err, c.want)
			}
			if b.prepared != 0 {
				t.Errorf("grid %v: %d models prepared before the error", c.s.Grid, b.prepared)
			}
			if entries, _ := filepath.Glob(filepath.Join(dir, "*")); len(entries) != 0 {
				t.Errorf("grid %v: the failed run left %v", c.s.Grid, entries)
			}
		}
		b := &countingBackend{Backend: testSim}
		if _, err := PreprocessWith(m, layers, cfg, b, data, DMQOptions{}); err == nil || !strings.Contains(err.Error(), c.want) || b.prepared != 0 {
			t.Errorf("PreprocessWith, grid %v: err %v after %d models prepared", c.s.Grid, err, b.prepared)
		}
	}
}

// TestAlphaAutoOnHeldOutDataIsAtLeastAMCTsBest quantizes the outlier
// transformer, the digits CNN and the ConvTranspose autoencoder with AMCT's
// two modes (α 0.5 on every layer, no balance) and with the α search, and
// compares the output SQNR of the fake-quant models against PyTorch's
// outputs on held-out data (test.npy, test_output.npy, never seen by
// calibration): the search is at least as good as the better mode. On the
// autoencoder the layer-local choices lose at the model's output, which
// only the output check sees. On the transformer every layer reading a
// LayerNorm output (q, k, v, fc1: outlier channels) is balanced; on the
// CNN the first convolution, one input channel, is not.
func TestAlphaAutoOnHeldOutDataIsAtLeastAMCTsBest(t *testing.T) {
	t.Parallel()
	// The choices the search made when the README's table was measured
	// (scripts/eval-quant.py calibrates the same 64 samples in one batch):
	// a change to the search's cost must not change them unnoticed.
	picked := map[string]string{
		"transformer": "/embed/MatMul 0.3, /blocks/blocks.0/attn/q/MatMul 0.45, /blocks/blocks.0/attn/k/MatMul 0.3, /blocks/blocks.0/attn/v/MatMul 0.7, " +
			"/blocks/blocks.0/attn/proj/MatMul 0.55, /blocks/blocks.0/fc1/MatMul 0.7, /blocks/blocks.0/fc2/MatMul 0.45, /blocks/blocks.1/attn/q/MatMul 0.5, " +
			"/blocks/blocks.1/attn/k/MatMul 0.6, /blocks/blocks.1/attn/v/MatMul 0.75, /blocks/blocks.1/attn/proj/MatMul 0.55, /blocks/blocks.1/fc1/MatMul 0.55, " +
			"/blocks/blocks.1/fc2/MatMul 0.35, /head/Gemm 0.8",
		"cnn":    "/conv1/Conv none, /conv2/Conv 0.3, /conv3/Conv 0.85, /fc/Gemm 0.55",
		"deconv": "/enc1/Conv 0.5, /enc2/Conv 0.5, /dec1/ConvTranspose none, /dec2/Conv 0.5",
	}
	for _, fixture := range []string{"transformer", "cnn", "deconv"} {
		t.Run(fixture, func(t *testing.T) {
			t.Parallel()
			x, _ := testSet(t, fixture)
			want, err := npy.ReadFile(filepath.Join(quantFixtures, fixture, "test_output.npy"))
			if err != nil {
				t.Fatal(err)
			}
			sqnr := func(r *fixtureRun) float64 {
				out := runSim(t, r.fake, map[string]*onnx.Tensor{r.model.Graph.Inputs[0].Name: x})
				return sqnrDB(t, want, out[r.model.Graph.Outputs[0].Name])
			}
			dmq := sqnr(runFixture(t, fixture, "model_op13.onnx", "dmq.cfg"))
			plain := sqnr(runFixture(t, fixture, "model_op13.onnx", "nodmq.cfg"))
			run := runFixtureWith(t, fixture, "model_op13.onnx", "nodmq.cfg", QuantizeOptions{Alpha: DefaultAlphaSearch()})
			auto := sqnr(run)
			var picks []string
			for _, l := range run.rep.Layers {
				picks = append(picks, l.Name+" "+l.Alpha.String())
			}
			t.Logf("held-out output SQNR: α 0.5 %.2f dB, no balance %.2f dB, α search %.2f dB (%s)", dmq, plain, auto, strings.Join(picks, ", "))
			if got := strings.Join(picks, ", "); got != picked[fixture] {
				t.Errorf("the search chose %s; when the README's table was measured it chose %s", got, picked[fixture])
			}
			if auto < max(dmq, plain) {
				t.Errorf("α search %.2f dB, below the better of α 0.5 (%.2f dB) and no balance (%.2f dB)", auto, dmq, plain)
			}
			if oc := run.rep.Layers[0].Alpha.Output; oc == nil {
				t.Error("no output check")
			} else {
				t.Logf("output check on %d samples: %+v, kept %q", oc.Samples, oc.Plans, oc.Chosen)
			}
			for _, l := range run.rep.Layers {
				outlier := strings.HasSuffix(l.Name, "/q/MatMul") || strings.HasSuffix(l.Name, "/k/MatMul") ||
					strings.HasSuffix(l.Name, "/v/MatMul") || strings.HasSuffix(l.Name, "/fc1/MatMul")
				switch {
				case l.Alpha == nil:
					t.Errorf("%s: no α search", l.Name)
				case outlier && l.Alpha.None:
					t.Errorf("%s reads outlier channels but was left unbalanced", l.Name)
				case l.Name == "/conv1/Conv" && !l.Alpha.None:
					t.Errorf("%s has one input channel but was balanced with α %s", l.Name, l.Alpha)
				}
			}
		})
	}
}

// BenchmarkAlphaSearchCost times the whole flow with AMCT's fixed α 0.5
// and with the α search, alternately, on sim, and reports both times and
// their ratio, and the ratio of the process's CPU time, which other jobs
// on the machine disturb less (docs/design.md "Per-layer α search" gives
// the figures): on the outlier transformer (its 64 calibration samples in
// one batch) and on the LLM-style decoder (its first 64 calibration
// sequences in one batch), as scripts/eval-quant.py calibrates them.
func BenchmarkAlphaSearchCost(b *testing.B) {
	b.Run("transformer", func(b *testing.B) {
		calib, err := npy.ReadFile(filepath.Join(quantFixtures, "transformer", "calib.npy"))
		if err != nil {
			b.Fatal(err)
		}
		benchmarkAlphaSearchCost(b, filepath.Join(quantFixtures, "transformer", "model_op13.onnx"), calib)
	})
	b.Run("decoder", func(b *testing.B) {
		calib, err := npy.ReadFile(filepath.Join(decoderDir, "calib.npy"))
		if err != nil {
			b.Fatal(err)
		}
		ids, err := onnx.Data[int64](calib)
		if err != nil {
			b.Fatal(err)
		}
		seq := calib.Shape[1]
		benchmarkAlphaSearchCost(b, filepath.Join(decoderDir, "model_op17.onnx"), onnx.NewTensor([]int{64, seq}, ids[:64*seq]))
	})
}

// benchmarkAlphaSearchCost is BenchmarkAlphaSearchCost on the model at
// path, calibrated on calib in one batch with dmq.cfg.
func benchmarkAlphaSearchCost(b *testing.B, path string, calib *onnx.Tensor) {
	m, err := onnx.LoadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	data, err := NewTensorSource(map[string]*onnx.Tensor{m.Graph.Inputs[0].Name: calib}, calib.Shape[0])
	if err != nil {
		b.Fatal(err)
	}
	simple, err := LoadSimpleConfig(filepath.Join(quantFixtures, "dmq.cfg"))
	if err != nil {
		b.Fatal(err)
	}
	var fixed, auto, fixedCPU, autoCPU time.Duration
	for b.Loop() {
		for _, opt := range []QuantizeOptions{{Simple: simple, BatchNum: 1}, {Simple: simple, BatchNum: 1, Alpha: DefaultAlphaSearch()}} {
			start, cpu := time.Now(), processCPUTime()
			if _, err := RunFlow(m, testSim, data, filepath.Join(b.TempDir(), "m"), opt); err != nil {
				b.Fatal(err)
			}
			if opt.Alpha == nil {
				fixed += time.Since(start)
				fixedCPU += processCPUTime() - cpu
			} else {
				auto += time.Since(start)
				autoCPU += processCPUTime() - cpu
			}
		}
	}
	b.ReportMetric(float64(fixed.Milliseconds())/float64(b.N), "fixed-ms/op")
	b.ReportMetric(float64(auto.Milliseconds())/float64(b.N), "auto-ms/op")
	b.ReportMetric(float64(auto)/float64(fixed), "auto/fixed")
	if fixedCPU > 0 {
		b.ReportMetric(float64(autoCPU)/float64(fixedCPU), "auto/fixed-cpu")
	}
}

// TestChannelRangesGiveTheDividedRowsExtremes: the extremes of the rows
// divided by a candidate's factors, found from each channel's extremes,
// are those of the divided rows themselves, for Gemm rows and for samples
// of a convolution, and a NaN in the rows makes them not finite.
func TestChannelRangesGiveTheDividedRowsExtremes(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(21, 22))
	for _, shape := range [][2]int{{8, 8}, {12, 3}} { // width, channels
		width, channels := shape[0], shape[1]
		x := make([]float32, 50*width)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(5)-2)))
		}
		inv := make([]float32, channels)
		for j := range inv {
			inv[j] = float32(rng.ExpFloat64() * 3)
		}
		cr := channelRanges(x, width, channels)
		y := make([]float32, len(x))
		divideRows(y, x, inv, width)
		for _, c := range []struct {
			inv  []float32
			rows []float32
		}{{nil, x}, {inv, y}} {
			lo, hi, ok := cr.scaled(c.inv)
			wlo, whi, wok := extremes(c.rows)
			if lo != wlo || hi != whi || ok != wok || !ok {
				t.Errorf("width %d, %d channels: [%g, %g] (finite %v) from the channels, [%g, %g] (finite %v) from the rows", width, channels, lo, hi, ok, wlo, whi, wok)
			}
		}
		x[7] = float32(math.NaN())
		if _, _, ok := channelRanges(x, width, channels).scaled(inv); ok {
			t.Errorf("width %d: a NaN in the rows, but the extremes are finite", width)
		}
	}
}
