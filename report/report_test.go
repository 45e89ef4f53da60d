package report

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"amq/internal/testfixture"
	"amq/npy"
	"amq/onnx"
	"amq/quant"
	"amq/sim"
)

// cnnRun is a RunFlow run of the digits CNN fixture with DMQ on 2 batches
// of 16 samples, with its report written by the BeforeCommit hook. The
// tests share one run (drawing the plots is what takes time) and only read
// its files.
type cnnRun struct {
	prefix string
	rep    *quant.QuantizeReport
	report *Report
	calib  *onnx.Tensor
}

var (
	sharedOnce sync.Once
	shared     cnnRun
	sharedErr  error
	sharedDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
	os.Exit(code)
}

// writeReportJSON encodes r into dir/<r.Name>_report.json, as a run
// writes it, and returns the file's path and the JSON.
func writeReportJSON(t *testing.T, r *Report, dir string) (string, []byte) {
	t.Helper()
	js, err := EncodeJSON(r)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, r.Name+jsonSuffix)
	if err := os.WriteFile(path, js, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, js
}

// regenerateMarkdown remakes the report from its JSON at path and returns
// the Markdown written next to it.
func regenerateMarkdown(t *testing.T, path string) string {
	t.Helper()
	if _, err := Regenerate(path, ""); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(strings.TrimSuffix(path, jsonSuffix) + markdownSuffix)
	if err != nil {
		t.Fatal(err)
	}
	return string(md)
}

