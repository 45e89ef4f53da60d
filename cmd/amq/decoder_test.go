package main

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"amq/internal/testfixture"
	"amq/npy"
)

// TestQuantizeTakesInt64TokenIDs runs amq quantize on the LLM-style decoder
// fixture with its calibration data as it is kept, an int64 .npy of token
// ids [sequences, 64], then amq run on the deploy model: the ids reach the
// model's int64 input uncast, every Linear is quantized, and the deploy
// model's logits on held-out sequences stay within 30 dB of PyTorch's
// float logits (α 0.5 gives about 38).
func TestQuantizeTakesInt64TokenIDs(t *testing.T) {
	t.Parallel()
	prefix := filepath.Join(t.TempDir(), "decoder")
	res := mustAmq(t, "quantize",
		"--model", testfixture.Path(t, "quant", "decoder", "model_op17.onnx"),
		"--data", testfixture.Path(t, "quant", "decoder", "calib.npy"),
		"--config", testfixture.Path(t, "quant", "dmq.cfg"),
		"--batch-size", "32", "--batch-num", "2", "--no-report",
		"--out", prefix)
	for _, want := range []string{"15 layers quantized on 2 batches of 32 samples", "/blocks.1/mlp/down/MatMul", "/head/MatMul", "output logits: SQNR"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, res.Stdout)
		}
	}
	if strings.Contains(res.String(), "cast") {
		t.Errorf("int64 token ids were cast:\n%s", res)
	}

	out := filepath.Join(t.TempDir(), "logits.npy")
	mustAmq(t, "run", "--model", prefix+"_deploy_model.onnx",
		"--input", testfixture.Path(t, "quant", "decoder", "ref_input.npy"), "--output", out)
	got, err := npy.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	ref := testfixture.ReadNpy(t, testfixture.Path(t, "quant", "decoder", "ref_output.npy"))
	if got.Len() != ref.Len() {
		t.Fatalf("deploy logits %v, PyTorch's %v", got.Shape, ref.Shape)
	}
	var sig, noise float64
	for i, r := range ref.Floats() {
		d := float64(got.Floats()[i]) - float64(r)
		sig += float64(r) * float64(r)
		noise += d * d
	}
	db := 10 * math.Log10(sig/noise)
	t.Logf("deploy model (sim) against PyTorch's float logits: %.1f dB", db)
	if !(db >= 30) {
		t.Errorf("deploy model's logits: SQNR %.1f dB against PyTorch's float logits, want >= 30", db)
	}
}
