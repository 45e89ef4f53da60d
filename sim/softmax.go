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
// float64 exponentials and sums.
func softmaxData[T floatElem](c *runCtx, x []T, outer, mid, inner int, logOut bool) []T {
	o := outSliceRaw[T](c, len(x)) // every element is written below
	if mid == 0 || len(x) == 0 {
		return o
	}
	grain := max(1, elemGrain/(mid*inner))
	parallelFor(c.threads, outer, grain, func(lo, hi int) {
		if inner == 1 {
			softmaxRows(o, x, lo, hi, mid, logOut)
			return
		}
		// Strided case: work on whole [mid, inner] blocks, inner lanes at
		// a time, so memory is read row by row.
		mx := make([]float64, inner)
		sum := make([]float64, inner)
		d := make([]float64, 2*inner)
		d, e := d[:inner], d[inner:]
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
					d[j] = float64(v) - mx[j]
				}
				expVec(e, d)
				for j, v := range e {
					sum[j] += v
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
				for j, v := range xs[k*inner : (k+1)*inner] {
					d[j] = float64(v) - mx[j]
				}
				expVec(e, d)
				for j := range row {
					row[j] = T(e[j] / sum[j])
				}
			}
		}
	})
	return o
}

// softmaxRows computes the (log-)softmax of the contiguous rows [lo, hi)
// of x (viewed as [rows, mid]), eight rows at a time where it can, so that
// their sums are computed together (sumRows8). Each row's exponentials are
// computed once and kept between the sum and the division.
func softmaxRows[T floatElem](o, x []T, lo, hi, mid int, logOut bool) {
	var ms, sums [rowGroup]float64
	// Long rows go one at a time, so that the scratch of exponentials
	// stays small.
	group := rowGroup
	if mid > softmaxGroupMax {
		group = 1
	}
	e := make([]float64, group*mid+mid)
	d := e[group*mid:]
	for b := lo; b < hi; {
		n := 1
		if hi-b >= group {
			n = group
		}
		for k := range n {
			ms[k] = softmaxExp(e[k*mid:(k+1)*mid], x[(b+k)*mid:(b+k+1)*mid], d)
		}
		if n == rowGroup {
			sumRows8(e, mid, &sums)
		} else {
			sums[0] = 0
			for _, v := range e[:mid] {
				sums[0] += v
			}
		}
		for k := range n {
			r := b + k
			softmaxOut(o[r*mid:(r+1)*mid], x[r*mid:(r+1)*mid], e[k*mid:(k+1)*mid], ms[k], sums[k], logOut)
		}
		b += n
	}
}

// softmaxGroupMax is the longest row softmaxRows sums with seven others.
const softmaxGroupMax = 4096

// softmaxExp sets e[i] to math.Exp(float64(x[i]) - m) for the maximum m of
// x, which it returns; d (as long as x) is scratch. expVec and
// expShiftVec compute math.Exp's bits, several at a time.
func softmaxExp[T floatElem](e []float64, x []T, d []float64) float64 {
	m := rowMax(x)
	k := 0
	if x32, ok := asF32(x); ok {
		k = expShiftVec(e, x32, m)
	}
	for i, v := range x[k:] {
		d[k+i] = float64(v) - m
	}
	expVec(e[k:], d[k:len(x)])
	return m
}

// softmaxOut writes the (log-)softmax of the row x into o, given its
// maximum m, its exponentials e and their sum.
func softmaxOut[T floatElem](o, x []T, e []float64, m, sum float64, logOut bool) {
	if logOut {
		ls := m + math.Log(sum)
		for i, v := range x {
			o[i] = T(float64(v) - ls)
		}
		return
	}
	k := 0
	if o32, ok := asF32(o); ok {
		k = scaleToF32Vec(o32, e, sum)
	}
	for i, v := range e[k:] {
		o[k+i] = T(v / sum)
	}
}

// rowMax is the largest value of x as a float64, NaN when x holds one,
// -Inf when x is empty: max over the row, which Go's max computes
// slowly, since it must order zeros and propagate NaN at every step. The
// sign of a zero maximum does not matter to the softmax: x - (±0) gives
// the same exponential.
func rowMax[T floatElem](x []T) float64 {
	m := T(math.Inf(-1))
	nan := false
	if x32, ok := asF32(x); ok {
		vm, vnan, k := rowMaxVec(x32)
		if k > 0 {
			m, nan, x = T(vm), vnan, x[k:]
		}
	}
	for _, v := range x {
		if v > m {
			m = v
		} else if v != v {
			nan = true
		}
	}
	if nan {
		return math.NaN()
	}
	return float64(m)
}