// runCNN returns the shared run, made on first use.
func runCNN(t *testing.T) cnnRun {
	t.Helper()
	paths := map[string]string{}
	for _, f := range []string{"model_op13.onnx", "calib.npy"} {
		paths[f] = testfixture.Path(t, "quant", "cnn", f)
	}
	paths["dmq.cfg"] = testfixture.Path(t, "quant", "dmq.cfg")
	sharedOnce.Do(func() {
		if sharedDir, sharedErr = os.MkdirTemp("", "amq-report-test-*"); sharedErr == nil {
			shared, sharedErr = newCNNRun(paths, filepath.Join(sharedDir, "cnn"))
		}
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

func newCNNRun(paths map[string]string, prefix string) (cnnRun, error) {
	run := cnnRun{prefix: prefix}
	m, err := onnx.LoadFile(paths["model_op13.onnx"])
	if err != nil {
		return run, err
	}
	if run.calib, err = npy.ReadFile(paths["calib.npy"]); err != nil {
		return run, err
	}
	data, err := quant.NewTensorSource(map[string]*onnx.Tensor{m.Graph.Inputs[0].Name: run.calib}, 16)
	if err != nil {
		return run, err
	}
	simple, err := quant.LoadSimpleConfig(paths["dmq.cfg"])
	if err != nil {
		return run, err
	}
	hook := func(rep *quant.QuantizeReport, path func(string) string) error {
		run.report = New(rep, run.prefix, Run{Command: []string{"amq", "quantize", "--out", run.prefix}, Model: "model_op13.onnx",
			Backend: "sim", Created: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)})
		files, err := Files(run.report)
		if err != nil {
			return err
		}
		return WriteTo(files, path)
	}
	run.rep, err = quant.RunFlow(m, &sim.Backend{Threads: 1}, data, run.prefix, quant.QuantizeOptions{Simple: simple, BatchNum: 2, BeforeCommit: hook})
	return run, err
}

// TestJSONRoundTripsAndHoldsTheRunsValues reads <out>_report.json back
// and compares it with the report it was written from, and its values with
// the record file and the QuantizeReport of the run.
func TestJSONRoundTripsAndHoldsTheRunsValues(t *testing.T) {
	t.Parallel()
	run := runCNN(t)
	got, err := ReadJSON(run.prefix + "_report.json")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, run.report) {
		t.Errorf("the JSON read back differs from the report written:\n%+v\n%+v", got, run.report)
	}
	rec, err := quant.ReadRecord(run.prefix + "_record.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Layers) != len(rec) || len(got.Layers) != len(run.rep.Layers) {
		t.Fatalf("%d layers in the JSON, %d in the record, %d in the run's report", len(got.Layers), len(rec), len(run.rep.Layers))
	}
	for i, l := range got.Layers {
		r, q := rec[l.Name], run.rep.Layers[i]
		if r == nil || q.Name != l.Name {
			t.Fatalf("layer %d %q: not the record's or the run's (%q)", i, l.Name, q.Name)
		}
		if l.ScaleD != r.ScaleD || l.OffsetD != r.OffsetD || !slices.Equal(l.ScaleW, r.ScaleW) || !slices.Equal(l.BalanceFactor, r.BalanceFactor) {
			t.Errorf("%s: scale_d %v offset_d %d scale_w %v s %v; record %v %d %v %v", l.Name, l.ScaleD, l.OffsetD, l.ScaleW, l.BalanceFactor, r.ScaleD, r.OffsetD, r.ScaleW, r.BalanceFactor)
		}
		if float64(l.SQNR) != q.SQNR || math.IsNaN(q.SQNR) {
			t.Errorf("%s: SQNR %v, the run's %v", l.Name, l.SQNR, q.SQNR)
		}
		if l.Balance != "Mul" || l.Params.ActAlgo != "ifmr" || l.Params.MigrationStrength != 0.5 || l.DMQ == nil || l.Histogram == nil {
			t.Errorf("%s: balance %q, act_algo %q, migration_strength %v, dmq %v, histogram %v", l.Name, l.Balance, l.Params.ActAlgo, l.Params.MigrationStrength, l.DMQ != nil, l.Histogram != nil)
			continue
		}
		if h := l.Histogram; h.ClipLo != float64(r.ScaleD)*float64(-128-r.OffsetD) || h.ClipHi != float64(r.ScaleD)*float64(127-r.OffsetD) {
			t.Errorf("%s: clip range [%v, %v] for scale_d %v offset_d %d", l.Name, h.ClipLo, h.ClipHi, r.ScaleD, r.OffsetD)
		}
	}
	if o := got.Outputs; len(o) != 1 || float64(o[0].SQNR) != run.rep.Outputs["output"] {
		t.Errorf("outputs %+v, the run's %v", o, run.rep.Outputs)
	}
	if got.Batches != 2 || got.BatchSize != 16 || got.Balance.Layers != 4 || got.Balance.Mul != 4 {
		t.Errorf("batches %d of %d, balance %+v", got.Batches, got.BatchSize, got.Balance)
	}
	var phases []string
	for _, p := range got.Phases {
		phases = append(phases, p.Name)
	}
	if want := []string{"prepare", "preprocess", "calibrate", "write", "evaluate"}; !slices.Equal(phases, want) {
		t.Errorf("phases %v, want %v", phases, want)
	}
	if got.Tool.Go == "" || got.Tool.AMQ == "" || got.Created != "2025-01-02T03:04:05Z" || got.Command[len(got.Command)-1] != run.prefix {
		t.Errorf("tool %+v, created %q, command %q", got.Tool, got.Created, got.Command)
	}
	// Field names as documented, checked on the raw JSON.
	b, _ := os.ReadFile(run.prefix + "_report.json")
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	layer := raw["layers"].([]any)[0].(map[string]any)
	for _, k := range []string{"scale_d", "offset_d", "scale_w", "balance_factor", "sqnr_db", "params", "dmq", "histogram"} {
		if _, ok := layer[k]; !ok {
			t.Errorf("layer of the JSON lacks %q", k)
		}
	}
}

// TestBalanceStatisticsComeFromTheData checks the balance statistics of
// the JSON against the calibration data: /conv1/Conv reads the model
// input, so its max|X| is the largest |value| of the first 2 batches of 16
// samples; after the balance every channel is max|X_j|/s_j and
// max|W_j|·s_j with s_j from the record.
func TestBalanceStatisticsComeFromTheData(t *testing.T) {
	t.Parallel()
	run := runCNN(t)
	r, err := ReadJSON(run.prefix + "_report.json")
	if err != nil {
		t.Fatal(err)
	}
	x := run.calib.Floats()
	var want float64
	for _, v := range x[:32*len(x)/run.calib.Shape[0]] {
		want = max(want, math.Abs(float64(v)))
	}
	rec, err := quant.ReadRecord(run.prefix + "_record.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range r.Layers {
		d, s := l.DMQ, rec[l.Name].BalanceFactor
		if l.Name == "/conv1/Conv" && !slices.Equal(d.XMax, []float64{want}) {
			t.Errorf("%s: x_max %v, want [%v] from the data", l.Name, d.XMax, want)
		}
		if len(d.XMax) != len(s) || len(d.WMax) != len(s) {
			t.Fatalf("%s: %d and %d channels for %d factors", l.Name, len(d.XMax), len(d.WMax), len(s))
		}
		for j := range s {
			if d.XMaxBalanced[j] != d.XMax[j]/float64(s[j]) || d.WMaxBalanced[j] != d.WMax[j]*float64(s[j]) {
				t.Errorf("%s channel %d: after balance %v, %v; want %v, %v", l.Name, j, d.XMaxBalanced[j], d.WMaxBalanced[j], d.XMax[j]/float64(s[j]), d.WMax[j]*float64(s[j]))
			}
		}
		if want := spreadOf(d.XMax); float64(d.Spread) != want {
			t.Errorf("%s: spread %v, want %v", l.Name, d.Spread, want)
		}
	}
}

// spreadOf is max/median of x, computed here by a sort of its own.
func spreadOf(x []float64) float64 {
	s := slices.Sorted(slices.Values(x))
	n := len(s)
	med := (s[(n-1)/2] + s[n/2]) / 2
	return s[n-1] / med
}

// TestNumberCarriesNaNAndInfinities: SQNR without a value and an exact one
// survive JSON.
func TestNumberCarriesNaNAndInfinities(t *testing.T) {
	t.Parallel()
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, -3.25, 30.600000000000001} {
		b, err := json.Marshal(Number(v))
		if err != nil {
			t.Fatalf("%v: %v", v, err)
		}
		var back Number
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%v as %s: %v", v, b, err)
		}
		if !(float64(back) == v || math.IsNaN(v) && math.IsNaN(float64(back))) {
			t.Errorf("%v became %s, read back as %v", v, b, back)
		}
	}
	var n Number
	if err := json.Unmarshal([]byte(`"Infinity"`), &n); err == nil {
		t.Error(`"Infinity" accepted`)
	}
}

