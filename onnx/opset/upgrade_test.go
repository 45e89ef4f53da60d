package opset_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"amq/onnx"
	"amq/onnx/onnxpb"
	"amq/onnx/opset"
)

func marshal(t *testing.T, m *onnx.Model) []byte {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUpgradeReportsEveryUnconvertibleNode checks that all the nodes
// without an opset-11 form are named in one error, each with its reason,
// and that the model is left as it was.
func TestUpgradeReportsEveryUnconvertibleNode(t *testing.T) {
	x := vi("x", onnx.Float, 1, 3, 4, 4)
	chw := func(name string) *onnx.Tensor { return named(name, onnx.NewTensor([]int{3}, []float32{1, 1, 1})) }
	m8 := tinyModel(8, x, []*onnx.Node{
		node("BatchNormalization", "bn", []string{"x", "s", "b", "m", "v"}, []string{"a"}, map[string]any{"spatial": int64(0)}),
		node("Upsample", "cubic", []string{"a"}, []string{"b"}, map[string]any{"mode": "cubic", "scales": []float32{1, 1, 2, 2}}),
		node("Upsample", "shrink", []string{"b"}, []string{"c"}, map[string]any{"scales": []float32{1, 1, 0.5, 1}}),
		node("Dropout", "drop", []string{"c"}, []string{"d", "mask"}, nil),
		node("Add", "use_mask", []string{"d", "mask"}, []string{"e"}, nil),
		node("ImageScaler", "scaler", []string{"e"}, []string{"f"}, map[string]any{"scale": float32(2)}),
		node("Cast", "to_int", []string{"f"}, []string{"g"}, map[string]any{"to": int64(onnx.Int64)}),
		node("Clip", "int_clip", []string{"g"}, []string{"h"}, map[string]any{"min": float32(0)}),
		{Name: "custom", OpType: "Foo", Domain: "com.example", Inputs: []string{"f"}, Outputs: []string{"i"}},
		node("Clip", "untyped_clip", []string{"i"}, []string{"j"}, map[string]any{"max": float32(1)}),
		node("Relu", "fine", []string{"j"}, []string{"y"}, nil),
	}, []*onnx.ValueInfo{vi("y", onnx.Float), vi("h", onnx.Int64)}, chw("s"), chw("b"), chw("m"), chw("v"))
	scales := func(name string, v ...float32) *onnx.Tensor { return named(name, onnx.NewTensor([]int{4}, v)) }
	m10 := tinyModel(10, x, []*onnx.Node{
		node("Resize", "mixed", []string{"x", "s1"}, []string{"a"}, nil),
		node("Shape", "shape", []string{"a"}, []string{"sh"}, nil),
		node("Cast", "run_time_scales", []string{"sh"}, []string{"s2"}, map[string]any{"to": int64(onnx.Float)}),
		node("Resize", "dynamic", []string{"a", "s2"}, []string{"b"}, nil),
		node("Resize", "dynamic_linear", []string{"a", "s2"}, []string{"c"}, map[string]any{"mode": "linear"}),
		node("Resize", "up", []string{"a", "s3"}, []string{"y"}, nil),
	}, []*onnx.ValueInfo{vi("y", onnx.Float), vi("b", onnx.Float), vi("c", onnx.Float)}, scales("s1", 1, 1, 2, 0.5), scales("s3", 1, 1, 2, 2))
	cases := []struct {
		m    *onnx.Model
		want [][2]string // node, words of the reason
	}{
		{m8, [][2]string{
			{"bn", "spatial = 0"},
			{"cubic", `mode "cubic"`},
			{"shrink", "at least 1"},
			{"drop", `mask "mask" is read`},
			{"scaler", "not an operator of ai.onnx opset 8"},
			{"int_clip", "INT64"},
			{"untyped_clip", `element type of "i"`},
		}},
		{m10, [][2]string{
			{"mixed", "enlarge some axes and shrink others"},
			{"dynamic", "computed at run time"},
		}},
	}
	for _, c := range cases {
		before := marshal(t, c.m)
		_, err := opset.Upgrade(c.m, opset.Target)
		var e *opset.Error
		if !errors.As(err, &e) {
			t.Fatalf("opset %d: error %v, want an *opset.Error", c.m.Opset(), err)
		}
		if e.From != c.m.Opset() || e.To != opset.Target {
			t.Errorf("error from %d to %d", e.From, e.To)
		}
		var got []string
		for _, p := range e.Problems {
			got = append(got, p.Node)
		}
		var want []string
		for _, w := range c.want {
			want = append(want, w[0])
		}
		if !slices.Equal(got, want) {
			t.Errorf("opset %d: problems at %v, want %v (%v)", c.m.Opset(), got, want, err)
		}
		for i, w := range c.want {
			if i < len(e.Problems) && !strings.Contains(e.Problems[i].Reason, w[1]) {
				t.Errorf("node %s: reason %q, want it to say %q", w[0], e.Problems[i].Reason, w[1])
			}
			if !strings.Contains(err.Error(), `"`+w[0]+`"`) {
				t.Errorf("error %q does not name node %s", err, w[0])
			}
		}
		if !bytes.Equal(marshal(t, c.m), before) {
			t.Errorf("opset %d: Upgrade changed its argument", c.m.Opset())
		}
	}
}

// TestUpgradeKeepsNamesDomainsAndTypes checks what an upgrade keeps (node
// and tensor names, other domains and their opsets) and the constants it
// adds (named after node and input, of the data's element type).
func TestUpgradeKeepsNamesDomainsAndTypes(t *testing.T) {
	x := vi("x", onnx.Float, 1, 3, 4, 4)
	m := tinyModel(9, x, []*onnx.Node{
		node("Cast", "/to_double", []string{"x"}, []string{"xd"}, map[string]any{"to": int64(onnx.Double)}),
		node("Clip", "/Clip", []string{"xd"}, []string{"c"}, map[string]any{"min": float32(-1), "max": float32(2)}),
		node("Pad", "/Pad", []string{"c"}, []string{"p"}, map[string]any{"pads": []int64{0, 0, 1, 1, 0, 0, 1, 1}, "value": float32(0.5)}),
		{Name: "/custom", OpType: "Foo", Domain: "com.example", Inputs: []string{"p"}, Outputs: []string{"y"}},
	}, []*onnx.ValueInfo{vi("y", onnx.Double)})
	m.IRVersion = 4
	m.Opsets["com.example"] = 3
	up, err := opset.Upgrade(m, opset.Target)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int64{"": 11, "com.example": 3}; len(up.Opsets) != 2 || up.Opsets[""] != 11 || up.Opsets["com.example"] != 3 {
		t.Errorf("opsets %v, want %v", up.Opsets, want)
	}
	if up.IRVersion != 6 {
		t.Errorf("IR version %d, want 6", up.IRVersion)
	}
	g := up.Graph
	clip, pad := g.Node("/Clip"), g.Node("/Pad")
	if want := []string{"xd", "/Clip.min", "/Clip.max"}; clip == nil || !slices.Equal(clip.Inputs, want) {
		t.Fatalf("Clip %v, want inputs %v", clip, want)
	}
	if want := []string{"c", "/Pad.pads", "/Pad.constant_value"}; pad == nil || !slices.Equal(pad.Inputs, want) {
		t.Fatalf("Pad %v, want inputs %v", pad, want)
	}
	for name, want := range map[string]float64{"/Clip.min": -1, "/Clip.max": 2, "/Pad.constant_value": 0.5} {
		c := g.Initializers[name]
		if c == nil || c.DType != onnx.Double || len(c.Shape) != 0 {
			t.Fatalf("constant %s is %v, want a DOUBLE scalar", name, c)
		}
		if v, err := c.Float64s(); err != nil || v[0] != want {
			t.Errorf("constant %s is %v, want %g", name, v, want)
		}
	}
	if p := g.Initializers["/Pad.pads"]; p == nil || !slices.Equal(p.Int64s(), []int64{0, 0, 1, 1, 0, 0, 1, 1}) {
		t.Errorf("pads %v", p)
	}
	custom := g.Node("/custom")
	if custom == nil || custom.Domain != "com.example" || custom.OpType != "Foo" || !slices.Equal(custom.Inputs, []string{"p"}) {
		t.Errorf("custom node %+v changed", custom)
	}

	// Already at the target: an unchanged copy.
	same, err := opset.Upgrade(up, opset.Target)
	if err != nil || same == up || !bytes.Equal(marshal(t, same), marshal(t, up)) {
		t.Errorf("Upgrade of an opset-11 model: %v, %v", same == up, err)
	}
	// Too old, or another target.
	m.Opsets[""] = 6
	if _, err := opset.Upgrade(m, opset.Target); err == nil || !strings.Contains(err.Error(), "older than 7") {
		t.Errorf("opset 6: error %v", err)
	}
	m.Opsets[""] = 9
	if _, err := opset.Upgrade(m, 13); err == nil || !strings.Contains(err.Error(), "13") {
		t.Errorf("target 13: error %v", err)
	}
}

// TestUpgradeRefusesOldFormsInSubgraphs checks that a subgraph holding a
// node in an old form is refused, naming the node, and that one without is
// kept.
func TestUpgradeRefusesOldFormsInSubgraphs(t *testing.T) {
	str := func(s string) *string { return &s }
	body := func(op string, attrs ...*onnxpb.AttributeProto) *onnxpb.GraphProto {
		return &onnxpb.GraphProto{
			Name:   str("body"),
			Node:   []*onnxpb.NodeProto{{Name: str("inner"), OpType: str(op), Input: []string{"x"}, Output: []string{"z"}, Attribute: attrs}},
			Output: []*onnxpb.ValueInfoProto{{Name: str("z")}},
		}
	}
	graphAttr := func(name string, g *onnxpb.GraphProto) *onnx.Attr {
		typ := onnxpb.AttributeProto_GRAPH
		return &onnx.Attr{Name: name, Type: onnx.AttrGraph, Proto: &onnxpb.AttributeProto{Name: str(name), Type: &typ, G: g}}
	}
	f := float32(0)
	typ := onnxpb.AttributeProto_FLOAT
	minAttr := &onnxpb.AttributeProto{Name: str("min"), Type: &typ, F: &f}
	ifNode := func(then *onnxpb.GraphProto) *onnx.Node {
		n := node("If", "/If", []string{"cond"}, []string{"y"}, nil)
		n.Attrs = map[string]*onnx.Attr{}
		n.Attrs["then_branch"] = graphAttr("then_branch", then)
		n.Attrs["else_branch"] = graphAttr("else_branch", body("Relu"))
		return n
	}
	cond := vi("cond", onnx.Bool)
	m := tinyModel(9, cond, []*onnx.Node{ifNode(body("Clip", minAttr))}, []*onnx.ValueInfo{vi("y", onnx.Float)})
	m.Graph.Inputs = append(m.Graph.Inputs, vi("x", onnx.Float, 2))
	_, err := opset.Upgrade(m, opset.Target)
	if err == nil || !strings.Contains(err.Error(), `If node "/If"`) || !strings.Contains(err.Error(), `Clip node "inner"`) {
		t.Errorf("error %v, want one naming the If node and the Clip inside", err)
	}
	m.Graph.Nodes[0] = ifNode(body("Relu"))
	if _, err := opset.Upgrade(m, opset.Target); err != nil {
		t.Errorf("subgraphs without old forms: %v", err)
	}
}
