package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"amq/internal/testfixture"
	"amq/onnx"
	"amq/quant"
)

// TestStepCommandsFuseConvBNAsQuantizeDoes runs the step commands (create-config,
// preprocess, calibrate, save) and amq quantize on the digits CNN exported
// with its BatchNormalization nodes: every command that quantizes says which
// Convs absorbed a BatchNormalization, the two routes write the same
// record, and the saved models carry no BatchNormalization.
func TestStepCommandsFuseConvBNAsQuantizeDoes(t *testing.T) {
	t.Parallel()
	model := testfixture.Path(t, "quant", "cnn", "model_op13_bn.onnx")
	scfg := testfixture.Path(t, "quant", "dmq.cfg")
	data := testfixture.Path(t, "quant", "cnn", "calib.npy")
	dir := t.TempDir()
	cfg, rec := filepath.Join(dir, "config.json"), filepath.Join(dir, "record.txt")
	const line = "fused BatchNormalization into: /conv1/Conv, /conv2/Conv"

	steps := [][]string{
		{"create-config", "--model", model, "--cfg", scfg, "--out", cfg},
		{"preprocess", "--model", model, "--config", cfg, "--data", data, "--batch-size", "64", "--record", rec},
		{"calibrate", "--model", model, "--config", cfg, "--data", data, "--batch-size", "64", "--record", rec},
		{"save", "--model", model, "--config", cfg, "--record", rec, "--out", filepath.Join(dir, "steps")},
	}
	for i, args := range steps {
		out := mustAmq(t, args...)
		// create-config works on the unfused model: fusion comes after.
		if has := strings.Contains(out.String(), line); has != (i > 0) {
			t.Errorf("%s output (fusion line expected: %v):\n%s", args[0], i > 0, out)
		}
	}
	out := mustAmq(t, "quantize", "--model", model, "--config", scfg, "--data", data, "--batch-size", "64", "--no-eval", "--out", filepath.Join(dir, "flow"))
	if !strings.Contains(out.String(), line) {
		t.Errorf("quantize output lacks %q:\n%s", line, out)
	}

	stepRec, err := quant.ReadRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	flowRec, err := quant.ReadRecord(filepath.Join(dir, "flow_record.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(stepRec) != 4 || !reflect.DeepEqual(stepRec, flowRec) {
		t.Errorf("records differ:\nsteps %v\nflow  %v", stepRec, flowRec)
	}
	for _, p := range []string{"steps_fake_quant_model.onnx", "steps_deploy_model.onnx", "flow_fake_quant_model.onnx", "flow_deploy_model.onnx"} {
		m, err := onnx.LoadFile(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range m.Graph.Nodes {
			if n.OpType == "BatchNormalization" {
				t.Errorf("%s: %v left", p, n)
			}
		}
	}
}

// TestCommandsRefuseAnUnwritableOutputFirst checks that every command that
// writes checks its output folder before anything else: here the model
// does not even exist, and the error is still about the output.
func TestCommandsRefuseAnUnwritableOutputFirst(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(file, "out")
	missing := filepath.Join(dir, "missing.onnx")
	for _, args := range [][]string{
		{"quantize", "--model", missing, "--data", missing, "--out", bad},
		{"preprocess", "--model", missing, "--config", missing, "--data", missing, "--record", bad},
		{"calibrate", "--model", missing, "--config", missing, "--data", missing, "--record", bad},
		{"save", "--model", missing, "--config", missing, "--record", missing, "--out", bad},
		{"create-config", "--model", missing, "--out", bad},
	} {
		_, err := amq(t, args...)
		if err == nil || !strings.Contains(err.Error(), "not a folder") || !strings.Contains(err.Error(), file) {
			t.Errorf("amq %s: error %v, want one saying %s is not a folder", args[0], err, file)
		}
	}
}
