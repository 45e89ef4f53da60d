package testfixture

import (
	"testing"

	"amq/onnx"
)

// HalfDecoder is the quantization fixture's decoder (testdata/quant/decoder,
// opset 17) with its float tensors in dt (FLOAT16 or BFLOAT16), as
// published LLM exports are: initializers and float constants narrowed,
// Casts to FLOAT made Casts to dt, and the logits cast back to FLOAT by a
// last Cast.
func HalfDecoder(tb testing.TB, dt onnx.DataType) *onnx.Model {
	tb.Helper()
	m, err := onnx.LoadFile(Path(tb, "quant", "decoder", "model_op17.onnx"))
	if err != nil {
		tb.Fatal(err)
	}
	g := m.Graph
	narrow := func(x *onnx.Tensor) *onnx.Tensor {
		if x.DType != onnx.Float {
			return x
		}
		h, err := x.Convert(dt)
		if err != nil {
			tb.Fatal(err)
		}
		return h
	}
	for name, x := range g.Initializers {
		g.Initializers[name] = narrow(x)
	}
	for _, n := range g.Nodes {
		if a, ok := n.Attrs["value"]; ok && a.T != nil {
			a.T = narrow(a.T)
		}
		if a, ok := n.Attrs["to"]; ok && onnx.DataType(a.I) == onnx.Float {
			a.I = int64(dt)
		}
	}
	g.ValueInfo = map[string]*onnx.ValueInfo{}
	out := g.Outputs[0].Name
	g.Producer(out).Outputs[0] = out + "_half"
	cast := &onnx.Node{Name: "logits_cast", OpType: "Cast", Inputs: []string{out + "_half"}, Outputs: []string{out}, Attrs: map[string]*onnx.Attr{}}
	cast.SetAttr("to", int64(onnx.Float))
	g.Nodes = append(g.Nodes, cast)
	g.Reindex()
	return m
}
