package opset_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"amq/internal/testfixture"
	"amq/onnx"
	"amq/onnx/opset"
)

// node builds a default-domain node; attrs values as onnx.Node.SetAttr
// takes them.
func node(op, name string, in, out []string, attrs map[string]any) *onnx.Node {
	n := &onnx.Node{Name: name, OpType: op, Inputs: in, Outputs: out}
	for k, v := range attrs {
		n.SetAttr(k, v)
	}
	return n
}

// vi describes a tensor of the given type and shape (of unknown rank
// when no dimension is given).
func vi(name string, dt onnx.DataType, shape ...int) *onnx.ValueInfo {
	v := &onnx.ValueInfo{Name: name, DType: dt}
	if len(shape) > 0 {
		v.Shape = onnx.KnownDims(shape)
	}
	return v
}

// tinyModel is a model of one graph at ai.onnx opset v: nodes from input
// x, outputs outs, initializers inits.
func tinyModel(v int64, x *onnx.ValueInfo, nodes []*onnx.Node, outs []*onnx.ValueInfo, inits ...*onnx.Tensor) *onnx.Model {
	g := &onnx.Graph{Name: "t", Nodes: nodes, Inputs: []*onnx.ValueInfo{x}, Outputs: outs, Initializers: map[string]*onnx.Tensor{}}
	for _, t := range inits {
		g.Initializers[t.Name] = t
	}
	g.Reindex()
	return &onnx.Model{IRVersion: 5, Opsets: map[string]int64{"": v}, Graph: g}
}

// named gives t a name.
func named(name string, t *onnx.Tensor) *onnx.Tensor { t.Name = name; return t }

// randomInput is a float32 tensor of normal values; odd values stay away
// from the .5 boundaries that nearest rounding could tip.
func randomInput(shape ...int) *onnx.Tensor {
	r := rand.New(rand.NewPCG(1, uint64(len(shape))))
	d := make([]float32, onnx.NumElems(shape))
	for i := range d {
		d[i] = float32(r.NormFloat64())
	}
	return onnx.NewTensor(shape, d)
}

