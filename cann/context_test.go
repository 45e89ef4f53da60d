package cann_test

import (
	"context"
	"errors"
	"math/rand"
	"testing"

	"amq/backend"
	"amq/onnx"
	"amq/quant"
)

// cancelAtBatch cancels a run when batch k is asked for.
type cancelAtBatch struct {
	quant.DataSource
	k      int
	cancel context.CancelFunc
	before func() // called just before the cancel
}

func (s cancelAtBatch) Batch(i int) (map[string]*onnx.Tensor, error) {
	if i == s.k {
		s.before()
		s.cancel()
	}
	return s.DataSource.Batch(i)
}

// linearModel: x[N,4] -> MatMul W[4,3] -> Relu -> y, one quantizable layer.
func linearModel() *onnx.Model {
	g := &onnx.Graph{Name: "lin", Initializers: map[string]*onnx.Tensor{}, ValueInfo: map[string]*onnx.ValueInfo{}}
	g.Inputs = []*onnx.ValueInfo{{Name: "x", DType: onnx.Float, Shape: []onnx.Dim{{Param: "N"}, {Value: 4}}}}
	w := make([]float32, 12)
	for i := range w {
		w[i] = float32(i%5-2) / 3
	}
	W := onnx.NewTensor([]int{4, 3}, w)
	W.Name = "W"
	g.SetInitializer(W)
	g.Nodes = []*onnx.Node{
		{Name: "/fc/MatMul", OpType: "MatMul", Inputs: []string{"x", "W"}, Outputs: []string{"h"}},
		{Name: "/relu", OpType: "Relu", Inputs: []string{"h"}, Outputs: []string{"y"}},
	}
	g.Outputs = []*onnx.ValueInfo{{Name: "y", DType: onnx.Float}}
	g.Reindex()
	return &onnx.Model{IRVersion: 8, Opsets: map[string]int64{"": 13}, Graph: g}
}

// TestCancelledRunFreesEveryDeviceResource cancels a quantization run on
// two fake devices while it calibrates (after its first batch has loaded
// models and allocated buffers on the devices): the run fails with
// context.Canceled, and the fake runtime counts no resource left.
func TestCancelledRunFreesEveryDeviceResource(t *testing.T) {
	requireFake(t)
	base, _ := leaks(t)
	rng := rand.New(rand.NewSource(1))
	var batches []map[string]*onnx.Tensor
	for range 6 {
		batches = append(batches, batch(rng, 2))
	}
	x := make([]float32, 0, 6*2*4)
	for _, b := range batches {
		x = append(x, b["x"].Data.([]float32)...)
	}
	data, err := quant.NewTensorSource(map[string]*onnx.Tensor{"x": onnx.NewTensor([]int{12, 4}, x)}, 2)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	live := 0
	src := cancelAtBatch{data, 3, cancel, func() { live, _ = leaks(t) }}
	_, err = quant.RunFlowContext(ctx, linearModel(), fakeBackend(t, 0, 1), src, t.TempDir()+"/m", quant.QuantizeOptions{BatchNum: 6})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if live <= base {
		t.Fatalf("no device resource was live when the run was cancelled (%d, %d before the run)", live, base)
	}
	if n, s := leaks(t); n != base {
		t.Fatalf("%d resources left after the cancelled run:\n%s", n-base, s)
	}
	t.Logf("device resources: %d live when cancelled, none left after", live-base)
}

// TestRunContextStopsBeforeExecuting checks a runner with a model loaded on
// the device: a cancelled context runs nothing and returns
// context.Canceled, a later batch still runs, and Close frees everything.
func TestRunContextStopsBeforeExecuting(t *testing.T) {
	requireFake(t)
	base, _ := leaks(t)
	r, err := fakeBackend(t, 0).Prepare(linearModel(), nil)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(2))
	if _, err := r.Run(batch(rng, 2)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.(backend.ContextRunner).RunContext(ctx, batch(rng, 2)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error %v, want context.Canceled", err)
	}
	if _, err := r.Run(batch(rng, 2)); err != nil {
		t.Errorf("a batch after a cancelled one: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if n, s := leaks(t); n != base {
		t.Fatalf("%d resources leaked:\n%s", n-base, s)
	}
}
