package quant

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"amq/backend"
	"amq/onnx"
)

// TestDefaultEvalIsATwentiethOfTheSamples: whole batches from 20 batches
// on; below that the first samples of the first batch when it can be cut,
// else the first batch; an explicit batch count is kept as given.
func TestDefaultEvalIsATwentiethOfTheSamples(t *testing.T) {
	for _, c := range []struct {
		n, batchNum, batchSize int
		cuttable               bool
		batches, samples       int
		cut                    bool
	}{
		{0, 1, 16, true, 1, 4, true},
		{0, 10, 32, true, 1, 16, true},
		{0, 1, 4, true, 1, 4, false},
		{0, 2, 3, true, 1, 3, false},
		{0, 1, 16, false, 1, 16, false},
		{0, 19, 20, true, 1, 19, true},
		{0, 4, 20, true, 1, 4, true},
		{0, 20, 8, true, 1, 8, false},
		{0, 40, 8, true, 2, 16, false},
		{1, 1, 16, true, 1, 16, false},
		{3, 2, 4, true, 2, 8, false},
		{0, 3, 1, true, 1, 1, false},
	} {
		src, batches, samples := evalSource(sliceData{}, c.n, c.batchNum, c.batchSize, c.cuttable)
		_, cut := src.(firstSamples)
		if batches != c.batches || samples != c.samples || cut != c.cut {
			t.Errorf("evalSource(n %d, %d batches of %d, cuttable %v) = %d batches, %d samples, cut %v; want %d, %d, %v",
				c.n, c.batchNum, c.batchSize, c.cuttable, batches, samples, cut, c.batches, c.samples, c.cut)
		}
	}
}

// shapeCompiler is the sim backend as a backend that compiles a model per
// input shape.
type shapeCompiler struct{ backend.Backend }

func (shapeCompiler) CompilesPerShape() bool { return true }

// TestBatchCuttableNeedsADynamicBatchAndAShapeFreeBackend: a fixed batch
// dimension or a backend that compiles per shape (also behind the
// context wrapper) keeps whole batches.
func TestBatchCuttableNeedsADynamicBatchAndAShapeFreeBackend(t *testing.T) {
	fixed, _ := calibModel()
	dynamic := dynamicCalibModel()
	for _, c := range []struct {
		name string
		m    *onnx.Model
		b    backend.Backend
		want bool
	}{
		{"fixed batch", fixed, testSim, false},
		{"dynamic batch", dynamic, testSim, true},
		{"dynamic batch behind a context", dynamic, backend.WithContext(context.Background(), testSim), true},
		{"shape compiler", dynamic, shapeCompiler{testSim}, false},
		{"shape compiler behind a context", dynamic, backend.WithContext(context.Background(), shapeCompiler{testSim}), false},
	} {
		if got := batchCuttable(c.m, c.b); got != c.want {
			t.Errorf("%s: batchCuttable = %v, want %v", c.name, got, c.want)
		}
	}
}

// dynamicCalibModel is calibModel with a batch dimension of no fixed size.
func dynamicCalibModel() *onnx.Model {
	m, _ := calibModel()
	m.Graph.Inputs[0].Shape[0] = onnx.Dim{Value: -1, Param: "N"}
	return m
}

// TestRunFlowEvaluatesTheFirstSamplesOfASingleBatch: one batch of 8
// samples of a model with a dynamic batch is evaluated on its first four
// samples, and the reported SQNR is theirs, computed here from the float
// and fake-quant models.
func TestRunFlowEvaluatesTheFirstSamplesOfASingleBatch(t *testing.T) {
	t.Parallel()
	m := dynamicCalibModel()
	_, layers := calibModel()
	rng := rand.New(rand.NewPCG(9, 9))
	data := sliceData{{"x": randInput(rng, 1, 8, 4, 6, 6)}}
	rep, err := RunFlow(m, testSim, data, filepath.Join(t.TempDir(), "m"), QuantizeOptions{Config: calibConfigNoDMQ(layers, 1)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Batches != 1 || rep.BatchSize != 8 || rep.EvalBatches != 1 || rep.EvalSamples != 4 {
		t.Fatalf("%d batches of %d, evaluated %d batches, %d samples; want 1 of 8, 1 and 4", rep.Batches, rep.BatchSize, rep.EvalBatches, rep.EvalSamples)
	}
	fake, err := onnx.LoadFile(rep.FakeQuantPath)
	if err != nil {
		t.Fatal(err)
	}
	first, err := data[0]["x"].Rows(0, 4)
	if err != nil {
		t.Fatal(err)
	}
	out := m.Graph.Outputs[0].Name
	want := outputSQNR(t, m, fake, map[string]*onnx.Tensor{"x": first}, out)
	if math.Abs(rep.Outputs[out]-want) > 1e-6*math.Abs(want) {
		t.Errorf("output SQNR %v dB, want %v on the first four samples", rep.Outputs[out], want)
	}
	// The whole batch gives another figure: the cut is what ran.
	if whole := outputSQNR(t, m, fake, data[0], out); math.Abs(rep.Outputs[out]-whole) <= 1e-6*math.Abs(whole) {
		t.Errorf("output SQNR %v dB is the whole batch's", rep.Outputs[out])
	}
}

// TestFirstSamplesShareTheBatch: the cut batch is the first samples of
// every input of batch 0, without a copy.
func TestFirstSamplesShareTheBatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	x, z := randInput(rng, 1, 4, 2, 3), randInput(rng, 1, 4, 5)
	src := firstSamples{sliceData{{"x": x, "z": z}, {"x": x, "z": z}}, 3}
	if src.Len() != 1 {
		t.Fatalf("Len %d, want 1", src.Len())
	}
	in, err := src.Batch(0)
	if err != nil {
		t.Fatal(err)
	}
	for name, full := range map[string]*onnx.Tensor{"x": x, "z": z} {
		got := in[name]
		if got.Shape[0] != 3 || !slices.Equal(got.Shape[1:], full.Shape[1:]) || got.Name != name {
			t.Fatalf("input %q: shape %v name %q, want 3 samples of %v", name, got.Shape, got.Name, full.Shape[1:])
		}
		f, g := full.Floats(), got.Floats()
		if !slices.Equal(g, f[:len(g)]) || &g[0] != &f[0] {
			t.Errorf("input %q: not the first samples of the batch, in place", name)
		}
	}
}
