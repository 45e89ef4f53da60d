package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestDepthwiseRowsMatchTapByTap checks the row kernel of depthwise
// convolutions bit for bit against the tap-by-tap loop followed by the
// bias pass, over kernels, strides, dilations, asymmetric and oversized
// pads and widths around the kernel's vector lengths, with zeros of both
// signs, infinities and NaNs among the inputs.
func TestDepthwiseRowsMatchTapByTap(t *testing.T) {
	if !depthwiseVecOK() {
		t.Skip("no AVX-512 row kernel on this machine or build")
	}
	r := rand.New(rand.NewPCG(1, 2))
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
	cases := []struct {
		spatial, kernel, strides, dils, pads []int
	}{
		{[]int{24, 160}, []int{3, 3}, []int{1, 1}, nil, []int{1, 1, 1, 1}},
		{[]int{12, 80}, []int{3, 3}, []int{2, 1}, nil, []int{1, 1, 1, 1}},
		{[]int{6, 40}, []int{5, 5}, []int{1, 1}, nil, []int{2, 2, 2, 2}},
		{[]int{7, 17}, []int{3, 3}, []int{1, 1}, []int{2, 2}, []int{0, 3, 2, 1}},
		{[]int{3, 5}, []int{3, 3}, []int{1, 1}, nil, []int{4, 4, 4, 4}},
		{[]int{9, 64}, []int{1, 7}, []int{1, 1}, nil, []int{0, 3, 0, 3}},
		{[]int{4, 97}, []int{3, 1}, []int{1, 1}, nil, []int{1, 0, 1, 0}},
		{[]int{33}, []int{5}, []int{1}, nil, []int{2, 2}},
		{[]int{2, 3, 31}, []int{3, 3, 3}, []int{1, 1, 1}, nil, []int{1, 1, 1, 1, 1, 1}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.spatial, c.kernel, c.strides, c.dils, c.pads), func(t *testing.T) {
			g, err := windowAttrs{kernel: c.kernel, strides: c.strides, dils: c.dils, pads: c.pads, autoPad: "NOTSET"}.resolve(c.spatial, c.kernel)
			if err != nil {
				t.Fatal(err)
			}
			if err := g.forward("NOTSET", false); err != nil {
				t.Fatal(err)
			}
			for trial := range 4 {
				src := make([]float32, g.inN)
				for i := range src {
					src[i] = float32(r.NormFloat64())
					if trial > 1 && r.IntN(50) == 0 {
						src[i] = special[r.IntN(len(special))]
					}
				}
				filt := make([]float32, g.kN)
				for i := range filt {
					filt[i] = float32(r.NormFloat64())
					if trial == 3 && r.IntN(4) == 0 {
						filt[i] = special[r.IntN(2)]
					}
				}
				bias := float32(r.NormFloat64())
				for _, hasBias := range []bool{false, true} {
					want := make([]float32, g.outN)
					depthwiseTaps(want, src, filt, g)
					if hasBias {
						addScalar(want, bias)
					}
					got := make([]float32, g.outN)
					for i := range got {
						got[i] = float32(math.NaN()) // depthwiseRows writes every value
					}
					depthwiseRows(got, src, filt, g, bias, hasBias, nil)
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
							t.Fatalf("trial %d bias %v: output %d is %v (%#x), the tap-by-tap loop gives %v (%#x)",
								trial, hasBias, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
						}
					}
				}
			}
		})
	}
}
