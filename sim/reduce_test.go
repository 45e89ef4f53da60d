package sim

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"amq/onnx"
)

// redRef reduces x over axes (all when empty) by visiting every input
// element and adding it to the output element its index maps to.
func redRef(x *onnx.Tensor, axes []int, keep bool, kind string) ([]int, []float64) {
	v, _ := float64s(x)
	r := len(x.Shape)
	red := make([]bool, r)
	for _, a := range axes {
		red[(a+r)%r] = true
	}
	if len(axes) == 0 {
		for i := range red {
			red[i] = true
		}
	}
	full := make([]int, r) // output shape with kept dims of 1
	var shape []int
	for d, n := range x.Shape {
		full[d] = n
		if red[d] {
			full[d] = 1
			if keep {
				shape = append(shape, 1)
			}
			continue
		}
		shape = append(shape, n)
	}
	if shape == nil {
		shape = []int{}
	}
	out := make([]float64, onnx.NumElems(full))
	cnt := make([]int, len(out))
	for i := range out {
		switch kind {
		case "max":
			out[i] = math.Inf(-1)
		case "min":
			out[i] = math.Inf(1)
		case "prod":
			out[i] = 1
		}
	}
	for i, val := range v {
		idx := bcUnravel(i, x.Shape)
		o := 0
		for d := range idx {
			if red[d] {
				idx[d] = 0
			}
			o = o*full[d] + idx[d]
		}
		cnt[o]++
		switch kind {
		case "sum", "mean":
			out[o] += val
		case "max":
			out[o] = math.Max(out[o], val)
		case "min":
			out[o] = math.Min(out[o], val)
		case "prod":
			out[o] *= val
		case "sumsquare", "l2":
			out[o] += val * val
		case "l1":
			out[o] += math.Abs(val)
		case "logsumexp":
			out[o] += math.Exp(val)
		}
	}
	for o := range out {
		switch kind {
		case "mean":
			out[o] /= float64(cnt[o])
		case "l2":
			out[o] = math.Sqrt(out[o])
		case "logsumexp":
			out[o] = math.Log(out[o])
		}
	}
	return shape, out
}

func TestReduce(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(21, 22))
	ops := map[string]string{
		"ReduceSum": "sum", "ReduceMean": "mean", "ReduceMax": "max", "ReduceMin": "min",
		"ReduceProd": "prod", "ReduceSumSquare": "sumsquare", "ReduceL1": "l1", "ReduceL2": "l2",
		"ReduceLogSumExp": "logsumexp",
	}
	type tc struct {
		shape []int
		axes  []int
	}
	cases := []tc{
		{[]int{3, 4, 5}, []int{2}},
		{[]int{3, 4, 5}, []int{1}},
		{[]int{3, 4, 5}, []int{0}},
		{[]int{3, 4, 5}, []int{-1, 0}}, // two separate groups
		{[]int{3, 4, 5, 6}, []int{0, 2}},
		{[]int{3, 4, 5, 6}, []int{1, 3}},
		{[]int{3, 1, 5}, []int{1}}, // size-1 axis only
		{[]int{2, 3, 4}, nil},      // all axes
		{[]int{4, 50000}, []int{1}},
		{[]int{1, 100000}, nil},     // split one long row across threads
		{[]int{2, 30000}, []int{0}}, // few outer rows, inner blocks
	}
	for op, kind := range ops {
		for _, c := range cases {
			x := ewRandFloats(rng, c.shape, 0.9, 1.1) // keeps products finite
			if kind != "prod" && kind != "logsumexp" {
				x = ewRandFloats(rng, c.shape, -2, 2)
			}
			for _, keep := range []bool{true, false} {
				axes := make([]int64, len(c.axes))
				for i, a := range c.axes {
					axes[i] = int64(a)
				}
				attrs := map[string]any{"keepdims": map[bool]int{true: 1}[keep]}
				// Axes as an attribute (opset 13 for all but ReduceSum) and
				// as an input (opset 18).
				var byAttr, byInput *onnx.Tensor
				if op == "ReduceSum" {
					if len(axes) > 0 {
						attrs["axes"] = axes
					}
					byAttr = ewRun1(t, 11, op, attrs, x)
				} else {
					if len(axes) > 0 {
						attrs["axes"] = axes
					}
					byAttr = ewRun1(t, 13, op, attrs, x)
				}
				delete(attrs, "axes")
				if len(axes) > 0 {
					byInput = ewRun1(t, 18, op, attrs, x, onnx.NewTensor([]int{len(axes)}, axes))
				} else {
					byInput = ewRun1(t, 18, op, attrs, x)
				}
				shape, ref := redRef(x, c.axes, keep, kind)
				tol := 1e-6 * math.Sqrt(float64(x.Len()))
				ewCheckClose(t, op+" attr", byAttr, shape, ref, 1e-6, tol)
				ewCheckClose(t, op+" input", byInput, shape, ref, 1e-6, tol)
			}
		}
	}
}

