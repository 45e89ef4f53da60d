package sim

import (
	"fmt"
	"math"

	"amq/onnx"
)

func init() {
	register("BatchNormalization", buildBatchNorm)
	register("InstanceNormalization", buildInstanceNorm)
	register("LayerNormalization", buildLayerNorm)
}

// onlyFirstOutput rejects nodes that ask for outputs beyond the first.
func onlyFirstOutput(n *onnx.Node, why string) error {
	for _, o := range n.Outputs[1:] {
		if o != "" {
			return fmt.Errorf("output %q is not supported (%s)", o, why)
		}
	}
	return nil
}

// buildBatchNorm supports inference mode only: calibration and deployment
// never update running statistics.
func buildBatchNorm(b *buildCtx, n *onnx.Node) (opFunc, error) {
	if err := checkArity(n, 5, 5, 1); err != nil {
		return nil, err
	}
	// is_test (before opset 7) is ignored, like ONNX Runtime does: only
	// the inference output is computed either way.
	if err := checkAttrs(n, "epsilon", "momentum", "training_mode", "spatial", "is_test"); err != nil {
		return nil, err
	}
	if n.AttrInt("training_mode", 0) != 0 {
		return nil, fmt.Errorf("training_mode=1 is not supported (sim runs inference only)")
	}
	if n.AttrInt("spatial", 1) != 1 {
		return nil, fmt.Errorf("spatial=0 is not supported")
	}
	if err := onlyFirstOutput(n, "running statistics are training outputs"); err != nil {
		return nil, err
	}
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		x := in[0]
		if len(x.Shape) < 2 {
			return nil, fmt.Errorf("input shape %v: need rank >= 2 (N, C, ...)", x.Shape)
		}
		ch := x.Shape[1]
		// Per-channel affine y = x*a + b, folded in float64.
		var p [4][]float64
		for i, name := range []string{"scale", "B", "mean", "var"} {
			t := in[1+i]
			if t.Len() != ch {
				return nil, fmt.Errorf("%s has shape %v, want [%d]", name, t.Shape, ch)
			}
			v, err := float64s(t)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			p[i] = v
		}
		a, sh := make([]float64, ch), make([]float64, ch)
		for j := range ch {
			a[j] = p[0][j] / math.Sqrt(p[3][j]+eps)
			sh[j] = p[1][j] - float64(p[2][j]*a[j])
		}
		planes, plane := x.Shape[0]*ch, onnx.NumElems(x.Shape[2:])
		var data any
		switch d := x.Data.(type) {
		case []float32:
			data = channelAffine(c, d, planes, ch, plane, a, sh)
		case []float64:
			data = channelAffine(c, d, planes, ch, plane, a, sh)
		default:
			return nil, fmt.Errorf("element type %v is not supported (want a float type)", x.DType)
		}
		return []*onnx.Tensor{newTensor(x.DType, x.Shape, data)}, nil
	}, nil
}

// channelAffine computes y = x*a[c] + b[c] for x viewed as [planes, plane]
// where plane p belongs to channel p % ch.
func channelAffine[T floatElem](c *runCtx, x []T, planes, ch, plane int, a, b []float64) []T {
	o := outSlice[T](c, len(x))
	parallelFor(c.threads, planes, max(1, elemGrain/max(1, plane)), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			k, sh := a[p%ch], b[p%ch]
			oo := o[p*plane : (p+1)*plane]
			for i, v := range x[p*plane : (p+1)*plane] {
				oo[i] = T(float64(float64(v)*k) + sh)
			}
		}
	})
	return o
}

