package sim

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"amq/onnx"
)

// refConvTranspose scatters every input value times the kernel into the
// output, the definition of the transposed convolution.
func refConvTranspose(sp convSpec, x, w, bias []float64) ([]float64, []int) {
	nd := len(sp.in)
	out := sp.outShape
	if out == nil {
		out = make([]int, nd)
		for i := range out {
			out[i] = sp.s[i]*(sp.in[i]-1) + sp.opd[i] + (sp.k[i]-1)*sp.d[i] + 1 - sp.padB[i] - sp.padE[i]
		}
	}
	cg, mg := sp.c/sp.group, sp.m/sp.group
	ys := append([]int{sp.n, sp.m}, out...)
	y := make([]float64, onnx.NumElems(ys))
	xs := append([]int{sp.n, sp.c}, sp.in...)
	ws := append([]int{sp.c, mg}, sp.k...)
	opos := make([]int, nd)
	for b := 0; b < sp.n; b++ {
		for ci := 0; ci < sp.c; ci++ {
			forIndex(sp.in, func(ip []int) {
				xv := x[flatIndex(append([]int{b, ci}, ip...), xs)]
				for mo := 0; mo < mg; mo++ {
					forIndex(sp.k, func(kp []int) {
						for j := range kp {
							opos[j] = ip[j]*sp.s[j] - sp.padB[j] + kp[j]*sp.d[j]
							if opos[j] < 0 || opos[j] >= out[j] {
								return
							}
						}
						yi := flatIndex(append([]int{b, ci/cg*mg + mo}, opos...), ys)
						y[yi] += xv * w[flatIndex(append([]int{ci, mo}, kp...), ws)]
					})
				}
			})
		}
	}
	if bias != nil {
		per := len(y) / (sp.n * sp.m)
		for i := range y {
			y[i] += bias[(i/per)%sp.m]
		}
	}
	return y, ys
}

// TestConvTransposeFloatMatchesDefinition checks the float ConvTranspose
// on random configurations, with pads or output_shape, against
// refConvTranspose.
func TestConvTransposeFloatMatchesDefinition(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	for iter := 0; iter < 150; iter++ {
		sp, _ := randomConvSpec(r, true)
		mg := sp.m / sp.group
		x := randFloats(r, sp.n*sp.c*onnx.NumElems(sp.in))
		w := randFloats(r, sp.c*mg*onnx.NumElems(sp.k))
		attrs := sp.attrs("NOTSET", true)
		if iter%3 == 0 {
			// output_shape instead of pads: the total padding follows from
			// it and the odd unit goes first (ONNX specification).
			sp.outShape = make([]int, len(sp.in))
			for i := range sp.in {
				full := sp.s[i]*(sp.in[i]-1) + sp.opd[i] + (sp.k[i]-1)*sp.d[i] + 1
				sp.outShape[i] = max(1, full-r.IntN(3))
				total := max(0, full-sp.outShape[i])
				sp.padB[i], sp.padE[i] = total-total/2, total/2
			}
			delete(attrs, "pads")
			attrs["output_shape"] = ints64(sp.outShape)
		}
		bias := randFloats(r, sp.m)
		in := []*onnx.Tensor{
			onnx.NewTensor(append([]int{sp.n, sp.c}, sp.in...), x),
			onnx.NewTensor(append([]int{sp.c, mg}, sp.k...), w),
			onnx.NewTensor([]int{sp.m}, bias),
		}
		want, shape := refConvTranspose(sp, toF64(x), toF64(w), toF64(bias))
		out, err := runOp(t, 13, node("ConvTranspose", attrs, "x", "w", "b"), nil, in...)
		if err != nil {
			t.Fatalf("case %d %+v: %v", iter, sp, err)
		}
		if fmt.Sprint(out[0].Shape) != fmt.Sprint(shape) {
			t.Fatalf("case %d %+v: shape %v, want %v", iter, sp, out[0].Shape, shape)
		}
		if i := closeTo(out[0].Floats(), want, 1e-5, 1e-5); i >= 0 {
			t.Fatalf("case %d %+v: y[%d] = %g, want %g", iter, sp, i, out[0].Floats()[i], want[i])
		}
	}
}

// TestConvTransposeRejectsBadInput checks that malformed ConvTranspose
// inputs give errors.
func TestConvTransposeRejectsBadInput(t *testing.T) {
	t.Parallel()
	checkRejects(t, []rejectCase{
		{"convtranspose channels", node("ConvTranspose", nil, "x", "w"), []*onnx.Tensor{f32Zeros(1, 3, 5), f32Zeros(2, 1, 3)}, false},
		{"convtranspose output_shape", node("ConvTranspose", map[string]any{"output_shape": []int64{4, 4, 4}}, "x", "w"), []*onnx.Tensor{f32Zeros(1, 1, 5, 5), f32Zeros(1, 1, 3, 3)}, false},
	})
}