// TestUpgradeMatchesOldOperators runs each old operator form in ONNX
// Runtime, which implements the old versions itself, against its converted
// form in ONNX Runtime and, where sim has the operator, in sim.
func TestUpgradeMatchesOldOperators(t *testing.T) {
	testfixture.RequireORT(t)
	x := vi("x", onnx.Float, 2, 3, 4, 5)
	y := []*onnx.ValueInfo{vi("y", onnx.Float)}
	one := func(v int64, n *onnx.Node, inits ...*onnx.Tensor) *onnx.Model {
		return tinyModel(v, x, []*onnx.Node{n}, y, inits...)
	}
	unary := func(op string, attrs map[string]any) *onnx.Node {
		return node(op, "n", []string{"x"}, []string{"y"}, attrs)
	}
	resize := func(v int64, op, mode string, scales ...float32) *onnx.Model {
		s := named("s", onnx.NewTensor([]int{4}, scales))
		return one(v, node(op, "n", []string{"x", "s"}, []string{"y"}, map[string]any{"mode": mode}), s)
	}
	chw := func(name string, vals ...float32) *onnx.Tensor { return named(name, onnx.NewTensor([]int{3}, vals)) }
	cases := []struct {
		name string
		m    *onnx.Model
	}{
		{"Clip-6 min and max", one(7, unary("Clip", map[string]any{"min": float32(-0.5), "max": float32(0.75)}))},
		{"Clip-6 min", one(9, unary("Clip", map[string]any{"min": float32(0.25)}))},
		{"Clip-6 max", one(10, unary("Clip", map[string]any{"max": float32(0)}))},
		{"Clip-6 no bounds", one(9, unary("Clip", nil))},
		{"Slice-1 with axes", one(9, unary("Slice", map[string]any{"starts": []int64{1, -3}, "ends": []int64{-1, math.MaxInt64}, "axes": []int64{1, 3}}))},
		{"Slice-1 without axes", one(7, unary("Slice", map[string]any{"starts": []int64{1, 0, 1}, "ends": []int64{2, 100, -2}}))},
		{"Pad-2 constant value", one(7, unary("Pad", map[string]any{"pads": []int64{0, 1, 2, 0, 0, 0, 1, 3}, "value": float32(1.5)}))},
		{"Pad-2 constant zero", one(10, unary("Pad", map[string]any{"pads": []int64{0, 0, 1, 1, 0, 0, 1, 1}}))},
		{"Pad-2 edge", one(9, unary("Pad", map[string]any{"mode": "edge", "pads": []int64{0, 0, 2, 1, 0, 0, 1, 2}, "value": float32(7)}))},
		{"Pad-2 reflect", one(8, unary("Pad", map[string]any{"mode": "reflect", "pads": []int64{0, 0, 2, 3, 0, 0, 1, 3}}))},
		{"TopK-1", tinyModel(9, x, []*onnx.Node{node("TopK", "n", []string{"x"}, []string{"y", "i"}, map[string]any{"k": int64(3), "axis": int64(2)})},
			[]*onnx.ValueInfo{vi("y", onnx.Float), vi("i", onnx.Int64)})},
		{"Upsample-7 nearest", one(7, unary("Upsample", map[string]any{"mode": "nearest", "scales": []float32{1, 1, 2, 3}}))},
		{"Upsample-7 nearest fractional", one(8, unary("Upsample", map[string]any{"scales": []float32{1, 1, 1.5, 2.5}}))},
		{"Upsample-7 linear", one(7, unary("Upsample", map[string]any{"mode": "linear", "scales": []float32{1, 1, 2, 2}}))},
		{"Upsample-7 linear fractional", one(8, unary("Upsample", map[string]any{"mode": "linear", "scales": []float32{1, 1, 1.5, 2.5}}))},
		{"Upsample-9 nearest", resize(9, "Upsample", "nearest", 1, 1, 3, 2)},
		{"Upsample-9 linear", resize(9, "Upsample", "linear", 1, 1, 2.5, 3)},
		{"Resize-10 nearest up", resize(10, "Resize", "nearest", 1, 1, 2, 1.5)},
		{"Resize-10 nearest down", resize(10, "Resize", "nearest", 1, 1, 0.6, 0.5)},
		{"Resize-10 linear up", resize(10, "Resize", "linear", 1, 1, 1.5, 3)},
		{"Resize-10 linear down", resize(10, "Resize", "linear", 1, 1, 0.5, 0.75)},
		{"BatchNormalization-7 spatial", one(7, node("BatchNormalization", "n", []string{"x", "sc", "b", "m", "v"}, []string{"y"}, map[string]any{"spatial": int64(1), "epsilon": float32(1e-3)}),
			chw("sc", 0.5, 1, 2), chw("b", 0.1, -0.2, 0.3), chw("m", 0.2, 0, -0.1), chw("v", 1, 0.5, 2))},
		{"Dropout-7 ratio", one(7, unary("Dropout", map[string]any{"ratio": float32(0.3)}))},
		{"Scatter-9", one(9, node("Scatter", "n", []string{"x", "idx", "upd"}, []string{"y"}, map[string]any{"axis": int64(3)}),
			named("idx", onnx.NewTensor([]int{2, 3, 4, 2}, []int64{4, 0, 1, 3, 2, 2, 0, 4, 3, 1, 1, 0, 2, 4, 0, 3, 1, 1, 4, 2, 0, 0, 3, 4, 2, 1, 1, 3, 4, 0, 0, 2, 3, 3, 1, 4, 2, 0, 0, 1, 4, 4, 3, 2, 1, 0, 2, 3})),
			named("upd", randomInput(2, 3, 4, 2)))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			up, err := opset.Upgrade(c.m, opset.Target)
			if err != nil {
				t.Fatal(err)
			}
			checkOpset11Form(t, c.m, up)
			up = reload(t, up)
			in := map[string]*onnx.Tensor{"x": randomInput(2, 3, 4, 5)}
			want := runORT(t, c.m, in)
			if err := compareOutputs(runORT(t, up, in), want, 1e-6, 1e-6); err != nil {
				t.Errorf("ONNX Runtime, converted vs original: %v", err)
			}
			if simRuns(up) {
				if err := compareOutputs(runSim(t, up, in), want, 1e-5, 1e-6); err != nil {
					t.Errorf("sim, converted vs original in ONNX Runtime: %v", err)
				}
			}
			if simRuns(c.m) {
				if err := compareOutputs(runSim(t, c.m, in), want, 1e-5, 1e-6); err != nil {
					t.Errorf("sim, original vs original in ONNX Runtime: %v", err)
				}
			}
		})
	}
}
