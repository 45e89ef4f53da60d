package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"amq/onnx"
	"amq/quant"
)

// TestDemoShowsDMQBeatsNoBalance runs amq demo on its embedded transformer: DMQ must buy at least
// 20 dB of output SQNR over no balance and keep accuracy within 1 point of
// FP32, and both results must be written with their reports and plots.
func TestDemoShowsDMQBeatsNoBalance(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out, errb bytes.Buffer
	res, err := runDemo(&out, newProgress(&errb, false), dir, 2)
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
		for _, f := range []string{"_report.json", "_report.md", "_report_sqnr.png", "_report_histograms.png"} {
			if _, err := os.Stat(filepath.Join(dir, name+f)); err != nil {
				t.Error(err)
			}
		}
	}
	// The SmoothQuant picture of the most unbalanced layers, with DMQ only.
	for k := 1; k <= 4; k++ {
		if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("transformer_dmq_report_balance_%d.png", k))); err != nil {
			t.Error(err)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "transformer_nobalance_report_balance_*")); len(m) != 0 {
		t.Errorf("balance plots without balance: %v", m)
	}
	if !strings.Contains(out.String(), "Held-out comparison (600 samples)") {
		t.Error("demo output lacks the held-out comparison")
	}
}
