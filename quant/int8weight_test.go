package quant

import (
	"math"
	"math/rand/v2"
	"testing"

	"amq/onnx"
)

// TestFakeQuantCodesWidenToFakeQuantWeight checks that a weight held as
// int8 codes and scales (what calibration observes through) widens, whole
// and from any offset, to exactly the values FakeQuantWeight writes, for
// every layout of output channels: MatMul and Gemm columns, Gemm rows
// (transB), Conv and grouped ConvTranspose channels, one scale.
func TestFakeQuantCodesWidenToFakeQuantWeight(t *testing.T) {
	t.Parallel()
	node := func(op string, attrs map[string]int64) *onnx.Node {
		n := &onnx.Node{Name: op, OpType: op, Attrs: map[string]*onnx.Attr{}}
		for k, v := range attrs {
			n.SetAttr(k, v)
		}
		return n
	}
	cases := []struct {
		name        string
		n           *onnx.Node
		shape       []int
		channelWise bool
	}{
		{"MatMul", node("MatMul", nil), []int{24, 10}, true},
		{"Gemm", node("Gemm", nil), []int{12, 9}, true},
		{"Gemm transB", node("Gemm", map[string]int64{"transB": 1}), []int{9, 12}, true},
		{"Conv", node("Conv", nil), []int{6, 3, 3, 3}, true},
		{"ConvTranspose", node("ConvTranspose", map[string]int64{"group": 2}), []int{4, 3, 2, 2}, true},
		{"one scale", node("MatMul", nil), []int{16, 8}, false},
	}
	rng := rand.New(rand.NewPCG(15, 16))
	for _, c := range cases {
		w := onnx.NewTensor(c.shape, make([]float32, onnx.NumElems(c.shape)))
		w.Name = "w"
		for i := range w.Floats() {
			w.Floats()[i] = float32(rng.NormFloat64() * math.Exp(rng.Float64()*4-2))
		}
		sw, err := ARQ(c.n.OpType, c.n, w, c.channelWise)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		q, err := fakeQuantCodes(c.n.OpType, c.n, w, sw)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		want := w.Clone()
		if err := FakeQuantWeight(c.n.OpType, c.n, want, sw); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		wd := want.Floats()
		for _, off := range []int{0, 1, 7, len(wd) / 2} {
			got := make([]float32, len(wd)-off)
			q.WidenTo(got, off)
			for i, v := range got {
				if math.Float32bits(v) != math.Float32bits(wd[off+i]) {
					t.Fatalf("%s: element %d widens to %v, FakeQuantWeight wrote %v", c.name, off+i, v, wd[off+i])
				}
			}
		}
	}
}
