package quant

import (
	"fmt"

	"amq/backend"
	"amq/onnx"
)

// The SQNR evaluation after saving runs two models (the float and the
// fake-quant one) over its samples; calibration runs one (two with a
// balance) over all of them. A twentieth of the calibration samples keeps
// the evaluation within about a tenth of the flow: whole batches once
// there are 20 of them, else the first samples of the first batch (at
// least four), when
// the model and the backend take a batch of another size. Evaluating a
// whole batch of 16 samples, all a user had, cost as much as calibrating
// on it (PP-OCRv4's recognizer: 1.4 s against 1.5) and took the peak
// RSS from 195 to 300 MB.

// DefaultEvalSamples is the number of samples the evaluation runs by
// default for samples calibration samples: one in 20, at least
// minEvalSamples.
func DefaultEvalSamples(samples int) int { return max(minEvalSamples, samples/20) }

// minEvalSamples is the fewest samples the default evaluation runs: the
// SQNR of one sample strayed up to 3.5 dB from that of all 16 on the
// project's fixtures (the transformer's output: 36.7 dB against 40.2),
// that of four within 0.8 dB (39.4).
const minEvalSamples = 4

// evalSource returns what the evaluation runs of src, the batchNum
// calibration batches of batchSize samples: the first batches (option n,
// 0 for the default) or, by default with fewer than 20 batches, the first
// samples of the first batch when the batch can be cut (batchCuttable).
// It also returns how many batches and samples that is.
func evalSource(src DataSource, n, batchNum, batchSize int, cuttable bool) (DataSource, int, int) {
	batches := evalBatches(n, batchNum)
	k := DefaultEvalSamples(batchNum * batchSize)
	if n > 0 || !cuttable || k >= batchSize {
		return firstBatches{src, batches}, batches, batches * batchSize
	}
	return firstSamples{src, k}, 1, k
}

// batchCuttable reports whether every graph input of m has a batch
// dimension of no fixed size, and b takes a new batch size without
// compiling the model again (backend.ShapeCompiler).
func batchCuttable(m *onnx.Model, b backend.Backend) bool {
	if sc, ok := b.(backend.ShapeCompiler); ok && sc.CompilesPerShape() {
		return false
	}
	for _, in := range m.Graph.Inputs {
		if len(in.Shape) == 0 || in.Shape[0].Known() {
			return false
		}
	}
	return len(m.Graph.Inputs) > 0
}

// firstSamples is the first n samples (along axis 0) of batch 0 of a data
// source, as its only batch; the tensors share the batch's storage.
type firstSamples struct {
	src DataSource
	n   int
}

func (f firstSamples) Len() int { return min(1, f.src.Len()) }

func (f firstSamples) Batch(i int) (map[string]*onnx.Tensor, error) {
	in, err := f.src.Batch(i)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*onnx.Tensor, len(in))
	for name, t := range in {
		n := f.n
		if t.Rank() > 0 {
			n = min(n, t.Shape[0])
		}
		sl, err := t.Rows(0, n)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", name, err)
		}
		sl.Name = name
		out[name] = sl
	}
	return out, nil
}
