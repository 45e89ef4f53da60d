package main

import (
	"path/filepath"
	"slices"
	"testing"

	"amq/internal/testfixture"
	"amq/onnx"
	"amq/quant"
)

// TestStepCommandsOnOldOpset runs AMCT's steps one command at a time on a
// PyTorch model of opset 9 with Upsample and a BatchNormalization node:
// create-config names the layers by the model's node names, calibrate and
// save accept the config on the upgraded model, and both saved models are
// opset 11.
func TestStepCommandsOnOldOpset(t *testing.T) {
	t.Parallel()
	model := testfixture.Path(t, "oldopset", "nearest", "model_op9.onnx")
	data := filepath.Join(filepath.Dir(model), "input.npy")
	dir := t.TempDir()
	cfg, rec, out := filepath.Join(dir, "config.json"), filepath.Join(dir, "record.txt"), filepath.Join(dir, "m")
	for _, args := range [][]string{
		{"create-config", "--model", model, "--out", cfg},
		{"calibrate", "--model", model, "--config", cfg, "--data", data, "--batch-size", "16", "--record", rec, "--threads", "1"},
		{"save", "--model", model, "--config", cfg, "--record", rec, "--out", out},
	} {
		mustAmq(t, args...)
	}
	c, err := quant.ReadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnx.LoadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	var convs []string
	for _, n := range m.Graph.Nodes {
		if n.OpType == "Conv" {
			convs = append(convs, n.Name)
		}
	}
	if names := c.LayerNames(); !slices.Equal(names, convs) {
		t.Errorf("config layers %v, the model's Conv nodes %v", names, convs)
	}
	for _, suffix := range []string{"_fake_quant_model.onnx", "_deploy_model.onnx"} {
		s, err := onnx.LoadFile(out + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if s.Opset() < 11 {
			t.Errorf("%s: opset %d", suffix, s.Opset())
		}
	}
}
