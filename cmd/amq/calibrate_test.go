package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"amq/backend"
	"amq/internal/testfixture"
	"amq/npy"
	"amq/onnx"
	"amq/quant"
)

// TestCalibrateCommandNeedsPreprocessAndMatchesLibrary runs create-config, preprocess and
// calibrate on the torch-exported MLP fixture and checks the record.
func TestCalibrateCommandNeedsPreprocessAndMatchesLibrary(t *testing.T) {
	t.Parallel()
	model := testfixture.Path(t, "fixtures", "mlp", "model_op17.onnx")
	data := testfixture.Path(t, "fixtures", "mlp", "input.npy")
	dir := t.TempDir()
	scfg := filepath.Join(dir, "s.cfg")
	os.WriteFile(scfg, []byte(`batch_num : 2
common_config : { dmq_balancer : { migration_strength : 0.5 } }`), 0o644)
	cfg, rec := filepath.Join(dir, "config.json"), filepath.Join(dir, "record.txt")
	mustAmq(t, "create-config", "--model", model, "--cfg", scfg, "--out", cfg)
	// Calibrating before preprocessing is an error that says so.
	_, err := amq(t, "calibrate", "--model", model, "--config", cfg, "--data", data, "--batch-size", "2", "--record", rec)
	if err == nil || !strings.Contains(err.Error(), "run preprocess first") {
		t.Fatalf("calibrate without balance factors: %v", err)
	}
	mustAmq(t, "preprocess", "--model", model, "--config", cfg, "--data", data, "--batch-size", "2", "--record", rec)
	r, err := quant.ReadRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnx.LoadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	layers, _, err := quant.FindLayers(m, quant.FindOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		if r[l.Name] == nil || len(r[l.Name].BalanceFactor) == 0 || r[l.Name].HasQuant {
			t.Errorf("after preprocess, layer %q: %+v", l.Name, r[l.Name])
		}
	}
	// Batch size 3 leaves one of the 4 samples out: one batch only, but
	// batch_num is 2.
	_, err = amq(t, "calibrate", "--model", model, "--config", cfg, "--data", data, "--batch-size", "3", "--record", rec)
	if err == nil || !strings.Contains(err.Error(), "batch_num") {
		t.Fatalf("calibrate with too few batches: %v", err)
	}
	mustAmq(t, "calibrate", "--model", model, "--config", cfg, "--data", data, "--batch-size", "2", "--record", rec)
	r2, err := quant.ReadRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	// The same computation through the library must give the same record.
	want := quant.Record{}
	for k, v := range r {
		c := *v
		want[k] = &c
	}
	c, err := quant.ReadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	x, err := npy.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	src, err := quant.NewTensorSource(map[string]*onnx.Tensor{m.Graph.Inputs[0].Name: x}, 2)
	if err != nil || src.Len() != 2 || x.Shape[0] != 4 {
		t.Fatalf("batches: %v, %d", err, src.Len())
	}
	b, _ := openBackend("sim", backend.Options{})
	if err := quant.Calibrate(m, layers, c, want, b, src); err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		got, w := r2[l.Name], want[l.Name]
		if got == nil || !got.HasQuant || got.ScaleD != w.ScaleD || got.OffsetD != w.OffsetD || len(got.ScaleW) != len(w.ScaleW) || got.ActType != "INT8" || got.WtsType != "INT8" {
			t.Errorf("layer %q: record %+v, library %+v", l.Name, got, w)
		}
	}
}
