package sim

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"amq/onnx"
)

// TestConvChainFusesExactly: a depthwise or a plain Conv followed by
// PP-LCNetV3's affine block (Mul then Add by scalars) and a Clip runs as
// one step, with the bits of the nodes one by one (fetching the
// intermediate tensors stops the fusion), for unit and non-unit column
// strides (for depthwise, the row kernel and the tap-by-tap loop), with
// one and two threads.
func TestConvChainFusesExactly(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(21, 21))
	for _, group := range []int{convChainChannels, 1} {
		for _, strides := range [][]int64{{1, 1}, {2, 1}, {1, 2}} {
			for _, threads := range []int{1, 2} {
				t.Run(fmt.Sprint(group, strides, threads), func(t *testing.T) {
					testConvChain(t, r, group, strides, threads)
				})
			}
		}
	}
}

// convChainChannels are the channels of TestConvChainFusesExactly's Conv.
const convChainChannels = 5

// testConvChain is one case of TestConvChainFusesExactly.
func testConvChain(t *testing.T, r *rand.Rand, group int, strides []int64, threads int) {
	const ch = convChainChannels
	conv := &onnx.Node{Name: "conv", OpType: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"c"}}
	conv.SetAttr("group", int64(group))
	conv.SetAttr("kernel_shape", []int64{3, 3})
	conv.SetAttr("pads", []int64{1, 1, 1, 1})
	conv.SetAttr("strides", strides)
	g := &onnx.Graph{
		Nodes: []*onnx.Node{
			conv,
			{Name: "mul", OpType: "Mul", Inputs: []string{"scale", "c"}, Outputs: []string{"t0"}},
			{Name: "add", OpType: "Add", Inputs: []string{"t0", "shift"}, Outputs: []string{"t1"}},
			{Name: "clip", OpType: "Clip", Inputs: []string{"t1", "zero", "six"}, Outputs: []string{"y"}},
		},
		Initializers: map[string]*onnx.Tensor{
			"w":     {Name: "w", DType: onnx.Float, Shape: []int{ch, ch / group, 3, 3}, Data: randFloats(r, ch*ch/group*9)},
			"b":     {Name: "b", DType: onnx.Float, Shape: []int{ch}, Data: randFloats(r, ch)},
			"scale": {Name: "scale", DType: onnx.Float, Shape: []int{1}, Data: []float32{1.37}},
			"shift": {Name: "shift", DType: onnx.Float, Shape: []int{1}, Data: []float32{0.5}},
			"zero":  {Name: "zero", DType: onnx.Float, Data: []float32{0}},
			"six":   {Name: "six", DType: onnx.Float, Data: []float32{6}},
		},
		Inputs:  []*onnx.ValueInfo{{Name: "x", DType: onnx.Float}},
		Outputs: []*onnx.ValueInfo{{Name: "y", DType: onnx.Float}},
	}
	s, err := NewSession(&onnx.Model{Opsets: map[string]int64{"": 13}, Graph: g}, &Options{Threads: threads})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(s.steps[0].fusedWith); got != 3 {
		t.Fatalf("the Conv fuses %d nodes after it, want 3", got)
	}
	x := randFloats(r, 3*ch*13*70)
	for i := range x {
		x[i] *= 4
	}
	in := map[string]*onnx.Tensor{"x": onnx.NewTensor([]int{3, ch, 13, 70}, x)}
	for range 2 { // the second run reuses the arena's buffers
		got, err := s.Run(in)
		if err != nil {
			t.Fatal(err)
		}
		want, err := s.Run(in, "c", "t0", "t1")
		if err != nil {
			t.Fatal(err)
		}
		if i := sameBits(got["y"].Data.([]float32), want["y"].Data.([]float32)); i >= 0 {
			t.Fatalf("element %d differs fused", i)
		}
	}
}
