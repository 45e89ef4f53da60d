package main

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"amq/internal/testfixture"
	"amq/onnx"
	"amq/quant"
	"amq/report"
)

// TestQuantizeWritesFourFilesAndReports runs amq quantize with DMQ and a
// skipped layer: it reports batches, layers, balance and SQNR on standard
// output (nothing on standard error without a terminal) and leaves exactly
// the config, record, fake-quant and deploy models, consistent with the
// skip, and the report.
func TestQuantizeWritesFourFilesAndReports(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prefix := filepath.Join(dir, "res", "cnn")
	res := mustAmq(t, "quantize",
		"--model", testfixture.Path(t, "quant", "cnn", "model_op13.onnx"),
		"--data", testfixture.Path(t, "quant", "cnn", "calib.npy"),
		"--batch-size", "16",
		"--config", testfixture.Path(t, "quant", "dmq.cfg"),
		"--batch-num", "4",
		"--eval-batches", "4",
		"--skip", "/conv3/Conv",
		"--out", prefix)
	out := res.Stdout
	t.Log(out)
	// Without a terminal, progress is one line per phase, with no bar.
	if strings.Contains(res.Stderr, "\r") {
		t.Errorf("carriage returns on stderr without a terminal: %q", res.Stderr)
	}
	for _, phase := range []string{"load ", "preprocess: 4 batches in ", "calibrate: 4 batches in ", "evaluate: 4 batches in "} {
		if strings.Count(res.Stderr, phase) != 1 {
			t.Errorf("stderr %q: want one line starting %q", res.Stderr, phase)
		}
	}
	for _, want := range []string{
		"4 batches of 16 samples",
		"/conv1/Conv", "/conv2/Conv", "/fc/Gemm", "Mul", "(16 ch)",
		"output output: SQNR",
		"/conv3/Conv (Conv): skip_layers in config",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, suffix := range []string{"_fake_quant_model.onnx", "_deploy_model.onnx", "_quant_config.json", "_record.txt"} {
		if !strings.Contains(out, "wrote "+prefix+suffix) {
			t.Errorf("output does not name %s", prefix+suffix)
		}
	}
	cfg, err := quant.ReadConfig(prefix + "_quant_config.json")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BatchNum != 4 || cfg.Layers["/conv3/Conv"].QuantEnable || !cfg.Layers["/conv1/Conv"].QuantEnable {
		t.Errorf("config: batch_num %d, conv3 enabled %v, conv1 enabled %v", cfg.BatchNum, cfg.Layers["/conv3/Conv"].QuantEnable, cfg.Layers["/conv1/Conv"].QuantEnable)
	}
	rec, err := quant.ReadRecord(prefix + "_record.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rec["/conv3/Conv"]; ok || len(rec) != 3 {
		t.Errorf("record has %d layers (conv3 present: %v), want 3 without conv3", len(rec), ok)
	}
	dep, err := onnx.LoadFile(prefix + "_deploy_model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	quants := 0
	for _, n := range dep.Graph.Nodes {
		if n.OpType == "AscendQuant" {
			quants++
		}
	}
	if quants != 3 {
		t.Errorf("deploy model has %d AscendQuant, want 3", quants)
	}
	// Only the four files and the report: no temporary folder is left
	// behind.
	entries, _ := os.ReadDir(filepath.Dir(prefix))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{"cnn_deploy_model.onnx", "cnn_fake_quant_model.onnx", "cnn_quant_config.json", "cnn_record.txt",
		"cnn_report.json", "cnn_report.md", "cnn_report_balance_1.png", "cnn_report_balance_2.png", "cnn_report_histograms.png", "cnn_report_sqnr.png"}
	if !slices.Equal(names, want) {
		t.Errorf("output folder holds %v, want the 4 files and the report %v", names, want)
	}
}

// TestQuantizeErrorsLeaveOutputFolderEmpty checks that each bad argument is
// an error naming it, and that a failed run writes nothing.
func TestQuantizeErrorsLeaveOutputFolderEmpty(t *testing.T) {
	t.Parallel()
	model := testfixture.Path(t, "quant", "cnn", "model_op13.onnx")
	data := testfixture.Path(t, "quant", "cnn", "calib.npy")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--batch-size", "16", "--batch-num", "5"}, "batch_num is 5 but the data has 4 batches"},
		{[]string{"--batch-size", "16", "--skip", "/nope/Conv"}, `no layer "/nope/Conv"`},
		{[]string{"--batch-size", "16", "--skip", "/Relu"}, "not a quantizable layer"},
		{[]string{"--batch-size", "65"}, "64 samples, fewer than one batch of 65"},
		{[]string{"--batch-size", "16", "--backend", "tpu"}, `unknown backend "tpu"`},
		{[]string{"--batch-size", "16", "--config", filepath.Join(testfixture.Path(t, "quant"), "nope.cfg")}, "nope.cfg"},
		{[]string{"--batch-size", "1", "--batch-num", "1", "--bias-correct"}, "bias correction needs at least 2 calibration samples"},
		{[]string{"--batch-size", "16", "--bias-correct", "--skip", "/conv1/Conv,/conv2/Conv,/conv3/Conv,/fc/Gemm"}, "no layer to quantize"},
	}
	for _, c := range cases {
		dir := t.TempDir()
		args := append([]string{"quantize", "--model", model, "--data", data, "--out", filepath.Join(dir, "m")}, c.args...)
		_, err := amq(t, args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one containing %q", c.args, err, c.want)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("%v: a failed run left %d entries in the output folder", c.args, len(entries))
		}
	}
}

// TestQuantizeBiasCorrectSaysWhatItKept: with --bias-correct, amq quantize
// reports for every layer whether its correction was kept and the
// held-out error before and after, on standard output and in the report,
// and the run has a bias-correct phase.
func TestQuantizeBiasCorrectSaysWhatItKept(t *testing.T) {
	t.Parallel()
	prefix := filepath.Join(t.TempDir(), "cnn")
	res := mustAmq(t, "quantize",
		"--model", testfixture.Path(t, "quant", "cnn", "model_op13.onnx"),
		"--data", testfixture.Path(t, "quant", "cnn", "calib.npy"),
		"--batch-size", "16", "--batch-num", "4", "--bias-correct",
		"--out", prefix)
	if !strings.Contains(res.Stderr, "bias-correct: 4 batches in ") {
		t.Errorf("stderr %q: no bias-correct phase", res.Stderr)
	}
	md, err := os.ReadFile(prefix + "_report.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "## Bias correction") {
		t.Errorf("report without a bias correction section:\n%s", md)
	}
	for _, layer := range []string{"/conv1/Conv", "/conv2/Conv", "/conv3/Conv", "/fc/Gemm"} {
		line := ""
		for _, l := range strings.Split(res.Stdout, "\n") {
			if strings.HasPrefix(l, "bias correction: "+layer+": ") {
				line = l
			}
		}
		if !strings.Contains(line, "kept, MSE ") || !strings.HasSuffix(line, "on 32 held-out samples") {
			t.Errorf("%s: bias correction line %q in\n%s", layer, line, res.Stdout)
		}
		if !strings.Contains(string(md), "| `"+layer+"` | yes |") && !strings.Contains(string(md), "| `"+layer+"` | no |") {
			t.Errorf("%s: no bias correction row in the report", layer)
		}
	}
}

// TestQuantizeAscendEqualsSim runs the whole flow (DMQ preprocessing and
// calibration) on the Ascend backend — Go, cgo, the C shim and the fake
// libascendcl with its ATC — and on sim: the records must agree, and a run
// sharded over two devices must equal the one-device run exactly.
func TestQuantizeAscendEqualsSim(t *testing.T) {
	requireAscendFake(t)
	for _, fx := range []struct{ name, model string }{
		{"cnn", "model_op13.onnx"},
		{"transformer", "model_op17.onnx"},
	} {
		t.Run(fx.name, func(t *testing.T) {
			run := func(backend ...string) quant.Record {
				t.Helper()
				prefix := filepath.Join(t.TempDir(), "m")
				args := append([]string{"quantize",
					"--model", testfixture.Path(t, "quant", fx.name, fx.model),
					"--data", testfixture.Path(t, "quant", fx.name, "calib.npy"),
					"--config", testfixture.Path(t, "quant", "dmq.cfg"),
					"--batch-size", "16", "--batch-num", "4", "--no-eval", "--no-report",
					"--out", prefix}, backend...)
				if out, err := amq(t, args...); err != nil {
					t.Fatalf("amq %v: %v\n%s", backend, err, out.Stderr)
				}
				rec, err := quant.ReadRecord(prefix + "_record.txt")
				if err != nil {
					t.Fatal(err)
				}
				return rec
			}
			onSim := run("--backend", "sim")
			one := run("--backend", "ascend", "--device", "0")
			two := run("--backend", "ascend", "--devices", "0,1")
			compareRecords(t, "ascend vs sim", onSim, one, 1e-6)
			compareRecords(t, "2 devices vs 1", one, two, 0)
		})
	}
}

// compareRecords checks that every scale and factor of got is within rel
// (relative) of want, and offsets are equal.
func compareRecords(t *testing.T, what string, want, got quant.Record, rel float64) {
	t.Helper()
	if len(want) != len(got) || len(want) == 0 {
		t.Fatalf("%s: %d layers vs %d", what, len(got), len(want))
	}
	close := func(a, b float32) bool {
		return math.Abs(float64(a)-float64(b)) <= rel*math.Abs(float64(b))
	}
	worst := 0.0
	for name, w := range want {
		g := got[name]
		if g == nil {
			t.Errorf("%s: layer %q missing", what, name)
			continue
		}
		if !close(g.ScaleD, w.ScaleD) || g.OffsetD != w.OffsetD {
			t.Errorf("%s: layer %q: scale_d %v offset_d %d, want %v %d", what, name, g.ScaleD, g.OffsetD, w.ScaleD, w.OffsetD)
		}
		pairs := [][2][]float32{{g.ScaleW, w.ScaleW}, {g.BalanceFactor, w.BalanceFactor}}
		for _, p := range pairs {
			if len(p[0]) != len(p[1]) {
				t.Errorf("%s: layer %q: %d values, want %d", what, name, len(p[0]), len(p[1]))
				continue
			}
			for i := range p[0] {
				if !close(p[0][i], p[1][i]) {
					t.Errorf("%s: layer %q value %d: %v, want %v", what, name, i, p[0][i], p[1][i])
				}
				if p[1][i] != 0 {
					worst = max(worst, math.Abs(float64(p[0][i]/p[1][i])-1))
				}
			}
		}
	}
	t.Logf("%s: %d layers, worst relative difference %.3g", what, len(want), worst)
}

// TestQuantizePrecisionReportsTheBoard quantizes the LLM-style outlier
// transformer with DMQ and --precision force_fp16: the summary and the
// report (JSON and Markdown) give the SQNR the board would see and say,
// for the float model (before the balance) and the deploy model (after),
// that no tensor overflows float16, with the largest |x| (the LayerNorm
// outputs, near 340); the record equals the one without --precision.
func TestQuantizePrecisionReportsTheBoard(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	args := func(prefix string, more ...string) []string {
		return append([]string{"quantize",
			"--model", testfixture.Path(t, "quant", "transformer", "model_op13.onnx"),
			"--data", testfixture.Path(t, "quant", "transformer", "calib.npy"),
			"--config", testfixture.Path(t, "quant", "dmq.cfg"),
			"--out", filepath.Join(dir, prefix), "--quiet"}, more...)
	}
	res := mustAmq(t, args("fp16", "--precision", "force_fp16")...)
	out := res.Stdout
	for _, want := range []string{
		"on the NPU in force_fp16 (sim emulating ATC's precision mode, against the float model in float32):",
		"output output: SQNR ", "layer /blocks/blocks.0/attn/q/MatMul: SQNR ",
		"fp16 (force_fp16, float model, before the balance): no value overflows float16 or flushes to zero in bulk; largest |x| ",
		"fp16 (force_fp16, deploy model, after the balance): no value overflows float16 or flushes to zero in bulk; largest |x| ",
		"ln1/Add_1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	r, err := report.ReadJSON(filepath.Join(dir, "fp16_report.json"))
	if err != nil {
		t.Fatal(err)
	}
	b := r.Board
	if b == nil || b.Precision != "force_fp16" || len(b.Outputs) != 1 || len(b.Layers) != len(r.Layers) ||
		len(b.Before) != 0 || len(b.After) != 0 || b.PeakBefore == nil || b.PeakBefore.MaxAbs < 300 || b.PeakBefore.MaxAbs > 400 {
		t.Fatalf("report's board section: %+v", b)
	}
	if db := float64(b.Outputs[0].SQNR); !(db > float64(r.Outputs[0].SQNR)-3) {
		t.Errorf("board SQNR %.1f dB, float32 %.1f dB", db, float64(r.Outputs[0].SQNR))
	}
	md, err := os.ReadFile(filepath.Join(dir, "fp16_report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "## On the NPU in force_fp16") || !strings.Contains(string(md), "no tensor overflows float16") {
		t.Errorf("report.md lacks the board section:\n%s", md)
	}
	if _, err := amq(t, args("plain")...); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(dir, "fp16_record.txt"))
	p, _ := os.ReadFile(filepath.Join(dir, "plain_record.txt"))
	if len(a) == 0 || string(a) != string(p) {
		t.Error("--precision changed the record")
	}
	for _, bad := range [][]string{{"--precision", "force_fp16", "--no-eval"}, {"--precision", "fp16"}, {"--precision", "force_fp16", "--backend", "ascend"}} {
		if _, err := amq(t, args("bad", bad...)...); err == nil || !strings.Contains(err.Error(), "--precision") {
			t.Errorf("%v: %v", bad, err)
		}
	}
}

// TestAlphaAutoGivesTheSameRecordInQuantizeAndTheSteps: amq quantize
// --alpha auto and the step commands (create-config --alpha auto, then
// preprocess, calibrate, save) search α per layer on the same batches and
// write the same record; both print each layer's choice, the config carries
// amq_alpha_search, and another --alpha value is refused.
func TestAlphaAutoGivesTheSameRecordInQuantizeAndTheSteps(t *testing.T) {
	t.Parallel()
	model := testfixture.Path(t, "quant", "cnn", "model_op13.onnx")
	data := testfixture.Path(t, "quant", "cnn", "calib.npy")
	dir := t.TempDir()
	cfg, rec := filepath.Join(dir, "config.json"), filepath.Join(dir, "record.txt")
	steps := [][]string{
		{"create-config", "--model", model, "--alpha", "auto", "--out", cfg},
		{"preprocess", "--model", model, "--config", cfg, "--data", data, "--batch-size", "64", "--record", rec},
		{"calibrate", "--model", model, "--config", cfg, "--data", data, "--batch-size", "64", "--record", rec},
		{"save", "--model", model, "--config", cfg, "--record", rec, "--out", filepath.Join(dir, "steps")},
	}
	for _, args := range steps {
		out := mustAmq(t, args...)
		switch args[0] {
		case "create-config":
			if !strings.Contains(out.Stdout, "/conv2/Conv: quantized, act ifmr asymmetric=true, channel_wise=true α search over 20 strengths and no balance") {
				t.Errorf("create-config output:\n%s", out)
			}
		case "preprocess":
			if !strings.Contains(out.Stdout, "α search: /conv1/Conv: none\n") || strings.Count(out.Stdout, "α search: ") != 4 {
				t.Errorf("preprocess output, want the choice of each of 4 layers:\n%s", out)
			}
		}
	}
	prefix := filepath.Join(dir, "flow")
	out := mustAmq(t, "quantize", "--model", model, "--data", data, "--batch-size", "64", "--alpha", "auto", "--no-report", "--out", prefix)
	if !strings.Contains(out.Stdout, "none (α none)") || strings.Count(out.Stdout, "Mul (α ") != 3 {
		t.Errorf("quantize output, want the choice of each layer:\n%s", out)
	}
	stepRec, err := quant.ReadRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	flowRec, err := quant.ReadRecord(prefix + "_record.txt")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(stepRec, flowRec) {
		t.Errorf("the steps and quantize wrote different records:\n%v\n%v", stepRec, flowRec)
	}
	flowCfg, err := quant.ReadConfig(prefix + "_quant_config.json")
	if err != nil {
		t.Fatal(err)
	}
	if s := flowCfg.Layers["/fc/Gemm"].AlphaSearch; s == nil || len(s.Grid) != 20 || !s.IncludeNone {
		t.Errorf("quantize's config: fc's amq_alpha_search %+v", s)
	}
	for _, cmd := range [][]string{
		{"quantize", "--model", model, "--data", data, "--alpha", "0.5", "--out", filepath.Join(dir, "bad")},
		{"create-config", "--model", model, "--alpha", "best", "--out", filepath.Join(dir, "bad.json")},
	} {
		if _, err := amq(t, cmd...); err == nil || !strings.Contains(err.Error(), `want "auto"`) {
			t.Errorf("%s --alpha %s: err %v", cmd[0], cmd[len(cmd)-3], err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "bad*")); len(left) != 0 {
		t.Errorf("refused runs left %v", left)
	}
}
