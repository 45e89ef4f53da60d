package sim_test

import (
	"os"
	"testing"

	"codeberg.org/sbinet/npyio"

	"amq/internal/testfixture"
	"amq/onnx"
	"amq/sim"
)

// decoderTol bounds sim's logits against PyTorch's on the decoder fixture,
// relative to the largest |logit| (about 11): both compute in float32 and
// differ only in summation order over dot products of 16 to 176 terms,
// through two blocks; measured 5e-7, so 1e-5 leaves a 20x margin.
const decoderTol = 1e-5

// readTokens reads an int64 .npy of token ids with npyio, independently of
// amq/npy, as testfixture.ReadNpy does for float data.
func readTokens(t *testing.T, path string) *onnx.Tensor {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := npyio.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var ids []int64
	if err := r.Read(&ids); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	shape := append([]int(nil), r.Header.Descr.Shape...)
	if onnx.NumElems(shape) != len(ids) {
		t.Fatalf("%s: shape %v does not match %d elements", path, shape, len(ids))
	}
	return onnx.NewTensor(shape, ids)
}

// decoderSession opens the LLM-style decoder fixture (scripts/decoder_fixture.py)
// in sim and returns it with PyTorch's input tokens and logits.
func decoderSession(t *testing.T) (s *sim.Session, tokens, logits *onnx.Tensor) {
	t.Helper()
	m, err := onnx.LoadFile(testfixture.Path(t, "quant", "decoder", "model_op17.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	s, err = sim.NewSession(m, &sim.Options{Threads: 1})
	if err != nil {
		t.Fatalf("decoder: %v", err)
	}
	tokens = readTokens(t, testfixture.Path(t, "quant", "decoder", "ref_input.npy"))
	logits = testfixture.ReadNpy(t, testfixture.Path(t, "quant", "decoder", "ref_output.npy"))
	return s, tokens, logits
}

// TestDecoderFixtureMatchesPyTorch runs the decoder (int64 token ids, RMSNorm,
// rotary embeddings, SwiGLU, causal mask) in sim on held-out sequences and
// compares the logits with PyTorch's.
func TestDecoderFixtureMatchesPyTorch(t *testing.T) {
	t.Parallel()
	s, tokens, ref := decoderSession(t)
	out, err := s.Run(map[string]*onnx.Tensor{"tokens": tokens})
	if err != nil {
		t.Fatalf("decoder: %v", err)
	}
	maxErr, limit, err := testfixture.CompareToReference(out["logits"], ref, decoderTol)
	if err != nil {
		t.Fatalf("decoder: logits: %v", err)
	}
	t.Logf("max abs error %.3g (limit %.3g)", maxErr, limit)
}

// TestDecoderFixtureIsCausalOverAnySequenceLength runs the first tokens of
// each sequence alone: the sequence axis is dynamic and the mask causal, so
// the logits must be PyTorch's logits at those positions of the full
// sequences (a mask that let a position see later tokens, or rotary and
// mask tables cut at the wrong length, would change them).
func TestDecoderFixtureIsCausalOverAnySequenceLength(t *testing.T) {
	t.Parallel()
	s, tokens, ref := decoderSession(t)
	ids, _ := onnx.Data[int64](tokens)
	b, seq, vocab := ref.Shape[0], ref.Shape[1], ref.Shape[2]
	for _, n := range []int{1, 17, seq - 1} {
		prefix := make([]int64, 0, b*n)
		want := make([]float32, 0, b*n*vocab)
		for i := range b {
			prefix = append(prefix, ids[i*seq:i*seq+n]...)
			want = append(want, ref.Floats()[i*seq*vocab:(i*seq+n)*vocab]...)
		}
		out, err := s.Run(map[string]*onnx.Tensor{"tokens": onnx.NewTensor([]int{b, n}, prefix)})
		if err != nil {
			t.Fatalf("%d tokens: %v", n, err)
		}
		if _, _, err := testfixture.CompareToReference(out["logits"], onnx.NewTensor([]int{b, n, vocab}, want), decoderTol); err != nil {
			t.Errorf("first %d tokens: logits: %v", n, err)
		}
	}
}
