package sim

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"amq/backend"
	"amq/onnx"
)

// afterChecks is a context that reports itself cancelled from its k-th
// Err call on, counting the calls: it tells how many nodes ran.
type afterChecks struct {
	context.Context
	calls, k int
}

func (c *afterChecks) Err() error {
	c.calls++
	if c.calls >= c.k {
		return context.Canceled
	}
	return nil
}

// TestRunContextStopsBetweenNodes cancels a run of five Relu nodes after
// two have run: RunContext returns context.Canceled having checked the
// context once per node and no more, and the runner still runs a later
// batch to the end.
func TestRunContextStopsBetweenNodes(t *testing.T) {
	t.Parallel()
	g := &onnx.Graph{Name: "chain", Initializers: map[string]*onnx.Tensor{}, ValueInfo: map[string]*onnx.ValueInfo{}}
	g.Inputs = []*onnx.ValueInfo{{Name: "t0", DType: onnx.Float, Shape: onnx.KnownDims([]int{3})}}
	for i := range 5 {
		g.Nodes = append(g.Nodes, &onnx.Node{Name: fmt.Sprint("relu", i), OpType: "Relu",
			Inputs: []string{fmt.Sprint("t", i)}, Outputs: []string{fmt.Sprint("t", i+1)}})
	}
	g.Outputs = []*onnx.ValueInfo{{Name: "t5", DType: onnx.Float}}
	g.Reindex()
	m := &onnx.Model{IRVersion: 8, Opsets: map[string]int64{"": 13}, Graph: g}
	r, err := (&Backend{Threads: 1}).Prepare(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	in := map[string]*onnx.Tensor{"t0": onnx.NewTensor([]int{3}, []float32{-1, 0, 2})}
	ctx := &afterChecks{Context: context.Background(), k: 3}
	if _, err := backend.RunContext(ctx, r, in); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	// One check before the batch (backend.RunContext), then one per node:
	// relu0 and relu1 ran, relu2's check stopped the run.
	if ctx.calls != 3 {
		t.Errorf("the context was checked %d times, want 3 (before the batch, before relu0, relu1, relu2's stopping)", ctx.calls)
	}
	out, err := backend.RunContext(context.Background(), r, in)
	if err != nil {
		t.Fatal(err)
	}
	if got := out["t5"].Data.([]float32); got[0] != 0 || got[2] != 2 {
		t.Errorf("after a cancelled batch: t5 = %v, want [0 0 2]", got)
	}
}