// TestRegenerateRefusesBadReportsAndWritesNothing: a report that is not
// JSON, has unknown fields or inconsistent statistics is an error naming
// the file (and the layer), and nothing is written.
func TestRegenerateRefusesBadReportsAndWritesNothing(t *testing.T) {
	t.Parallel()
	run := runCNN(t)
	good, err := os.ReadFile(run.prefix + "_report.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, json, want string
	}{
		{"truncated", string(good[:len(good)/2]), "unexpected EOF"},
		{"unknown field", strings.Replace(string(good), `"batches"`, `"batchez"`, 1), `unknown field "batchez"`},
		{"short w_max", strings.Replace(string(good), `"w_max": [`, `"w_max": [7, `, 1), `layer "/conv1/Conv": dmq w_max has 2 channels, x_max 1`},
		{"no name", strings.Replace(string(good), `"name": "cnn"`, `"name": ""`, 1), "not an amq report"},
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, "cnn_report.json")
		if err := os.WriteFile(path, []byte(tc.json), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Regenerate(path, "")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want one naming %s and containing %q", tc.name, err, path, tc.want)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("%s: %d entries in the folder after the error, want the JSON alone", tc.name, len(entries))
		}
	}
}

// TestRegenerateUnderAnotherPrefix: with an output prefix, the Markdown
// and plots take its name and folder.
func TestRegenerateUnderAnotherPrefix(t *testing.T) {
	t.Parallel()
	r := &Report{Name: "m", Command: []string{"amq"}, Layers: []Layer{{Name: "/fc/Gemm", Type: "Gemm", SQNR: 31.5}}}
	dir := t.TempDir()
	path, _ := writeReportJSON(t, r, dir)
	out := filepath.Join(dir, "sub", "again")
	paths, err := Regenerate(path, out)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{out + "_report.md", out + "_report_sqnr.png"}; !slices.Equal(paths, want) {
		t.Errorf("wrote %v, want %v", paths, want)
	}
	md, err := os.ReadFile(out + "_report.md")
	if err != nil || !strings.HasPrefix(string(md), "# amq quantization report: again\n") || !strings.Contains(string(md), "![SQNR per layer](again_report_sqnr.png)") {
		t.Errorf("%v\n%s", err, md)
	}
}

