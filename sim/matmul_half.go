package sim

import "amq/onnx"

// halfPanel bounds the float32 panel of a 16-bit B that matMulHalf widens
// at a time, in elements (1 MiB): the product reads B once per panel, so
// the model's weights stay 16-bit and only this much of one is float32.
const halfPanel = 1 << 18

// widener returns how to widen a tensor's elements when it is held
// compactly (MatMul's B, Gather's data): as
// onnx.Halves (a float16 or bfloat16 weight loaded with
// onnx.LoadFileHalves) or as an onnx.Compact (a FLOAT weight held 16-bit
// or as int8 codes while a model is quantized); ok is false for any other
// tensor.
func widener(b *onnx.Tensor) (widen func(dst []float32, off int), ok bool) {
	switch d := b.Data.(type) {
	case onnx.Halves:
		return func(dst []float32, off int) { onnx.WidenHalves(b.DType, dst, d[off:off+len(dst)]) }, true
	case onnx.Compact:
		return d.WidenTo, true
	}
	return nil, false
}

// matMulHalf is MatMul's float path for a B held compactly (widener): B
// is widened a panel of columns at a time into scratch and multiplied into
// the matching columns of the result, which accumulates in float32 as the
// float path does. ad is A's float32 data.
func matMulHalf(c *runCtx, p *matMulPlan, ad []float32, widen func(dst []float32, off int), shared bool) []float32 {
	count := len(p.aOff)
	m, n, k := p.m, p.n, p.k
	y := outSliceRaw[float32](c, count*m*n) // sgemm with beta 0 overwrites it
	nb := n
	if k*n > halfPanel {
		nb = max(16, halfPanel/max(k, 1)/16*16)
	}
	panel := make([]float32, k*min(nb, n))
	for f := 0; f < count; f++ {
		if shared && f > 0 {
			break
		}
		rows, aOff, bOff, yOff := m, p.aOff[f], p.bOff[f], f*m*n
		if shared {
			rows, aOff, bOff, yOff = count*m, 0, 0, 0
		}
		for j0 := 0; j0 < n; j0 += nb {
			w := min(nb, n-j0)
			pw := panel[:k*w]
			parallelFor(c.threads, k, max(1, elemGrain/max(w, 1)), func(lo, hi int) {
				for r := lo; r < hi; r++ {
					widen(pw[r*w:(r+1)*w], bOff+r*n+j0)
				}
			})
			sgemm(rows, w, k, 1, matrix{data: ad[aOff:], ld: k}, matrix{data: pw, ld: w}, 0, y[yOff+j0:], n, c.threads)
		}
	}
	return y
}
