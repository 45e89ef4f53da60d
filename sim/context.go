package sim

import (
	"context"

	"amq/backend"
	"amq/onnx"
)

// RunContext is Run stopped by ctx between nodes: once ctx is cancelled it
// returns ctx.Err() after the node under way.
func (s *Session) RunContext(ctx context.Context, inputs map[string]*onnx.Tensor, fetch ...string) (map[string]*onnx.Tensor, error) {
	res, _, err := s.run(inputs, runRequest{fetch: fetch, ctx: ctx})
	return res, err
}

var _ backend.ContextRunner = (*runner)(nil)

// RunContext is the backend runner's Run stopped by ctx between nodes.
func (r *runner) RunContext(ctx context.Context, inputs map[string]*onnx.Tensor) (map[string]*onnx.Tensor, error) {
	return r.run(inputs, runRequest{fetch: r.observe, ctx: ctx})
}