// TestReportSaysWhichLayersUsedExactCounts: the digits CNN's first layer
// reads 17 pixel levels and its last 32 features of 32 samples (1024
// values at most), so both are calibrated on exact counts; the JSON
// carries the number of distinct values and the Markdown says so, and the
// layers between, on continuous activations, have neither.
func TestReportSaysWhichLayersUsedExactCounts(t *testing.T) {
	t.Parallel()
	run := runCNN(t)
	md, err := os.ReadFile(run.prefix + "_report.md")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"/conv1/Conv": true, "/fc/Gemm": true}
	for _, l := range run.report.Layers {
		d := l.Histogram.Distinct
		if want[l.Name] != (d > 0) || l.Name == "/conv1/Conv" && d != 17 {
			t.Errorf("%s: %d distinct values", l.Name, d)
		}
		note := "- `" + l.Name + "`: calibrated on exact counts of its "
		if strings.Contains(string(md), note) != (d > 0) {
			t.Errorf("%s: Markdown note %q present: %v, distinct values %d", l.Name, note, !(d > 0), d)
		}
	}
}

// TestReportCarriesBiasCorrection: a layer's bias correction goes from the
// run's report into the JSON, survives reading it back, and the Markdown
// made from it has one row per corrected layer with the verdict, the
// errors and the largest shift; a layer without one has no row.
func TestReportCarriesBiasCorrection(t *testing.T) {
	t.Parallel()
	rep := &quant.QuantizeReport{Layers: []quant.LayerReport{
		{Name: "/a/Gemm", Type: "Gemm", SQNR: 30, BiasCorrection: &quant.BiasCorrection{Kept: true, Shift: []float64{0.25, -0.5},
			MSEBefore: 0.004, MSEAfter: 0.001, FitSamples: 32, HeldOutSamples: 31}},
		{Name: "/b/MatMul", Type: "MatMul", SQNR: 20, BiasCorrection: &quant.BiasCorrection{Shift: []float64{0.125},
			MSEBefore: 0.002, MSEAfter: 0.003, FitSamples: 32, HeldOutSamples: 31}},
		{Name: "/c/Conv", Type: "Conv", SQNR: 25},
	}}
	r := New(rep, "m", Run{Command: []string{"amq"}})
	path, js := writeReportJSON(t, r, t.TempDir())
	back, err := ReadJSON(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("read back:\n%+v\nwritten:\n%+v", back, r)
	}
	if c := back.Layers[0].BiasCorrection; c == nil || !c.Kept || !slices.Equal(c.Shift, []float64{0.25, -0.5}) || c.MSEAfter != 0.001 || c.HeldOutSamples != 31 {
		t.Errorf("layer a: %+v", c)
	}
	if back.Layers[2].BiasCorrection != nil || strings.Contains(string(js), `"bias_correction": null`) {
		t.Error("a layer without bias correction has one in the JSON")
	}
	md := regenerateMarkdown(t, path)
	for _, row := range []string{
		"| `/a/Gemm` | yes | 0.004 | 0.001 | 0.5 | 32 / 31 |",
		"| `/b/MatMul` | no | 0.002 | 0.003 | 0.125 | 32 / 31 |",
	} {
		if !strings.Contains(md, row) {
			t.Errorf("Markdown lacks the row %q:\n%s", row, md)
		}
	}
	if strings.Contains(md, "| `/c/Conv` | yes") || strings.Contains(md, "| `/c/Conv` | no") {
		t.Errorf("a row for the layer without bias correction:\n%s", md)
	}
}

