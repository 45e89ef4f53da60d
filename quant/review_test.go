package quant

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"amq/onnx"
)

// TestReviewChannelMaxRejectsInf checks that DMQ's per-channel maximum fails
// on infinite activations, as it does on NaN and as the calibration
// histograms do: an infinite maximum would give the clamped factor
// 1/FLT_EPSILON to its channel and push every zero-weight channel's factor
// to FLT_EPSILON, silently.
func TestReviewChannelMaxRejectsInf(t *testing.T) {
	for _, v := range []float32{float32(math.Inf(1)), float32(math.Inf(-1))} {
		x := onnx.NewTensor([]int{2, 3}, []float32{1, 2, 3, 4, v, 6})
		x.Name = "act"
		c := &ChannelMax{Axis: -1}
		err := c.Observe(x)
		if err == nil {
			t.Fatalf("value %v: Observe returned no error; Max = %v", v, c.Max)
		}
		if !strings.Contains(err.Error(), `"act"`) || !strings.Contains(err.Error(), "channel 1") {
			t.Errorf("value %v: error %q does not name the tensor and channel", v, err)
		}
	}
}

// TestReviewTensorSourceBadInputs checks that NewTensorSource rejects, with
// an error naming the problem, inputs that would make Batch panic or report
// a nonsensical sample count.
func TestReviewTensorSourceBadInputs(t *testing.T) {
	// Shape says 4 samples of 3 values, the data holds 6 values.
	short := &onnx.Tensor{Name: "x", DType: onnx.Float, Shape: []int{4, 3}, Data: make([]float32, 6)}
	s, err := NewTensorSource(map[string]*onnx.Tensor{"x": short}, 2)
	if err == nil {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("Batch(1) panicked: %v", r)
				}
			}()
			_, err = s.Batch(1)
		}()
		t.Fatalf("NewTensorSource accepted data of %d values for shape %v (Batch(1) error: %v)", short.Len(), short.Shape, err)
	}
	if !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("error %q does not name the input", err)
	}

	_, err = NewTensorSource(map[string]*onnx.Tensor{}, 2)
	if err == nil || strings.Contains(err.Error(), "-1") {
		t.Errorf("no inputs: error %v, want one saying there are no inputs", err)
	}
}

// TestReviewRunFlowIntegerOutput checks that a model with a non-float graph
// output (here the Gemm output cast to INT64, as a class-index output would
// be) is quantized: the SQNR report covers the float outputs and leaves the
// integer one out, instead of the whole run failing in evaluation.
func TestReviewRunFlowIntegerOutput(t *testing.T) {
	b := newBuilder(31)
	x := b.input("x", 2, 4, 6, 6)
	c1 := b.node("Conv", "c1", map[string]any{"pads": []int64{1, 1, 1, 1}}, x, b.init("w1", 0.5, 0, 8, 4, 3, 3), b.init("b1", 0.3, 0, 8))
	f := b.node("Flatten", "f", nil, c1)
	g := b.node("Gemm", "fc", map[string]any{"transB": int64(1)}, f, b.init("wf", 0.2, 0, 5, 288), b.init("bf", 0.2, 0, 5))
	c := b.node("Cast", "cast", map[string]any{"to": int64(onnx.Int64)}, g)
	m := b.model(g)
	m.Graph.Outputs = append(m.Graph.Outputs, &onnx.ValueInfo{Name: c, DType: onnx.Int64})
	m.Graph.Reindex()

	rep, err := RunFlow(m, testSim, calibData(7, 2), filepath.Join(t.TempDir(), "m"), QuantizeOptions{})
	if err != nil {
		t.Fatalf("RunFlow: %v", err)
	}
	if len(rep.Layers) != 2 {
		t.Fatalf("%d layers quantized, want 2", len(rep.Layers))
	}
	db, ok := rep.Outputs[g]
	if !ok || math.IsNaN(db) || db < 10 {
		t.Errorf("float output %q: SQNR %v (reported %v), want a finite value above 10 dB", g, db, ok)
	}
	if db, ok := rep.Outputs[c]; ok {
		t.Errorf("integer output %q has an SQNR of %v", c, db)
	}
}

