package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"amq/internal/testfixture"
)

// TestShardedCommandsWriteTheOneProcessRecord runs preprocess and
// calibrate in 3 shards of 7 batches (3, 2 and 2), merges the stats files
// out of order, and compares the record with the one-process commands'.
func TestShardedCommandsWriteTheOneProcessRecord(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	model := filepath.Join(quantFixtureDir(t), "transformer", "model_op13.onnx")
	data := filepath.Join(quantFixtureDir(t), "transformer", "calib.npy")
	cfg := filepath.Join(dir, "config.json")
	mustAmq(t, "create-config", "--model", model, "--cfg", filepath.Join(quantFixtureDir(t), "hfmg.cfg"), "--batch-num", "7", "--out", cfg)
	run := []string{"--model", model, "--config", cfg, "--data", data, "--batch-size", "9", "--quiet"}
	one, sharded := filepath.Join(dir, "one.txt"), filepath.Join(dir, "sharded.txt")
	mustAmq(t, append([]string{"preprocess", "--record", one}, run...)...)
	mustAmq(t, append([]string{"calibrate", "--record", one}, run...)...)
	for _, phase := range []string{"preprocess", "calibrate"} {
		var files []string
		for k := range 3 {
			f := filepath.Join(dir, fmt.Sprintf("%s%d.stats", phase, k))
			out := mustAmq(t, append([]string{phase, "--record", sharded, "--shard", fmt.Sprintf("%d/3", k), "--stats", f}, run...)...)
			if !strings.Contains(out.Stdout, "wrote "+f) {
				t.Errorf("%s shard %d printed %q", phase, k, out)
			}
			files = append(files, f)
		}
		mustAmq(t, "merge", "--model", model, "--config", cfg, "--record", sharded, "--stats", files[2], files[0], files[1])
	}
	want, _ := os.ReadFile(one)
	got, err := os.ReadFile(sharded)
	if err != nil || !bytes.Equal(got, want) || len(want) == 0 {
		t.Fatalf("merged record (%v) differs from the one-process record:\n%s\nwant\n%s", err, got, want)
	}

	// A refused merge names the file and writes no record.
	fresh := filepath.Join(dir, "fresh.txt")
	_, err = amq(t, append([]string{"merge", "--model", model, "--config", cfg, "--record", fresh, "--stats"}, statsFiles(dir, "preprocess", 0, 2)...)...)
	if err == nil || !strings.Contains(err.Error(), "shard 1/3 missing") {
		t.Errorf("merge without shard 1: %v", err)
	}
	short := filepath.Join(dir, "short.stats")
	b, _ := os.ReadFile(filepath.Join(dir, "preprocess1.stats"))
	os.WriteFile(short, b[:len(b)-5], 0o644)
	_, err = amq(t, "merge", "--model", model, "--config", cfg, "--record", fresh, "--stats",
		filepath.Join(dir, "preprocess0.stats"), short, filepath.Join(dir, "preprocess2.stats"))
	if err == nil || !strings.Contains(err.Error(), short) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("merge of a truncated file: %v", err)
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Errorf("a refused merge wrote %s", fresh)
	}
	_, err = amq(t, append([]string{"preprocess", "--shard", "1/3"}, run...)...)
	if err == nil || !strings.Contains(err.Error(), "--stats") {
		t.Errorf("--shard without --stats: %v", err)
	}
}

// statsFiles returns the stats files of phase for shards ks in dir.
func statsFiles(dir, phase string, ks ...int) []string {
	var out []string
	for _, k := range ks {
		out = append(out, filepath.Join(dir, fmt.Sprintf("%s%d.stats", phase, k)))
	}
	return out
}

func quantFixtureDir(t *testing.T) string { return testfixture.Path(t, "quant") }
