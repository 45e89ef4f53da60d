package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"amq/internal/testfixture"
	"amq/onnx"
	"amq/quant"
)

func TestQuantizeCommand(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "res", "cnn")
	res, err := amq(t, "quantize",
		"--model", testfixture.Path(t, "quant", "cnn", "model_op13.onnx"),
		"--data", testfixture.Path(t, "quant", "cnn", "calib.npy"),
		"--batch-size", "16",
		"--config", testfixture.Path(t, "quant", "dmq.cfg"),
		"--batch-num", "4",
		"--skip", "/conv3/Conv",
		"--out", prefix)
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Stderr)
	}
	out := res.Stdout
	t.Log(out)
	// Progress bars go to a terminal only.
	if res.Stderr != "" {
		t.Errorf("stderr not empty without a terminal: %q", res.Stderr)
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
	// Only the four files: no temporary folder is left behind.
	entries, _ := os.ReadDir(filepath.Dir(prefix))
	if len(entries) != 4 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("output folder holds %v, want the 4 files", names)
	}
}

func TestQuantizeCommandErrors(t *testing.T) {
	model := testfixture.Path(t, "quant", "cnn", "model_op13.onnx")
	data := testfixture.Path(t, "quant", "cnn", "calib.npy")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--batch-size", "16", "--batch-num", "5"}, "batch_num is 5 but the data has 4 batches"},
		{[]string{"--batch-size", "16", "--skip", "/nope/Conv"}, `no layer "/nope/Conv"`},
		{[]string{"--batch-size", "16", "--skip", "/Relu"}, "not a quantizable layer"},
		{[]string{}, "batch dimension is not fixed"},
		{[]string{"--batch-size", "16", "--backend", "tpu"}, `unknown backend "tpu"`},
		{[]string{"--batch-size", "16", "--config", filepath.Join(testfixture.Path(t, "quant"), "nope.cfg")}, "nope.cfg"},
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

// TestDemo runs amq demo on its embedded transformer: DMQ must buy at least
// 20 dB of output SQNR over no balance and keep accuracy within 1 point of
// FP32, and both results must be written.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	res, err := runDemo(&out, &errb, dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	if len(res) != 3 {
		t.Fatalf("%d result rows, want FP32, DMQ, no balance", len(res))
	}
	fp, dmq, plain := res[0], res[1], res[2]
	if dmq.SQNR-plain.SQNR < 20 {
		t.Errorf("DMQ output SQNR %.1f dB vs %.1f dB without balance: less than 20 dB better", dmq.SQNR, plain.SQNR)
	}
	if d := dmq.Accuracy - fp.Accuracy; d < -1 || d > 1 {
		t.Errorf("DMQ accuracy %.2f%%, FP32 %.2f%%", dmq.Accuracy, fp.Accuracy)
	}
	for _, name := range []string{"transformer_dmq", "transformer_nobalance"} {
		if _, err := onnx.LoadFile(filepath.Join(dir, name+"_deploy_model.onnx")); err != nil {
			t.Error(err)
		}
		if _, err := quant.ReadRecord(filepath.Join(dir, name+"_record.txt")); err != nil {
			t.Error(err)
		}
	}
	if !strings.Contains(out.String(), "Held-out comparison (600 samples)") {
		t.Error("demo output lacks the held-out comparison")
	}
}
