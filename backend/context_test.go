package backend

import (
	"context"
	"errors"
	"testing"

	"amq/onnx"
)

// countRunner counts its runs and closes.
type countRunner struct{ runs, closes int }

func (r *countRunner) Run(map[string]*onnx.Tensor) (map[string]*onnx.Tensor, error) {
	r.runs++
	return map[string]*onnx.Tensor{}, nil
}

func (r *countRunner) Close() error { r.closes++; return nil }

type countBackend struct{ r *countRunner }

func (b countBackend) Prepare(*onnx.Model, []string) (Runner, error) { return b.r, nil }

// TestWithContextStopsRunnersWithoutContextSupport checks the fallback for
// runners that are not ContextRunners: a batch runs while the context is
// live, none starts after it is cancelled, Prepare fails then, and Close
// still reaches the runner.
func TestWithContextStopsRunnersWithoutContextSupport(t *testing.T) {
	inner := &countRunner{}
	ctx, cancel := context.WithCancel(context.Background())
	b := WithContext(ctx, countBackend{inner})
	r, err := b.Prepare(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Run(nil); err != nil || inner.runs != 1 {
		t.Fatalf("live context: error %v, %d runs", err, inner.runs)
	}
	cancel()
	if _, err := r.Run(nil); !errors.Is(err, context.Canceled) || inner.runs != 1 {
		t.Errorf("cancelled: error %v, %d runs; want context.Canceled and no new run", err, inner.runs)
	}
	if _, err := b.Prepare(nil, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Prepare after cancel: error %v", err)
	}
	if r.Close(); inner.closes != 1 {
		t.Errorf("Close reached the runner %d times", inner.closes)
	}
	if c, ok := b.(Concurrent); !ok || c.Concurrency() != 1 {
		t.Errorf("a wrapped backend that is not Concurrent should report concurrency 1")
	}
}
