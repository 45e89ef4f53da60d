package main

import (
	"amq/internal/testfixture"
	"bytes"
	"strings"
	"testing"
)

func TestProgressWritesOneLinePerPhaseWithoutATerminal(t *testing.T) {
	t.Parallel()
	var w bytes.Buffer
	p := newProgress(&w, false)
	end := p.phase("load m.onnx")
	end()
	for _, step := range []string{"preprocess", "calibrate"} {
		for i := 1; i <= 3; i++ {
			p.step(step, i, 3)
		}
	}
	p.step("evaluate", 1, 1)
	if strings.Contains(w.String(), "evaluate") {
		t.Errorf("the evaluate line came before its batch was computed: %q", w.String())
	}
	p.finish()
	lines := strings.Split(strings.TrimSuffix(w.String(), "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "load m.onnx: ") ||
		!strings.HasPrefix(lines[1], "preprocess: 3 batches in ") || !strings.HasPrefix(lines[2], "calibrate: 3 batches in ") ||
		!strings.HasPrefix(lines[3], "evaluate: 1 batch in ") {
		t.Errorf("progress wrote %q, want one line per phase", w.String())
	}
	if strings.ContainsAny(w.String(), "\r\033") {
		t.Errorf("progress wrote terminal controls to a non-terminal: %q", w.String())
	}
}

func TestProgressIsSilentWhenQuiet(t *testing.T) {
	t.Parallel()
	var w bytes.Buffer
	p := newProgress(&w, true)
	p.phase("load m.onnx")()
	p.step("calibrate", 1, 1)
	p.finish()
	if w.Len() != 0 {
		t.Errorf("--quiet progress wrote %q", w.String())
	}
}

func TestQuietFlagSilencesQuantize(t *testing.T) {
	t.Parallel()
	res := mustAmq(t, "quantize", "--quiet",
		"--model", testfixture.Path(t, "quant", "cnn", "model_op13.onnx"),
		"--data", testfixture.Path(t, "quant", "cnn", "calib.npy"),
		"--batch-size", "32", "--no-eval",
		"--out", t.TempDir()+"/m")
	if res.Stderr != "" {
		t.Errorf("stderr with --quiet: %q", res.Stderr)
	}
}
