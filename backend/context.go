package backend

import (
	"context"

	"amq/onnx"
)

// ContextRunner is implemented by runners that can stop a batch under way
// when ctx is cancelled (sim between nodes, the Ascend backend between
// executions). It is optional, as database/sql/driver's context interfaces
// are: RunContext falls back to Run for other runners.
type ContextRunner interface {
	// RunContext is Run that returns ctx.Err() soon after ctx is
	// cancelled, leaving the runner usable and Close still releasing
	// everything.
	RunContext(ctx context.Context, inputs map[string]*onnx.Tensor) (map[string]*onnx.Tensor, error)
}

// RunContext runs one batch on r, stopping early when r is a ContextRunner
// and ctx is cancelled; other runners are checked before and after the
// batch.
func RunContext(ctx context.Context, r Runner, inputs map[string]*onnx.Tensor) (map[string]*onnx.Tensor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cr, ok := r.(ContextRunner); ok {
		return cr.RunContext(ctx, inputs)
	}
	out, err := r.Run(inputs)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// WithContext returns b with every runner it prepares bound to ctx: their
// Run is RunContext(ctx, ...), and Prepare fails once ctx is cancelled. This
// is how a cancelled command (SIGINT, SIGTERM) reaches every forward pass of
// the flow without a context in each of its functions. The wrappers keep
// Concurrent, ShapeCompiler, FP16Reporter and Observer; an optional interface added to the
// contract must be forwarded here too.
func WithContext(ctx context.Context, b Backend) Backend {
	if b == nil {
		return nil
	}
	return ctxBackend{ctx, b}
}

type ctxBackend struct {
	ctx context.Context
	b   Backend
}

func (c ctxBackend) Prepare(model *onnx.Model, observe []string) (Runner, error) {
	if err := c.ctx.Err(); err != nil {
		return nil, err
	}
	r, err := c.b.Prepare(model, observe)
	if err != nil {
		return nil, err
	}
	if _, ok := r.(Observer); ok {
		return ctxObserver{ctxRunner{c.ctx, r}}, nil
	}
	return ctxRunner{c.ctx, r}, nil
}

// CompilesPerShape is the wrapped backend's, false when it is not a
// ShapeCompiler.
func (c ctxBackend) CompilesPerShape() bool {
	sc, ok := c.b.(ShapeCompiler)
	return ok && sc.CompilesPerShape()
}

// Concurrency is the wrapped backend's, 1 when it is not Concurrent.
func (c ctxBackend) Concurrency() int {
	if cb, ok := c.b.(Concurrent); ok {
		return cb.Concurrency()
	}
	return 1
}

type ctxRunner struct {
	ctx context.Context
	r   Runner
}

func (c ctxRunner) Run(inputs map[string]*onnx.Tensor) (map[string]*onnx.Tensor, error) {
	return RunContext(c.ctx, c.r, inputs)
}

func (c ctxRunner) Close() error { return c.r.Close() }

// FP16Stats is the wrapped runner's, nil when it is not an FP16Reporter
// (which callers read as "nothing rounded").
func (c ctxRunner) FP16Stats() []FP16Stat {
	if rep, ok := c.r.(FP16Reporter); ok {
		return rep.FP16Stats()
	}
	return nil
}

// ctxObserver is a ctxRunner whose runner is an Observer.
type ctxObserver struct{ ctxRunner }

// RunObserved is the wrapped runner's, stopped by ctx before the batch and
// at each observed tensor: the engine stops at the error observe returns.
func (c ctxObserver) RunObserved(inputs map[string]*onnx.Tensor, observe func(name string, t *onnx.Tensor) error) (map[string]*onnx.Tensor, error) {
	if err := c.ctx.Err(); err != nil {
		return nil, err
	}
	return c.r.(Observer).RunObserved(inputs, func(name string, t *onnx.Tensor) error {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		return observe(name, t)
	})
}
