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

// streamRunner is an Observer that hands over two tensors a batch.
type streamRunner struct {
	countRunner
	seen int
}

func (r *streamRunner) RunObserved(_ map[string]*onnx.Tensor, observe func(string, *onnx.Tensor) error) (map[string]*onnx.Tensor, error) {
	r.runs++
	for _, name := range []string{"a", "b"} {
		if err := observe(name, nil); err != nil {
			return nil, err
		}
		r.seen++
	}
	return map[string]*onnx.Tensor{}, nil
}

type streamBackend struct{ r *streamRunner }

func (b streamBackend) Prepare(*onnx.Model, []string) (Runner, error) { return b.r, nil }

// TestWithContextKeepsObserverAndStopsAtTheNextTensor checks that a
// wrapped Observer stays one (so calibration keeps the memory of one
// forward pass) and that a cancel during a batch stops it at the next
// observed tensor, while a runner that is not an Observer is not made to
// look like one.
func TestWithContextKeepsObserverAndStopsAtTheNextTensor(t *testing.T) {
	inner := &streamRunner{}
	ctx, cancel := context.WithCancel(context.Background())
	r, err := WithContext(ctx, streamBackend{inner}).Prepare(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	obs, ok := r.(Observer)
	if !ok {
		t.Fatal("the wrapped runner of an Observer is not an Observer")
	}
	_, err = obs.RunObserved(nil, func(name string, _ *onnx.Tensor) error {
		if name == "a" {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || inner.seen != 1 {
		t.Errorf("cancelled at tensor a: error %v, %d tensors handed over; want context.Canceled after 1", err, inner.seen)
	}
	if _, err := obs.RunObserved(nil, nil); !errors.Is(err, context.Canceled) || inner.runs != 1 {
		t.Errorf("after cancel: error %v, %d runs; want no new run", err, inner.runs)
	}
	plain, _ := WithContext(context.Background(), countBackend{&countRunner{}}).Prepare(nil, nil)
	if _, ok := plain.(Observer); ok {
		t.Error("the wrapped runner of a non-Observer claims to be an Observer")
	}
}