// TestReviewSavePartialRename checks the promise that the output files are
// all written or none: when one destination cannot be replaced (here it is
// a folder), neither RunFlow nor Save may leave the others in place.
func TestReviewSavePartialRename(t *testing.T) {
	m, _ := calibModel()
	dir := t.TempDir()
	prefix := filepath.Join(dir, "m")
	// The record sorts last among RunFlow's four files, the fake-quant
	// model last of Save's two.
	if err := os.MkdirAll(prefix+"_record.txt/x", 0o755); err != nil {
		t.Fatal(err)
	}
	rep, err := RunFlow(m, testSim, calibData(3, 2), prefix, QuantizeOptions{NoEval: true})
	if err == nil || !strings.Contains(err.Error(), "_record.txt") {
		t.Errorf("RunFlow onto a folder named like the record: error %v, want one naming it", err)
	}
	for _, s := range []string{"_deploy_model.onnx", "_fake_quant_model.onnx", "_quant_config.json"} {
		if _, err := os.Stat(prefix + s); err == nil {
			t.Errorf("RunFlow failed but left %s", prefix+s)
		}
	}

	rep, err = RunFlow(m, testSim, calibData(3, 2), filepath.Join(dir, "ok"), QuantizeOptions{NoEval: true})
	if err != nil {
		t.Fatal(err)
	}
	work := m.Clone()
	layers, _, err := FindLayers(work, FindOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p2 := filepath.Join(dir, "s")
	if err := os.MkdirAll(p2+"_fake_quant_model.onnx/x", 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = Save(work, layers, rep.Config, rep.Record, p2, SaveOptions{})
	if err == nil || !strings.Contains(err.Error(), "_fake_quant_model.onnx") {
		t.Errorf("Save onto a folder named like the fake-quant model: error %v, want one naming it", err)
	}
	if _, err := os.Stat(p2 + "_deploy_model.onnx"); err == nil {
		t.Errorf("Save failed but left %s", p2+"_deploy_model.onnx")
	}
}

// TestReviewSaveTinyScaleD checks that Save refuses a scale_d whose
// reciprocal, AscendQuant's scale, overflows float32: the saved models would
// quantize every non-zero input to the int8 limits and turn 0 into NaN
// (0 * Inf).
func TestReviewSaveTinyScaleD(t *testing.T) {
	m, _ := calibModel()
	dir := t.TempDir()
	rep, err := RunFlow(m, testSim, calibData(3, 2), filepath.Join(dir, "ok"), QuantizeOptions{NoEval: true})
	if err != nil {
		t.Fatal(err)
	}
	work := m.Clone()
	layers, _, err := FindLayers(work, FindOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec := Record{}
	for k, v := range rep.Record {
		c := *v
		rec[k] = &c
	}
	rec["c2"].ScaleD = 1e-40 // positive, finite, 1/x = 1e40 > MaxFloat32
	_, err = Save(work, layers, rep.Config, rec, filepath.Join(dir, "s"), SaveOptions{})
	if err == nil || !strings.Contains(err.Error(), `"c2"`) || !strings.Contains(err.Error(), "scale_d") {
		t.Errorf("Save with scale_d 1e-40: error %v, want one naming layer c2 and scale_d", err)
	}
}

// orderedData is a DataSource that records the order of Batch calls and
// fails the test when two calls overlap, as a source reading a file
// sequentially would need.
type orderedData struct {
	sliceData
	t      *testing.T
	active atomic.Int32
	mu     sync.Mutex
	order  []int
}

func (d *orderedData) Batch(i int) (map[string]*onnx.Tensor, error) {
	if d.active.Add(1) > 1 {
		d.t.Errorf("Batch(%d) called while another Batch call is running", i)
	}
	time.Sleep(2 * time.Millisecond) // widen the window for overlaps
	d.mu.Lock()
	d.order = append(d.order, i)
	d.mu.Unlock()
	d.active.Add(-1)
	return d.sliceData.Batch(i)
}

// TestReviewConcurrentBackendBatchOrder checks that with a Concurrent
// backend the data source is still asked for batches one at a time and in
// order (the progress callback and DataSource implementations rely on it);
// only the forward passes run in parallel.
func TestReviewConcurrentBackendBatchOrder(t *testing.T) {
	m, layers := calibModel()
	cfg := calibConfig(layers, 6)
	d := &orderedData{sliceData: calibData(9, 6), t: t}
	rec, err := PreprocessWith(m, layers, cfg, concurrentSim{testSim, 3}, d, DMQOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := Calibrate(m, layers, cfg, rec, concurrentSim{testSim, 3}, d); err != nil {
		t.Fatal(err)
	}
	want := []int{0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5}
	if !slices.Equal(d.order, want) {
		t.Errorf("batches requested in order %v, want %v", d.order, want)
	}
}
