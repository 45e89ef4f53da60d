package main

import (
	"amq/internal/testfixture"
	"amq/onnx"
	"amq/quant"
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

// countingData is a DataSource of n empty batches.
type countingData int

func (d countingData) Len() int                                 { return int(d) }
func (countingData) Batch(int) (map[string]*onnx.Tensor, error) { return nil, nil }

func TestProgressCountsAShardsBatchesWithinTheShardOnce(t *testing.T) {
	t.Parallel()
	var w bytes.Buffer
	p := newProgress(&w, false)
	// Shard 1/3 of 8 batches reads batches 1, 4 and 7, then 1 again.
	src := p.shardSource(countingData(8), "calibrate", quant.Shard{Index: 1, Count: 3}, 8)
	for _, i := range []int{1, 4, 1} {
		src.Batch(i)
	}
	if p.done != 2 {
		t.Errorf("after batches 1, 4 and 1 again the shard reports %d batches done, want 2", p.done)
	}
	src.Batch(7)
	p.finish()
	if !strings.HasPrefix(w.String(), "calibrate: 3 batches in ") {
		t.Errorf("progress wrote %q, want the shard's 3 batches", w.String())
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
