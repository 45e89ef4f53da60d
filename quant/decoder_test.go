package quant

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"amq/internal/testfixture"
	"amq/npy"
	"amq/onnx"
)

// decoderDir holds the LLM-style decoder fixture (scripts/decoder_fixture.py):
// int64 token ids [batch, seq] in, logits [batch, seq, 256] out.
var decoderDir = filepath.Join(quantFixtures, "decoder")

// readDecoderTokens reads an int64 token file of the decoder fixture and
// keeps its first n sequences.
func readDecoderTokens(t *testing.T, name string, n int) *onnx.Tensor {
	t.Helper()
	x, err := npy.ReadFile(filepath.Join(decoderDir, name))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := onnx.Data[int64](x)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	seq := x.Shape[1]
	return onnx.NewTensor([]int{n, seq}, ids[:n*seq])
}

// runDecoder quantizes the decoder with the simplified config cfg on the
// first 64 calibration sequences in batches of batchSize, on sim, without
// the SQNR evaluation of the calibration data (the tests measure held-out
// data themselves).
func runDecoder(t *testing.T, cfg string, batchSize int) *fixtureRun {
	t.Helper()
	m, err := onnx.LoadFile(filepath.Join(decoderDir, "model_op17.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	simple, err := LoadSimpleConfig(filepath.Join(quantFixtures, cfg))
	if err != nil {
		t.Fatal(err)
	}
	data, err := NewTensorSource(map[string]*onnx.Tensor{"tokens": readDecoderTokens(t, "calib.npy", 64)}, batchSize)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := RunFlow(m, testSim, data, filepath.Join(t.TempDir(), "decoder"), QuantizeOptions{Simple: simple, BatchNum: 64 / batchSize, NoEval: true})
	if err != nil {
		t.Fatalf("decoder with %s: %v", cfg, err)
	}
	r := &fixtureRun{rep: rep, model: m}
	if r.fake, err = onnx.LoadFile(rep.FakeQuantPath); err != nil {
		t.Fatal(err)
	}
	if r.deploy, err = onnx.LoadFile(rep.DeployPath); err != nil {
		t.Fatal(err)
	}
	return r
}

// perplexity is exp of the mean cross entropy of the next-token
// predictions in logits [batch, seq, vocab] for tokens [batch, seq]: the
// logits at position t against the token at t+1.
func perplexity(t *testing.T, logits, tokens *onnx.Tensor) float64 {
	t.Helper()
	b, seq, vocab := logits.Shape[0], logits.Shape[1], logits.Shape[2]
	ids, err := onnx.Data[int64](tokens)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != b*seq {
		t.Fatalf("%d tokens for logits %v", len(ids), logits.Shape)
	}
	l := logits.Floats()
	var nll float64
	for i := range b {
		for p := range seq - 1 {
			row := l[(i*seq+p)*vocab : (i*seq+p+1)*vocab]
			top := float64(slices.Max(row))
			var sum float64
			for _, v := range row {
				sum += math.Exp(float64(v) - top)
			}
			nll += top + math.Log(sum) - float64(row[ids[i*seq+p+1]])
		}
	}
	return math.Exp(nll / float64(b*(seq-1)))
}

// TestDecoderQuantizesWithAndWithoutDMQ runs the flow on the LLM-style
// decoder, whose input is int64 token ids and whose RMSNorm outputs carry
// 60x outlier channels, with dmq.cfg and nodmq.cfg. Every Linear is
// quantized and only the two activation-by-activation MatMuls of each
// attention are excluded; ONNX Runtime runs the float model as PyTorch
// does; on 64 held-out sequences in ONNX Runtime, DMQ (α 0.5) keeps the
// perplexity within 3% of FP32 while without the balance the outliers
// cost over 20 dB of output SQNR and at least 10% perplexity.
func TestDecoderQuantizesWithAndWithoutDMQ(t *testing.T) {
	t.Parallel()
	testfixture.RequireORT(t)
	dmq := runDecoder(t, "dmq.cfg", 32)
	plain := runDecoder(t, "nodmq.cfg", 32)
	for _, r := range []*fixtureRun{dmq, plain} {
		if len(r.rep.Layers) != 15 {
			t.Errorf("%d layers quantized, want 15 (q, k, v, o, gate, up, down of 2 blocks and the head)", len(r.rep.Layers))
		}
		if len(r.rep.Excluded) != 4 {
			t.Errorf("%d candidates excluded, want the 4 attention MatMuls: %v", len(r.rep.Excluded), r.rep.Excluded)
		}
		for _, e := range r.rep.Excluded {
			if ok, _ := filepath.Match("/blocks.[01]/attn/MatMul*", e.Layer); !ok {
				t.Errorf("excluded %v, want only attention score and value MatMuls", e)
			}
		}
	}
	for _, l := range dmq.rep.Layers {
		if l.Balance.Kind != BalanceMul {
			t.Errorf("dmq.cfg: layer %s: balance %q, want Mul", l.Name, l.Balance)
		}
	}

	ref := readDecoderTokens(t, "ref_input.npy", 4)
	want := testfixture.ReadNpy(t, filepath.Join(decoderDir, "ref_output.npy"))
	if _, _, err := testfixture.CompareToReference(ortOutput(t, dmq.model, ref), want, 1e-5); err != nil {
		t.Errorf("float decoder in ONNX Runtime against PyTorch: %v", err)
	}

	x := readDecoderTokens(t, "test.npy", 64)
	yf, yd, yp := ortOutput(t, dmq.model, x), ortOutput(t, dmq.fake, x), ortOutput(t, plain.fake, x)
	pf, pd, pp := perplexity(t, yf, x), perplexity(t, yd, x), perplexity(t, yp, x)
	sd, sp := sqnrDB(t, yf, yd), sqnrDB(t, yf, yp)
	t.Logf("held-out (64 sequences): FP32 perplexity %.4f; int8 no balance: perplexity %.4f, output SQNR %.1f dB; int8 DMQ 0.5: perplexity %.4f, output SQNR %.1f dB",
		pf, pp, sp, pd, sd)
	if pf > 10 {
		t.Errorf("FP32 perplexity %.2f: the fixture is not trained (uniform: 256)", pf)
	}
	if pd > 1.03*pf {
		t.Errorf("int8 with DMQ: perplexity %.4f, more than 3%% above FP32's %.4f", pd, pf)
	}
	if pp < 1.1*pf {
		t.Errorf("int8 without balance: perplexity %.4f, less than 10%% above FP32's %.4f: the outliers do not bite", pp, pf)
	}
	if sd-sp < 20 {
		t.Errorf("DMQ improves the output SQNR by %.1f dB (%.1f vs %.1f), want >= 20", sd-sp, sd, sp)
	}
}

// TestDecoderFakeQuantMatchesDeploy checks on the decoder what
// TestFakeQuantMatchesDeploy checks on the other fixtures: the fake-quant
// model in ONNX Runtime and the deploy model in sim compute the same int8
// codes and outputs, here behind a Gather of int64 token ids. The inputs
// are the held-out tokens cut into 512 windows of 16 (the sequence axis is
// dynamic): compareFakeDeploy allows a differing code in 2% of the
// samples, and one code that float rounding flips changes the later codes
// of its whole sequence, so short sequences keep a flip's reach about that
// of one digit image.
func TestDecoderFakeQuantMatchesDeploy(t *testing.T) {
	t.Parallel()
	testfixture.RequireORT(t)
	r := runDecoder(t, "dmq.cfg", 32)
	x := readDecoderTokens(t, "test.npy", 128)
	windows := onnx.NewTensor([]int{512, 16}, x.Data.([]int64))
	compareFakeDeploy(t, r.fake, r.deploy, map[string]*onnx.Tensor{"tokens": windows})
}

// TestRunFlowMatchesAMCTOnDecoder is TestRunFlowMatchesAMCTOutputs on the
// decoder: amq's record and config against the ones AMCT wrote
// (testdata/quant/decoder/amct, scripts/amct_reference.py) for the same
// module and the same batch of 64 calibration sequences, with the same
// tolerances.
func TestRunFlowMatchesAMCTOnDecoder(t *testing.T) {
	t.Parallel()
	for _, cfg := range []string{"dmq", "nodmq", "hfmg"} {
		t.Run(cfg, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(decoderDir, "amct", cfg)
			want, err := ReadRecord(filepath.Join(dir, "record.txt"))
			if err != nil {
				t.Fatal(err)
			}
			r := runDecoder(t, cfg+".cfg", 64)
			tol := ifmrTolerance
			if cfg == "hfmg" {
				tol = hfmgTolerance
			}
			compareAMCTRecord(t, r.rep, want, cfg != "nodmq", tol)
			compareAMCTConfig(t, r.rep.ConfigPath, filepath.Join(dir, "config.json"))
		})
	}
}
