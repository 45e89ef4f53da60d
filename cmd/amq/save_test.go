package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"amq/internal/testfixture"
	"amq/quant"
)

// TestSaveRefusesConfigForAnotherModel checks that amq save, like
// preprocess and calibrate, refuses a config that enables a layer the model
// does not have (a config made for another model) instead of quietly
// quantizing the layers that happen to match, and writes nothing.
func TestSaveRefusesConfigForAnotherModel(t *testing.T) {
	t.Parallel()
	model := testfixture.Path(t, "fixtures", "mlp", "model_op17.onnx")
	data := testfixture.Path(t, "fixtures", "mlp", "input.npy")
	dir := t.TempDir()
	scfg := filepath.Join(dir, "s.cfg")
	if err := os.WriteFile(scfg, []byte("batch_num : 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath, rec := filepath.Join(dir, "config.json"), filepath.Join(dir, "record.txt")
	mustAmq(t, "create-config", "--model", model, "--cfg", scfg, "--out", cfgPath)
	mustAmq(t, "calibrate", "--model", model, "--config", cfgPath, "--data", data, "--batch-size", "2", "--record", rec)
	cfg, err := quant.ReadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	names := cfg.LayerNames()
	if len(names) == 0 {
		t.Fatal("the config has no layers")
	}
	lc := *cfg.Layers[names[0]]
	cfg.Layers["layer_of_another_model"] = &lc
	if err := quant.WriteConfig(cfgPath, cfg); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "q")
	_, err = amq(t, "save", "--model", model, "--config", cfgPath, "--record", rec, "--out", out)
	if err == nil || !strings.Contains(err.Error(), "layer_of_another_model") {
		t.Errorf("save with a config for another model: error %v, want one naming the layer", err)
	}
	if _, serr := os.Stat(out + "_deploy_model.onnx"); serr == nil {
		t.Errorf("save wrote %s despite the bad config", out+"_deploy_model.onnx")
	}
}