func buildInstanceNorm(b *buildCtx, n *onnx.Node) (opFunc, error) {
	if err := checkArity(n, 3, 3, 1); err != nil {
		return nil, err
	}
	if err := checkAttrs(n, "epsilon"); err != nil {
		return nil, err
	}
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		x := in[0]
		if len(x.Shape) < 3 {
			return nil, fmt.Errorf("input shape %v: need rank >= 3 (N, C, D1, ...)", x.Shape)
		}
		ch := x.Shape[1]
		scale, err := float64s(in[1])
		if err != nil {
			return nil, fmt.Errorf("scale: %w", err)
		}
		bias, err := float64s(in[2])
		if err != nil {
			return nil, fmt.Errorf("B: %w", err)
		}
		if len(scale) != ch || len(bias) != ch {
			return nil, fmt.Errorf("scale %v and B %v must have shape [%d]", in[1].Shape, in[2].Shape, ch)
		}
		planes, plane := x.Shape[0]*ch, onnx.NumElems(x.Shape[2:])
		var data any
		switch d := x.Data.(type) {
		case []float32:
			data = normalizeRows(c, d, planes, plane, eps, func(p int) (float64, float64) { return scale[p%ch], bias[p%ch] }, nil, nil)
		case []float64:
			data = normalizeRows(c, d, planes, plane, eps, func(p int) (float64, float64) { return scale[p%ch], bias[p%ch] }, nil, nil)
		default:
			return nil, fmt.Errorf("element type %v is not supported (want a float type)", x.DType)
		}
		return []*onnx.Tensor{newTensor(x.DType, x.Shape, data)}, nil
	}, nil
}

// normalizeRows normalizes each of the rows of x (viewed as [rows, size])
// to zero mean and unit variance, with float64 statistics (two passes, so
// that a large mean does not cancel the variance). rowAffine, when not
// nil, gives a per-row scale and shift (instance norm); scale and shift,
// when not nil, are per-element over the row (layer norm). mean and inv,
// when not nil, receive each row's mean and 1/sqrt(var+eps).
func normalizeRows[T floatElem](c *runCtx, x []T, rows, size int, eps float64,
	rowAffine func(row int) (float64, float64), elemAffine *[2][]float64, stats *[2][]float64) []T {
	o := outSliceRaw[T](c, len(x)) // every element is written below
	if size == 0 {
		return o
	}
	parallelFor(c.threads, rows, max(1, elemGrain/size), func(lo, hi int) {
		var means, invs [rowGroup]float64
		for r0 := lo; r0 < hi; {
			n := 1
			if hi-r0 >= rowGroup {
				n = rowGroup
				rowMoments8(x[r0*size:(r0+n)*size], size, eps, &means, &invs)
			} else {
				means[0], invs[0] = rowMoments(x[r0*size:(r0+1)*size], eps)
			}
			for k := range n {
				normalizeRow(o, x, r0+k, size, means[k], invs[k], rowAffine, elemAffine, stats)
			}
			r0 += n
		}
	})
	return o
}

// rowMoments returns the mean of x and 1/sqrt(variance+eps), the
// statistics in float64 from two passes (so that a large mean does not
// cancel the variance), each a left-to-right sum.
func rowMoments[T floatElem](x []T, eps float64) (mean, inv float64) {
	sum := 0.0
	for _, v := range x {
		sum += float64(v)
	}
	mean = sum / float64(len(x))
	ss := 0.0
	for _, v := range x {
		d := float64(v) - mean
		ss += float64(d * d)
	}
	return mean, 1 / math.Sqrt(ss/float64(len(x))+eps)
}

// rowMoments8 is rowMoments for each of the eight rows of x (viewed as
// [8, size]), the same bits, with the rows' sums interleaved.
func rowMoments8[T floatElem](x []T, size int, eps float64, means, invs *[rowGroup]float64) {
	var sums, ss [rowGroup]float64
	sumRows8(x, size, &sums)
	for k, s := range sums {
		means[k] = s / float64(size)
	}
	sqDevRows8(x, size, means, &ss)
	for k, s := range ss {
		invs[k] = 1 / math.Sqrt(s/float64(size)+eps)
	}
}

