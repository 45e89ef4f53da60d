package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"amq/onnx"
)

// TestMaxPool2DMatchesGeneric compares the fast float32 MaxPool path with
// the generic one (itself checked against the definition in
// TestPoolRandom) bit for bit, on random 1-D and 2-D geometries and on
// ResNet's stem pool, with NaN and signed zeros among the inputs: the fast
// path must visit each window's taps in the same order.
func TestMaxPool2DMatchesGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	type spec struct {
		in, k, s, pb, pe []int
		ceil             bool
	}
	specs := []spec{{in: []int{112, 112}, k: []int{3, 3}, s: []int{2, 2}, pb: []int{1, 1}, pe: []int{1, 1}}}
	for range 300 {
		nd := 1 + r.IntN(2)
		var sp spec
		for range nd {
			k := 1 + r.IntN(4)
			sp.k, sp.s = append(sp.k, k), append(sp.s, 1+r.IntN(3))
			sp.in = append(sp.in, k+r.IntN(12))
			sp.pb, sp.pe = append(sp.pb, r.IntN(k)), append(sp.pe, r.IntN(k))
		}
		sp.ceil = r.IntN(2) == 1
		specs = append(specs, sp)
	}
	special := []float32{float32(math.NaN()), 0, float32(math.Copysign(0, -1)), float32(math.Inf(-1))}
	for _, sp := range specs {
		n, c := 1+r.IntN(2), 1+r.IntN(3)
		x := randFloats(r, n*c*onnx.NumElems(sp.in))
		for i := range x {
			if r.IntN(8) == 0 {
				x[i] = special[r.IntN(len(special))]
			}
		}
		attrs := map[string]any{"kernel_shape": ints64(sp.k), "strides": ints64(sp.s),
			"pads": ints64(append(append([]int(nil), sp.pb...), sp.pe...)), "ceil_mode": boolInt(sp.ceil)}
		desc := fmt.Sprintf("in=%v k=%v s=%v pads=%v/%v ceil=%v", sp.in, sp.k, sp.s, sp.pb, sp.pe, sp.ceil)
		xt := onnx.NewTensor(append([]int{n, c}, sp.in...), x)
		fast, err := runOp(t, 12, node("MaxPool", attrs, "x"), nil, xt)
		if err != nil {
			t.Fatalf("%s: %v", desc, err)
		}
		p, err := readPool(node("MaxPool", attrs, "x"))
		if err != nil {
			t.Fatal(err)
		}
		g, err := p.geometry(xt)
		if err != nil {
			t.Fatal(err)
		}
		generic, err := maxPool(&runCtx{threads: 1}, p, g, xt, x)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(fast[0].Shape) != fmt.Sprint(generic[0].Shape) {
			t.Fatalf("%s: shape %v, want %v", desc, fast[0].Shape, generic[0].Shape)
		}
		got, want := fast[0].Floats(), generic[0].Floats()
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
				t.Fatalf("%s: y[%d] = %v, generic path %v", desc, i, got[i], want[i])
			}
		}
	}
}
