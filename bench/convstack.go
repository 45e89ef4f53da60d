package bench

import (
	"fmt"

	"amq/onnx"
)

// ConvStack returns a plain stack of 3x3 convolutions with ReLU (BatchNorm
// folded) on a [batch, 3, 64, 64] input: a stem of 64 channels, then
// layers convolutions of 128 channels, 2.4 MB of float32 weights each, for
// timing what a model costs by its weights rather than its compute
// (BenchmarkLoad: 17 layers make a 10 MB model). Input "input", output
// "output".
func ConvStack(batch, layers int, seed uint64) *onnx.Model {
	b := newBuilder("convstack", seed)
	x := b.relu("/stem", b.conv("/stem", "input", 3, 128, 3, 1, 1))
	for i := range layers {
		name := fmt.Sprintf("/layer%d", i)
		x = b.relu(name, b.conv(name, x, 128, 128, 3, 1, 1))
	}
	b.g.Nodes[len(b.g.Nodes)-1].Outputs[0] = "output"
	return b.model(13, "input", []int{batch, 3, 64, 64}, "output", []int{batch, 128, 64, 64})
}