// TestAlphaSearchChoiceIsInTheJSONAndTheLayersTable: the α search's
// choice and candidates of a layer are in its JSON entry with the output
// check, read back equal, the layers table shows each layer's α: the
// search's choice, the config's fixed strength, or none, and the output
// check is written once below it.
func TestAlphaSearchChoiceIsInTheJSONAndTheLayersTable(t *testing.T) {
	t.Parallel()
	ifmr := quant.ActParams{NumBits: 8, Algo: "ifmr", MaxPercentile: 1, MinPercentile: 1, SearchRange: [2]float64{0.7, 1.3}, SearchStep: 0.01}
	arq := quant.WeightParams{NumBits: 8, Algo: "arq_quantize"}
	choice := &quant.AlphaChoice{Alpha: 0.35, Layers: []string{"a"}, Rows: 64, Candidates: []quant.AlphaCandidate{
		{None: true, MSE: 0.25}, {Alpha: 0.35, MSE: 0.0125}, {Alpha: 1, MSE: math.Inf(1), Note: "bias beyond int32"}}}
	choice.Local = choice.Candidates[1]
	choice.Output = &quant.OutputCheck{Samples: 64, Plans: []quant.PlanError{{Name: "per layer", Error: 3e-5}, {Name: "α 0.5 everywhere", Error: 2e-5}, {Name: "no balance", Error: 4e-5, StoppedAfter: 16}},
		Chosen: "α 0.5 everywhere", Adopted: []string{"a"}, Error: 1e-5}
	rep := &quant.QuantizeReport{
		Config: &quant.Config{Version: 1, BatchNum: 1, Layers: map[string]*quant.LayerConfig{
			"a": {QuantEnable: true, AlphaSearch: quant.DefaultAlphaSearch(), Act: ifmr, Weight: arq},
			"b": {QuantEnable: true, AlphaSearch: quant.DefaultAlphaSearch(), Act: ifmr, Weight: arq},
			"c": {QuantEnable: true, DMQ: &quant.DMQParams{MigrationStrength: 0.4}, Act: ifmr, Weight: arq},
			"d": {QuantEnable: true, Act: ifmr, Weight: arq},
		}},
		Record: quant.Record{},
		Layers: []quant.LayerReport{
			{Name: "a", Type: "Gemm", Alpha: choice, SQNR: math.NaN()},
			{Name: "b", Type: "Gemm", Alpha: &quant.AlphaChoice{None: true, Layers: []string{"b"}, Rows: 64, Candidates: []quant.AlphaCandidate{{None: true, MSE: 1}}}, SQNR: math.NaN()},
			{Name: "c", Type: "Gemm", SQNR: math.NaN()},
			{Name: "d", Type: "Gemm", SQNR: math.NaN()},
		},
	}
	r := New(rep, filepath.Join(t.TempDir(), "m"), Run{})
	p, b := writeReportJSON(t, r, t.TempDir())
	for _, want := range []string{`"alpha_search": {`, `"none": true,`, `"alpha": 0.35,`, `"mse": 0.0125`, `"mse": "+Inf"`, `"note": "bias beyond int32"`, `"rows": 64`,
		`"output_check": {`, `"chosen": "α 0.5 everywhere"`, `"adopted": [`, `"stopped_after": 16`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the JSON lacks %s:\n%s", want, b)
		}
	}
	back, err := ReadJSON(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Layers[0].AlphaSearch, r.Layers[0].AlphaSearch) || back.Layers[2].AlphaSearch != nil {
		t.Errorf("alpha_search read back as %+v, %+v", back.Layers[0].AlphaSearch, back.Layers[2].AlphaSearch)
	}
	md := string(markdown(r, figures{}))
	for _, want := range []string{"| balance | α |", "| `a` | Gemm | ifmr (sym) | none | 0.35 (search) |", "| `b` | Gemm | ifmr (sym) | none | none (search) |",
		"| `c` | Gemm | ifmr (sym) | none | 0.4 |", "| `d` | Gemm | ifmr (sym) | none | - |",
		"output check on 64 calibration samples", "per layer 3e-05, α 0.5 everywhere 2e-05, no balance > 4e-05 (stopped after 16 samples); kept α 0.5 everywhere with the per-layer choice of a (1e-05)."} {
		if !strings.Contains(md, want) {
			t.Errorf("the Markdown lacks %q:\n%s", want, md)
		}
	}
	if n := strings.Count(md, "output check on"); n != 1 {
		t.Errorf("the Markdown has the output check %d times, want once", n)
	}
}
