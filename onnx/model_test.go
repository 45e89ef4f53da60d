package onnx_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"amq/internal/testfixture"
	"amq/onnx"
)

// TestRoundTripConformanceModels loads every model of ONNX's test suite,
// saves it and loads it again: the graphs must be identical.
func TestRoundTripConformanceModels(t *testing.T) {
	testfixture.Conformance(t)
	models, _ := filepath.Glob(filepath.Join(testfixture.ConformanceDir, "*", "*", "model.onnx"))
	if len(models) < 500 {
		t.Fatalf("found only %d models under %s", len(models), testfixture.ConformanceDir)
	}
	dir := t.TempDir()
	loaded := 0
	for _, path := range models {
		m, err := onnx.LoadFile(path)
		if err != nil {
			// Some suite models use features amq rejects on purpose
			// (sparse initializers); the error must name the file.
			if !filepath.IsAbs(path) || err.Error() == "" {
				t.Errorf("%s: bad error %v", path, err)
			}
			continue
		}
		loaded++
		out := filepath.Join(dir, "m.onnx")
		if err := m.Save(out, nil); err != nil {
			t.Fatalf("%s: save: %v", path, err)
		}
		m2, err := onnx.LoadFile(out)
		if err != nil {
			t.Fatalf("%s: reload: %v", path, err)
		}
		b1, err1 := m.Marshal()
		b2, err2 := m2.Marshal()
		if err1 != nil || err2 != nil || !bytes.Equal(b1, b2) {
			t.Errorf("%s: graph differs after a save/load round trip", path)
		}
	}
	t.Logf("round-tripped %d of %d models", loaded, len(models))
	if loaded < len(models)*95/100 {
		t.Errorf("loaded only %d of %d models", loaded, len(models))
	}
}
