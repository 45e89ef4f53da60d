package sim

import (
	"fmt"
	"math"

	"amq/onnx"
)

// GlobalAveragePool and GlobalMaxPool.

func init() {
	register("GlobalAveragePool", buildGlobalPool(false))
	register("GlobalMaxPool", buildGlobalPool(true))
}

func buildGlobalPool(isMax bool) builder {
	return func(b *buildCtx, n *onnx.Node) (opFunc, error) {
		if err := checkAttrs(n); err != nil {
			return nil, err
		}
		if len(n.Inputs) != 1 || n.Inputs[0] == "" {
			return nil, fmt.Errorf("want one input, got %d", len(n.Inputs))
		}
		return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
			x := in[0]
			if len(x.Shape) < 3 {
				return nil, fmt.Errorf("input %v has rank %d, want at least 3 (N, C, spatial...)", x.Shape, len(x.Shape))
			}
			switch d := x.Data.(type) {
			case []float32:
				return globalPool(c, x, d, isMax)
			case []float64:
				return globalPool(c, x, d, isMax)
			}
			return nil, fmt.Errorf("input has type %v; global pooling supports FLOAT and DOUBLE", x.DType)
		}, nil
	}
}

// globalPool reduces every spatial plane to its mean or maximum; the sum
// is kept in float64 so large planes lose no precision.
func globalPool[T float32 | float64](c *runCtx, x *onnx.Tensor, xd []T, isMax bool) ([]*onnx.Tensor, error) {
	planes := x.Shape[0] * x.Shape[1]
	size := len(xd) / max(1, planes)
	shape := []int{x.Shape[0], x.Shape[1]}
	for range x.Shape[2:] {
		shape = append(shape, 1)
	}
	y := outSlice[T](c, planes)
	parallelFor(c.threads, planes, 16, func(lo, hi int) {
		if isMax {
			for pl := lo; pl < hi; pl++ {
				y[pl] = planeMax(xd[pl*size : (pl+1)*size])
			}
			return
		}
		if size == 0 {
			return
		}
		pl := lo
		for ; pl+4 <= hi; pl += 4 {
			for i, sum := range planeSums4(xd[pl*size:(pl+4)*size], size) {
				y[pl+i] = T(sum / float64(size))
			}
		}
		for ; pl < hi; pl++ {
			var sum float64
			for _, v := range xd[pl*size : (pl+1)*size] {
				sum += float64(v)
			}
			y[pl] = T(sum / float64(size))
		}
	})
	return []*onnx.Tensor{onnx.NewTensor(shape, y)}, nil
}

// planeSums4 sums each of the four planes of size values in x, in float64
// and in the plane's order, as the loop over one plane does: four
// independent chains of additions, which overlap their latency.
func planeSums4[T float32 | float64](x []T, size int) [4]float64 {
	p0, p1, p2, p3 := x[:size], x[size:2*size], x[2*size:3*size], x[3*size:4*size]
	p1, p2, p3 = p1[:len(p0)], p2[:len(p0)], p3[:len(p0)]
	var s0, s1, s2, s3 float64
	for i, v := range p0 {
		s0 += float64(v)
		s1 += float64(p1[i])
		s2 += float64(p2[i])
		s3 += float64(p3[i])
	}
	return [4]float64{s0, s1, s2, s3}
}

// planeMax is max(...max(max(-Inf, src[0]), src[1])..., src[n-1]) with
// Go's max: a NaN makes it NaN (the last NaN's bits, as the runtime's
// max returns them), +0 beats -0. Comparing with > gives those bits when
// src holds no NaN and its maximum is not zero, at a fraction of the
// cost of max, a runtime call per value; other planes are folded with
// max itself.
func planeMax[T float32 | float64](src []T) T {
	best := T(math.Inf(-1))
	nan := false
	for _, v := range src {
		if v > best {
			best = v
		}
		if v != v {
			nan = true
		}
	}
	if !nan && best != 0 {
		return best
	}
	best = T(math.Inf(-1))
	for _, v := range src {
		best = max(best, v)
	}
	return best
}
