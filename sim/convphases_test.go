package sim

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
)

// TestPhasePlanesMatchPaddedInput checks every way of filling phase
// planes (permutes for a column stride of 2, im2col's gathers, the Go
// loop) against the definition: phase (a, b) at (i, j) is the zero-padded
// input at (i*sh+a, j*sw+b), or zero past it (and after the last row, to
// the plane's end), for odd and even sizes and pads, strides 1 to 3 and
// dilations.
func TestPhasePlanesMatchPaddedInput(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	type spec struct {
		h, w, k  int
		pads     []int64
		s, d     []int64
		channels int
	}
	specs := []spec{
		{9, 9, 3, []int64{1, 1, 1, 1}, []int64{2, 2}, nil, 2},
		{10, 37, 3, []int64{0, 1, 1, 0}, []int64{2, 2}, nil, 3},
		{13, 40, 7, []int64{3, 3, 3, 3}, []int64{2, 2}, nil, 1},
		{12, 35, 5, []int64{2, 1, 0, 2}, []int64{2, 3}, nil, 2},
		{11, 50, 3, []int64{2, 3, 1, 0}, []int64{3, 2}, []int64{2, 1}, 2},
		{8, 33, 2, []int64{0, 0, 1, 1}, []int64{2, 2}, nil, 2},
		{7, 20, 3, []int64{1, 1, 1, 1}, nil, []int64{2, 2}, 2},
		{6, 2, 3, []int64{1, 2, 1, 2}, []int64{2, 2}, nil, 1},
		{10, 23, 4, []int64{1, 2, 2, 1}, nil, nil, 2}, // rows sharing padding: zeros after the last
		{9, 40, 3, []int64{0, 1, 1, 2}, nil, nil, 2},
	}
	tried := map[string]int{}
	for si, sp := range specs {
		g := convGeom(t, sp.h, sp.w, sp.k, sp.k, sp.pads, sp.s, sp.d)
		cn := &convNode{implicit: new(atomic.Pointer[implicitPlan])}
		// A kernel as wide as any output, so that the waste bound never
		// refuses the plan.
		kern := microKernel{nr: 1 << 20, packRows: func([]float32, []float32, []int, int) {}}
		plan := cn.implicitPlan(g, sp.channels, kern)
		if plan == nil {
			t.Fatalf("spec %d: no implicit plan", si)
		}
		x := randFloats(r, sp.channels*g.inN)
		want := make([]float32, sp.channels*plan.cs)
		for c := range sp.channels {
			for k, ph := range plan.phases {
				for i := range plan.hq {
					for j := range plan.wq {
						ih, iw := i*g.s[1]+ph[0]-g.padB[1], j*g.s[2]+ph[1]-g.padB[2]
						if ih >= 0 && ih < sp.h && iw >= 0 && iw < sp.w {
							want[c*plan.cs+k*plan.pn+i*plan.wq+j] = x[c*g.inN+ih*sp.w+iw]
						}
					}
				}
			}
		}
		type way struct {
			plan *implicitPlan
			nr   int
		}
		loop := *plan
		loop.pairs, loop.segs = nil, nil
		ways := map[string]way{"loop": {&loop, 0}}
		if pairs := phasePairsOf(g, plan); pairs != nil && deinterleaveFast() {
			p := loop
			p.pairs = pairs
			ways["pairs"] = way{&p, 0}
		}
		for _, nr := range []int{16, 32} {
			if im2colFast(nr) {
				p := loop
				p.segs = phaseSegs(g, plan, nr)
				ways[fmt.Sprint("segs", nr)] = way{&p, nr}
			}
		}
		for name, wy := range ways {
			got := make([]float32, len(want))
			fill(got, -1)
			phasePlanes(got, x, g, wy.plan, sp.channels, wy.nr, 2)
			compareBits(t, fmt.Sprintf("spec %d %s", si, name), got, want)
			tried[name]++
		}
	}
	if deinterleaveFast() && tried["pairs"] == 0 || im2colFast(32) && tried["segs32"] == 0 {
		t.Fatalf("a way of filling the planes was not tried: %v", tried)
	}
	t.Logf("specs per way: %v", tried)
}

// compareBits fails unless got and want hold the same bits.
func compareBits(t *testing.T, name string, got, want []float32) {
	t.Helper()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: [%d] = %g, want %g", name, i, got[i], want[i])
		}
	}
}

// TestDeinterleaveSplitsEvenAndOdd checks deinterleave (the assembly
// where there is some) for lengths around its blocks of 16.
func TestDeinterleaveSplitsEvenAndOdd(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 57, 112} {
		src := randFloats(r, 2*n+3)
		even, odd := make([]float32, n+1), make([]float32, n+1)
		even[n], odd[n] = -7, -7
		deinterleave(even[:n], odd[:n], src[:2*n])
		for i := range n {
			if even[i] != src[2*i] || odd[i] != src[2*i+1] {
				t.Fatalf("n %d: [%d] = %g, %g, want %g, %g", n, i, even[i], odd[i], src[2*i], src[2*i+1])
			}
		}
		if even[n] != -7 || odd[n] != -7 {
			t.Fatalf("n %d: wrote past the end", n)
		}
	}
}

// convGeom is the geometry of a 2-D Conv over an h x w input with a
// kh x kw kernel, pads, and strides and dilations (nil: ones).
func convGeom(t *testing.T, h, w, kh, kw int, pads, strides, dilations []int64) *geom {
	t.Helper()
	at := map[string]any{"pads": pads, "kernel_shape": []int64{int64(kh), int64(kw)}}
	if strides != nil {
		at["strides"] = strides
	}
	if dilations != nil {
		at["dilations"] = dilations
	}
	attrs, err := readWindowAttrs(node("Conv", at, "x", "w"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := attrs.resolve([]int{h, w}, []int{kh, kw})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.forward("NOTSET", false); err != nil {
		t.Fatal(err)
	}
	return g
}