func TestReduceOpsetVariants(t *testing.T) {
	t.Parallel()
	x := onnx.NewTensor([]int{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	axes := onnx.NewTensor([]int{1}, []int64{1})
	// From opset 13 ReduceSum takes axes as an input; an axes attribute is
	// rejected, not ignored.
	if _, err := ewRunOp(13, "ReduceSum", map[string]any{"axes": []int64{1}}, 1, 1, x); err == nil || !strings.Contains(err.Error(), `attribute "axes"`) {
		t.Errorf("ReduceSum-13 with an axes attribute: err = %v", err)
	}
	if _, err := ewRunOp(11, "ReduceSum", nil, 1, 1, x, axes); err == nil {
		t.Error("ReduceSum-11 with an axes input succeeded")
	}
	if got := ewRun1(t, 13, "ReduceSum", map[string]any{"keepdims": 0}, x, axes); !slices.Equal(got.Floats(), []float32{6, 15}) {
		t.Errorf("ReduceSum-13 axes=[1] = %v", got.Floats())
	}
	// Empty axes: all axes, or the input itself with noop_with_empty_axes.
	empty := onnx.NewTensor([]int{0}, []int64{})
	got := ewRun1(t, 18, "ReduceMean", nil, x, empty)
	if !slices.Equal(got.Shape, []int{1, 1}) || got.Floats()[0] != 3.5 {
		t.Errorf("ReduceMean-18 empty axes = %v %v, want [1 1] [3.5]", got.Shape, got.Floats())
	}
	got = ewRun1(t, 18, "ReduceMax", map[string]any{"noop_with_empty_axes": 1}, x)
	if !slices.Equal(got.Shape, x.Shape) || !slices.Equal(got.Floats(), x.Floats()) {
		t.Errorf("ReduceMax-18 noop = %v %v", got.Shape, got.Floats())
	}
	if _, err := ewRunOp(13, "ReduceMean", map[string]any{"axes": []int64{2}}, 1, 1, x); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("axis 2 of a rank-2 tensor: err = %v", err)
	}
	if _, err := ewRunOp(13, "ReduceMean", map[string]any{"axes": []int64{1, -1}}, 1, 1, x); err == nil || !strings.Contains(err.Error(), "repeated") {
		t.Errorf("repeated axis: err = %v", err)
	}
	i := onnx.NewTensor([]int{2, 3}, []int64{1, -2, 3, 4, 5, -6})
	if got := ewRun1(t, 13, "ReduceSum", map[string]any{"keepdims": 0}, i, axes); !slices.Equal(got.Int64s(), []int64{2, 3}) {
		t.Errorf("int64 ReduceSum = %v", got.Int64s())
	}
	if got := ewRun1(t, 13, "ReduceMax", map[string]any{"axes": []int64{0}, "keepdims": 0}, i); !slices.Equal(got.Int64s(), []int64{4, 5, 3}) {
		t.Errorf("int64 ReduceMax = %v", got.Int64s())
	}
}

// softmaxRef computes softmax of x viewed as [outer, mid, inner] along mid.
func softmaxRef(x []float64, outer, mid, inner int, logOut bool) []float64 {
	o := make([]float64, len(x))
	for a := range outer {
		for j := range inner {
			at := func(k int) int { return (a*mid+k)*inner + j }
			s := 0.0
			for k := range mid {
				s += math.Exp(x[at(k)])
			}
			for k := range mid {
				if logOut {
					o[at(k)] = x[at(k)] - math.Log(s)
				} else {
					o[at(k)] = math.Exp(x[at(k)]) / s
				}
			}
		}
	}
	return o
}

func TestSoftmaxOpsets(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(23, 24))
	x := ewRandFloats(rng, []int{2, 3, 4}, -5, 5)
	v, _ := float64s(x)
	type tc struct {
		opset             int64
		axis              *int64
		outer, mid, inner int
	}
	ax := func(a int64) *int64 { return &a }
	cases := []tc{
		{13, nil, 6, 4, 1},     // default -1
		{13, ax(1), 2, 3, 4},   // along axis 1
		{13, ax(0), 1, 2, 12},  // along axis 0
		{11, nil, 2, 12, 1},    // default 1: flattened [2, 12]
		{11, ax(2), 6, 4, 1},   // flattened [6, 4]
		{11, ax(0), 1, 24, 1},  // flattened [1, 24]
		{11, ax(-2), 2, 12, 1}, // -2 is axis 1
	}
	for _, c := range cases {
		for _, op := range []string{"Softmax", "LogSoftmax"} {
			var attrs map[string]any
			if c.axis != nil {
				attrs = map[string]any{"axis": *c.axis}
			}
			got := ewRun1(t, c.opset, op, attrs, x)
			ref := softmaxRef(v, c.outer, c.mid, c.inner, op == "LogSoftmax")
			ewCheckClose(t, op, got, x.Shape, ref, 1e-6, 1e-7)
		}
	}
	// Large inputs, parallel and strided, and huge values that would
	// overflow exp without subtracting the maximum.
	big := ewRandFloats(rng, []int{64, 16, 100}, -500, 500)
	bv, _ := float64s(big)
	got := ewRun1(t, 13, "Softmax", map[string]any{"axis": int64(1)}, big)
	// The reference shifts by the maximum too, as float64 exp of 500 would
	// still be finite but that of the differences is the precise form.
	ref := make([]float64, len(bv))
	for a := range 64 {
		for j := range 100 {
			m := math.Inf(-1)
			for k := range 16 {
				m = math.Max(m, bv[(a*16+k)*100+j])
			}
			s := 0.0
			for k := range 16 {
				s += math.Exp(bv[(a*16+k)*100+j] - m)
			}
			for k := range 16 {
				ref[(a*16+k)*100+j] = math.Exp(bv[(a*16+k)*100+j]-m) / s
			}
		}
	}
	ewCheckClose(t, "Softmax large", got, big.Shape, ref, 1e-6, 1e-30)
	if _, err := ewRunOp(13, "Softmax", map[string]any{"axis": int64(3)}, 1, 1, x); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("Softmax axis 3 of rank 3: err = %v", err)
	}
}
