package quant

import (
	"context"

	"amq/onnx"
)

// ContextSource returns data whose Batch fails with ctx.Err() once ctx is
// cancelled. Every step of the flow fetches its batches one by one, so this
// is where preprocess, calibration, bias correction and the evaluation stop
// between batches when a run is cancelled (SIGINT, SIGTERM).
func ContextSource(ctx context.Context, data DataSource) DataSource {
	return ctxSource{data, ctx}
}

type ctxSource struct {
	DataSource
	ctx context.Context
}

func (c ctxSource) Batch(i int) (map[string]*onnx.Tensor, error) {
	if err := c.ctx.Err(); err != nil {
		return nil, err
	}
	return c.DataSource.Batch(i)
}
