package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"amq/internal/testfixture"
)

// quantizeCNN runs amq quantize on the digits CNN with the .cfg named cfg
// and extra arguments, into a fresh folder, and returns the prefix.
func quantizeCNN(t *testing.T, cfg string, extra ...string) string {
	t.Helper()
	prefix := filepath.Join(t.TempDir(), "cnn")
	args := append([]string{"quantize",
		"--model", testfixture.Path(t, "quant", "cnn", "model_op13.onnx"),
		"--data", testfixture.Path(t, "quant", "cnn", "calib.npy"),
		"--config", testfixture.Path(t, "quant", cfg),
		"--batch-size", "16", "--batch-num", "2",
		"--out", prefix}, extra...)
	mustAmq(t, args...)
	return prefix
}

// TestReportRemakesMarkdownAndPlotsFromTheJSON: amq report, given the
// _report.json of amq quantize alone in a folder, writes next to it the
// same Markdown, byte for byte, and the same PNGs as amq quantize did.
func TestReportRemakesMarkdownAndPlotsFromTheJSON(t *testing.T) {
	t.Parallel()
	prefix := quantizeCNN(t, "hfmg.cfg")
	dir := t.TempDir()
	js, err := os.ReadFile(prefix + "_report.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cnn_report.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	rendered, _ := filepath.Glob(prefix + "_report*")
	orig := map[string][]byte{}
	for _, p := range rendered {
		if !strings.HasSuffix(p, ".json") {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			orig[filepath.Base(p)] = b
		}
	}
	if _, ok := orig["cnn_report.md"]; !ok || len(orig) < 3 {
		t.Fatalf("quantize wrote %v", rendered)
	}
	res := mustAmq(t, "report", "--from", filepath.Join(dir, "cnn_report.json"))
	for name, want := range orig {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("amq report did not write %s: %v", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the one amq quantize wrote (%d vs %d bytes)", name, len(got), len(want))
		}
		if !strings.Contains(res.Stdout, "wrote "+filepath.Join(dir, name)) {
			t.Errorf("amq report does not name %s", name)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != len(orig)+1 {
		t.Errorf("amq report left %d entries, want the JSON and %d files", len(entries), len(orig))
	}
	md := string(orig["cnn_report.md"])
	for _, want := range []string{"| `/conv2/Conv` | Conv | hfmg |", "## Balance (DMQ)", "2 batches of 16 samples", "![activation histograms](cnn_report_histograms.png)"} {
		if !strings.Contains(md, want) {
			t.Errorf("the Markdown lacks %q", want)
		}
	}
}

// TestQuantizeWithoutEvaluationReportsNoSQNR: with --no-eval the SQNR is
// null in the JSON, "-" in the Markdown, and there is no SQNR plot.
func TestQuantizeWithoutEvaluationReportsNoSQNR(t *testing.T) {
	t.Parallel()
	prefix := quantizeCNN(t, "nodmq.cfg", "--no-eval")
	b, err := os.ReadFile(prefix + "_report.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Layers []map[string]any `json:"layers"`
		Phases []struct {
			Name string `json:"name"`
		} `json:"phases"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for _, l := range raw.Layers {
		if v, ok := l["sqnr_db"]; !ok || v != nil {
			t.Errorf("%v: sqnr_db %v, want null", l["name"], v)
		}
	}
	for _, p := range raw.Phases {
		if p.Name == "evaluate" {
			t.Error("an evaluate phase without evaluation")
		}
	}
	if _, err := os.Stat(prefix + "_report_sqnr.png"); err == nil {
		t.Error("an SQNR plot without SQNR")
	}
	md, _ := os.ReadFile(prefix + "_report.md")
	rows := 0
	for _, line := range strings.Split(string(md), "\n") {
		if strings.HasPrefix(line, "| `/") && strings.Contains(line, "| ifmr |") {
			rows++
			if !strings.HasSuffix(line, "| - |") {
				t.Errorf("layer row with an SQNR: %s", line)
			}
		}
	}
	if rows != 4 {
		t.Errorf("%d layer rows in the Markdown, want 4:\n%s", rows, md)
	}
}

// TestQuantizeReportThatCannotBeWrittenLeavesNoFile: when a report file
// cannot be put in place (a folder has its name), amq quantize fails
// naming it and leaves neither the report nor the four outputs.
func TestQuantizeReportThatCannotBeWrittenLeavesNoFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prefix := filepath.Join(dir, "cnn")
	if err := os.Mkdir(prefix+"_report.md", 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := amq(t, "quantize",
		"--model", testfixture.Path(t, "quant", "cnn", "model_op13.onnx"),
		"--data", testfixture.Path(t, "quant", "cnn", "calib.npy"),
		"--config", testfixture.Path(t, "quant", "nodmq.cfg"),
		"--batch-size", "16", "--no-eval", "--out", prefix)
	if err == nil || !strings.Contains(err.Error(), prefix+"_report.md") {
		t.Fatalf("error %v, want one naming %s", err, prefix+"_report.md")
	}
	var names []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"cnn_report.md"}) {
		t.Errorf("the failed run left %v, want only the folder that was there", names)
	}
}

// TestQuantizeNoReportWritesTheFourFilesOnly: --no-report leaves the
// models, config and record and no report file.
func TestQuantizeNoReportWritesTheFourFilesOnly(t *testing.T) {
	t.Parallel()
	prefix := quantizeCNN(t, "dmq.cfg", "--no-report")
	var names []string
	entries, _ := os.ReadDir(filepath.Dir(prefix))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"cnn_deploy_model.onnx", "cnn_fake_quant_model.onnx", "cnn_quant_config.json", "cnn_record.txt"}; !slices.Equal(names, want) {
		t.Errorf("--no-report left %v, want %v", names, want)
	}
}
