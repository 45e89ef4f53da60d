package sim

import (
	"fmt"
	"math"

	"amq/onnx"
)

func init() {
	register("Softmax", func(b *buildCtx, n *onnx.Node) (opFunc, error) { return buildSoftmax(b, n, false) })
	register("LogSoftmax", func(b *buildCtx, n *onnx.Node) (opFunc, error) { return buildSoftmax(b, n, true) })
}

// buildSoftmax handles both axis conventions: from opset 13 the softmax runs
// along axis (default -1); before, the input is flattened to 2-D at axis
// (default 1) and the softmax runs over each row of the flattened view.
func buildSoftmax(b *buildCtx, n *onnx.Node, logOut bool) (opFunc, error) {
	if err := checkArity(n, 1, 1, 1); err != nil {
		return nil, err
	}
	if err := checkAttrs(n, "axis"); err != nil {
		return nil, err
	}
	flatten := b.opset < 13
	def := int64(-1)
	if flatten {
		def = 1
	}
	axis := n.AttrInt("axis", def)
	return func(c *runCtx, in []*onnx.Tensor) ([]*onnx.Tensor, error) {
		x := in[0]
		r := len(x.Shape)
		if r == 0 {
			return nil, fmt.Errorf("input is a scalar, need rank >= 1")
		}
		a, err := normAxis(axis, r)
		if err != nil {
			return nil, err
		}
		outer, mid, inner := onnx.NumElems(x.Shape[:a]), x.Shape[a], onnx.NumElems(x.Shape[a+1:])
		if flatten {
			mid, inner = onnx.NumElems(x.Shape[a:]), 1
		}
		var data any
		switch d := x.Data.(type) {
		case []float32:
			data = softmaxData(c, d, outer, mid, inner, logOut)
		case []float64:
			data = softmaxData(c, d, outer, mid, inner, logOut)
		default:
			return nil, fmt.Errorf("element type %v is not supported (want a float type)", x.DType)
		}
		return []*onnx.Tensor{newTensor(x.DType, x.Shape, data)}, nil
	}, nil
}

// softmaxData computes the (log-)softmax of x viewed as [outer, mid, inner]
// along mid, subtracting the maximum first so exp cannot overflow, with
// float64 sums.
func softmaxData[T floatElem](c *runCtx, x []T, outer, mid, inner int, logOut bool) []T {
	o := outSlice[T](c, len(x))
	if mid == 0 || len(x) == 0 {
		return o
	}
	grain := max(1, elemGrain/(mid*inner))
	parallelFor(c.threads, outer, grain, func(lo, hi int) {
		if inner == 1 {
			e := make([]float64, mid)
			for b := lo; b < hi; b++ {
				softmaxRow(o[b*mid:(b+1)*mid], x[b*mid:(b+1)*mid], logOut, e)
			}
			return
		}
		// Strided case: work on whole [mid, inner] blocks, inner lanes at
		// a time, so memory is read row by row.
		mx := make([]float64, inner)
		sum := make([]float64, inner)
		for b := lo; b < hi; b++ {
			xs, os := x[b*mid*inner:(b+1)*mid*inner], o[b*mid*inner:(b+1)*mid*inner]
			for j := range mx {
				mx[j], sum[j] = math.Inf(-1), 0
			}
			for k := range mid {
				for j, v := range xs[k*inner : (k+1)*inner] {
					mx[j] = max(mx[j], float64(v))
				}
			}
			for k := range mid {
				for j, v := range xs[k*inner : (k+1)*inner] {
					sum[j] += math.Exp(float64(v) - mx[j])
				}
			}
			for k := range mid {
				row := os[k*inner : (k+1)*inner]
				if logOut {
					for j, v := range xs[k*inner : (k+1)*inner] {
						row[j] = T(float64(v) - mx[j] - math.Log(sum[j]))
					}
					continue
				}
				for j := range row {
					row[j] = T(math.Exp(float64(xs[k*inner+j])-mx[j]) / sum[j])
				}
			}
		}
	})
	return o
}

// softmaxRow computes the (log-)softmax of one contiguous row; e (as long
// as the row) keeps each exponential between the sum and the division, so
// that each is computed once.
func softmaxRow[T floatElem](o, x []T, logOut bool, e []float64) {
	m := math.Inf(-1)
	for _, v := range x {
		m = max(m, float64(v))
	}
	e = e[:len(x)]
	sum := 0.0
	for i, v := range x {
		e[i] = math.Exp(float64(v) - m)
		sum += e[i]
	}
	if logOut {
		ls := m + math.Log(sum)
		for i, v := range x {
			o[i] = T(float64(v) - ls)
		}
		return
	}
	for i, v := range e {
		o[i] = T(v / sum)
	}
}