// normalizeRow writes row r of the result of normalizeRows, given the
// row's mean and inverse deviation.
func normalizeRow[T floatElem](o, x []T, r, size int, mean, inv float64,
	rowAffine func(row int) (float64, float64), elemAffine *[2][]float64, stats *[2][]float64) {
	xs, os := x[r*size:(r+1)*size], o[r*size:(r+1)*size]
	if stats != nil {
		stats[0][r], stats[1][r] = mean, inv
	}
	switch {
	case rowAffine != nil:
		k, sh := rowAffine(r)
		k *= inv
		for i, v := range xs {
			os[i] = T(float64((float64(v)-mean)*k) + sh)
		}
	case elemAffine != nil && elemAffine[1] != nil:
		sc, sh := elemAffine[0], elemAffine[1]
		k := 0
		if o32, ok := asF32(os); ok {
			x32, _ := asF32(xs)
			k = normAffineVec(o32, x32, sc, sh, mean, inv)
		}
		for i, v := range xs[k:] {
			os[k+i] = T(float64((float64(v)-mean)*inv*sc[k+i]) + sh[k+i])
		}
	case elemAffine != nil:
		sc := elemAffine[0]
		for i, v := range xs {
			os[i] = T((float64(v) - mean) * inv * sc[i])
		}
	default:
		for i, v := range xs {
			os[i] = T((float64(v) - mean) * inv)
		}
	}
}

// buildLayerNorm implements LayerNormalization (opset 17): statistics over
// the dimensions from axis on, then Scale and B, broadcast to those
// dimensions. The optional Mean and InvStdDev outputs have the input's
// leading dimensions and 1 for the normalized ones, of type stash_type.
func buildLayerNorm(b *buildCtx, n *onnx.Node) (opFunc, error) {
	if err := checkArity(n, 2, 3, 1); err != nil {
		return nil, err
	}
	if len(n.Outputs) > 3 {
		return nil, fmt.Errorf("has %d outputs, want at most 3", len(n.Outputs))
	}
	if err := checkAttrs(n, "axis", "epsilon", "stash_type"); err != nil {
		return nil, err
	}
	axis := n.AttrInt("axis", -1)
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	stash := onnx.DataType(n.AttrInt("stash_type", int64(onnx.Float)))
	if stash != onnx.Float && stash != onnx.Double {
		return nil, fmt.Errorf("stash_type %d is not supported (want 1 FLOAT or 11 DOUBLE)", int(stash))
	}
	nout := len(n.Outputs)
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		x := in[0]
		r := len(x.Shape)
		a, err := normAxis(axis, r)
		if err != nil {
			return nil, err
		}
		rows, size := onnx.NumElems(x.Shape[:a]), onnx.NumElems(x.Shape[a:])
		var aff [2][]float64
		for i, name := range []string{"Scale", "B"} {
			if i+1 >= len(in) || in[i+1] == nil {
				continue
			}
			t := in[i+1]
			if t.DType != x.DType {
				return nil, fmt.Errorf("%s has type %v, input has %v", name, t.DType, x.DType)
			}
			v, err := float64s(t)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if aff[i], err = broadcastTo(c.threads, v, t.Shape, x.Shape[a:]); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
		var stats *[2][]float64
		if nout > 1 {
			stats = &[2][]float64{make([]float64, rows), make([]float64, rows)}
		}
		var data any
		switch d := x.Data.(type) {
		case []float32:
			data = normalizeRows(c, d, rows, size, eps, nil, &aff, stats)
		case []float64:
			data = normalizeRows(c, d, rows, size, eps, nil, &aff, stats)
		default:
			return nil, fmt.Errorf("element type %v is not supported (want a float type)", x.DType)
		}
		outs := []*onnx.Tensor{newTensor(x.DType, x.Shape, data)}
		if stats != nil {
			shape := make([]int, r)
			copy(shape, x.Shape[:a])
			for i := a; i < r; i++ {
				shape[i] = 1
			}
			for _, s := range stats {
				var d any = s
				if stash == onnx.Float {
					d = onnx.ConvertSlice[float32](s)
				}
				outs = append(outs, newTensor(stash, shape, d))
			}
		}
		return outs, nil
	}, nil
}
