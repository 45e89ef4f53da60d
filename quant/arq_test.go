package quant

import (
	"math/rand/v2"
	"testing"

	"amq/onnx"
)

func randTensor(rng *rand.Rand, shape ...int) *onnx.Tensor {
	d := make([]float32, onnx.NumElems(shape))
	for i := range d {
		d[i] = float32(rng.NormFloat64())
	}
	t := onnx.NewTensor(shape, d)
	t.Name = "w"
	return t
}

// refScale is AMCT's symmetric int8 scale for values spanning [lo, hi],
// written out here independently of SymmetricScale: the larger magnitude
// over 127, or over 128 when it is the negative end.
type refScale struct{ lo, hi float64 }

func (r *refScale) add(v float64) { r.lo, r.hi = min(r.lo, v), max(r.hi, v) }

func (r refScale) scale() float32 {
	if -r.lo > r.hi {
		return float32(-r.lo / 128)
	}
	return float32(r.hi / 127)
}

func TestARQScalesConvPerOutputChannel(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 1))
	w := randTensor(rng, 6, 2, 3, 3)
	n := &onnx.Node{Name: "c", OpType: "Conv"}
	s, err := ARQ("Conv", n, w, true)
	if err != nil {
		t.Fatal(err)
	}
	d := w.Floats()
	for o := range 6 {
		var r refScale
		for i := range 18 {
			r.add(float64(d[o*18+i]))
		}
		if s[o] != r.scale() {
			t.Errorf("channel %d: scale %v, want %v", o, s[o], r.scale())
		}
	}
	one, err := ARQ("Conv", n, w, false)
	if err != nil {
		t.Fatal(err)
	}
	var all refScale
	for _, v := range d {
		all.add(float64(v))
	}
	if len(one) != 1 || one[0] != all.scale() {
		t.Errorf("per tensor: %v, want [%v]", one, all.scale())
	}
}

func TestARQScalesConvTransposePerGroupedOutputChannel(t *testing.T) {
	t.Parallel()
	// W[I=4, O/g=3, 2, 2] with group 2: 6 output channels; output channel
	// o of group gi = o/3 is column o%3 of rows 2*gi, 2*gi+1.
	rng := rand.New(rand.NewPCG(2, 2))
	w := randTensor(rng, 4, 3, 2, 2)
	n := &onnx.Node{Name: "ct", OpType: "ConvTranspose"}
	n.SetAttr("group", int64(2))
	s, err := ARQ("ConvTranspose", n, w, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 6 {
		t.Fatalf("%d scales, want 6", len(s))
	}
	d := w.Floats()
	at := func(i, j, a, b int) float64 { return float64(d[((i*3+j)*2+a)*2+b]) }
	for o := range 6 {
		gi, col := o/3, o%3
		var r refScale
		for i := gi * 2; i < gi*2+2; i++ {
			for a := range 2 {
				for b := range 2 {
					r.add(at(i, col, a, b))
				}
			}
		}
		if s[o] != r.scale() {
			t.Errorf("output channel %d: scale %v, want %v", o, s[o], r.scale())
		}
	}
}

func TestARQScalesGemmAlongItsOutputAxis(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 3))
	w := randTensor(rng, 5, 7) // [K=5, N=7] or, with transB, [N=5, K=7]
	d := w.Floats()
	col := func(c int) refScale {
		var m refScale
		for r := range 5 {
			m.add(float64(d[r*7+c]))
		}
		return m
	}
	row := func(r int) refScale {
		var m refScale
		for c := range 7 {
			m.add(float64(d[r*7+c]))
		}
		return m
	}
	g := &onnx.Node{Name: "g", OpType: "Gemm"}
	s, _ := ARQ("Gemm", g, w, true)
	for c := range 7 {
		if s[c] != col(c).scale() {
			t.Errorf("Gemm column %d: %v", c, s[c])
		}
	}
	g.SetAttr("transB", int64(1))
	s, _ = ARQ("Gemm", g, w, true)
	if len(s) != 5 {
		t.Fatalf("transB: %d scales, want 5", len(s))
	}
	for r := range 5 {
		if s[r] != row(r).scale() {
			t.Errorf("Gemm transB row %d: %v", r, s[r])
		}
	}
	mm := &onnx.Node{Name: "m", OpType: "MatMul"}
	s, _ = ARQ("MatMul", mm, w, false)
	var m refScale
	for c := range 7 {
		cm := col(c)
		m.add(cm.lo)
		m.add(cm.hi)
	}
	if len(s) != 1 || s[0] != m.scale() {
		t.Errorf("MatMul per tensor: %v, want %v", s, m.scale())
	}
	zero := onnx.NewTensor([]int{2, 2}, make([]float32, 4))
	s, _ = ARQ("MatMul", mm, zero, true)
	if s[0] != 1 || s[1] != 1 {
		t.Errorf("zero weight: scales %v, want 1", s)
	}
}
