package sim

import (
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"

	"amq/onnx"
)

// shpModel builds a one-node model at the given opset whose inputs are the
// named tensors; names listed in consts become initializers.
func shpModel(opset int64, n *onnx.Node, inputs map[string]*onnx.Tensor, consts ...string) *onnx.Model {
	g := &onnx.Graph{Nodes: []*onnx.Node{n}, Initializers: map[string]*onnx.Tensor{}}
	isConst := map[string]bool{}
	for _, c := range consts {
		isConst[c] = true
	}
	for _, name := range n.Inputs {
		t, ok := inputs[name]
		if name == "" || !ok {
			continue
		}
		if isConst[name] {
			c := *t
			c.Name = name
			g.Initializers[name] = &c
		} else if g.Input(name) == nil {
			g.Inputs = append(g.Inputs, &onnx.ValueInfo{Name: name, DType: t.DType})
		}
	}
	for _, o := range n.Outputs {
		if o != "" {
			g.Outputs = append(g.Outputs, &onnx.ValueInfo{Name: o})
		}
	}
	g.Reindex()
	return &onnx.Model{Opsets: map[string]int64{"": opset}, Graph: g}
}

// shpRun runs n once and returns its outputs in order.
func shpRun(t *testing.T, opset int64, n *onnx.Node, inputs map[string]*onnx.Tensor, consts ...string) ([]*onnx.Tensor, error) {
	t.Helper()
	m := shpModel(opset, n, inputs, consts...)
	s, err := NewSession(m, &Options{Threads: 2})
	if err != nil {
		return nil, err
	}
	feed := map[string]*onnx.Tensor{}
	for _, in := range m.Graph.Inputs {
		feed[in.Name] = inputs[in.Name]
	}
	res, err := s.Run(feed)
	if err != nil {
		return nil, err
	}
	var outs []*onnx.Tensor
	for _, o := range n.Outputs {
		outs = append(outs, res[o])
	}
	return outs, nil
}

func shpNode(op string, in, out []string, attrs map[string]any) *onnx.Node {
	n := &onnx.Node{Name: "node_" + op, OpType: op, Inputs: in, Outputs: out}
	for k, v := range attrs {
		n.SetAttr(k, v)
	}
	return n
}

func shpSeq(n int) []float32 {
	d := make([]float32, n)
	for i := range d {
		d[i] = float32(i)
	}
	return d
}

func shpInts(v ...int64) *onnx.Tensor { return onnx.NewTensor([]int{len(v)}, v) }

func shpCheck(t *testing.T, what string, got *onnx.Tensor, shape []int, data any) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: no output", what)
	}
	if !reflect.DeepEqual(append([]int{}, got.Shape...), append([]int{}, shape...)) {
		t.Errorf("%s: shape %v, want %v", what, got.Shape, shape)
	}
	if !reflect.DeepEqual(got.Data, data) {
		t.Errorf("%s: data %v, want %v", what, got.Data, data)
	}
}

// TestSliceIndexRules walks a 1-D tensor 0..9 with the clamping rules of
// the ONNX specification; expectations are Python's list slicing, which
// the rules reproduce.
func TestSliceIndexRules(t *testing.T) {
	t.Parallel()
	x := onnx.NewTensor([]int{10}, shpSeq(10))
	cases := []struct {
		start, end, step int64
		want             []float32
	}{
		{2, 7, 1, []float32{2, 3, 4, 5, 6}},                                         // x[2:7]
		{-3, 100, 1, []float32{7, 8, 9}},                                            // x[-3:]
		{8, 2, -2, []float32{8, 6, 4}},                                              // x[8:2:-2]
		{100, -100, -3, []float32{9, 6, 3, 0}},                                      // x[::-3]
		{math.MaxInt64, math.MinInt64, -1, []float32{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}}, // x[::-1]
		{5, 5, 1, []float32{}},                                                      // empty
		{-100, 3, 1, []float32{0, 1, 2}},                                            // clamped start
		{1, 9, 100, []float32{1}},                                                   // huge step
	}
	for _, c := range cases {
		n := shpNode("Slice", []string{"x", "s", "e", "a", "st"}, []string{"y"}, nil)
		out, err := shpRun(t, 13, n, map[string]*onnx.Tensor{"x": x, "s": shpInts(c.start), "e": shpInts(c.end), "a": shpInts(0), "st": shpInts(c.step)})
		if err != nil {
			t.Fatalf("slice %d:%d:%d: %v", c.start, c.end, c.step, err)
		}
		shpCheck(t, "slice", out[0], []int{len(c.want)}, c.want)
	}
	// 2-D, negative axis, default steps: x[:, 1:3] of a 3x4 matrix.
	m := onnx.NewTensor([]int{3, 4}, shpSeq(12))
	n := shpNode("Slice", []string{"x", "s", "e", "a"}, []string{"y"}, nil)
	out, err := shpRun(t, 11, n, map[string]*onnx.Tensor{"x": m, "s": shpInts(1), "e": shpInts(3), "a": shpInts(-1)})
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "slice 2-D", out[0], []int{3, 2}, []float32{1, 2, 5, 6, 9, 10})
	if _, err := shpRun(t, 13, shpNode("Slice", []string{"x", "s", "e", "a", "st"}, []string{"y"}, nil),
		map[string]*onnx.Tensor{"x": x, "s": shpInts(0), "e": shpInts(3), "a": shpInts(0), "st": shpInts(0)}); err == nil || !strings.Contains(err.Error(), "step 0") {
		t.Errorf("step 0: error %v", err)
	}
}

func TestReshapeZeroAndInferred(t *testing.T) {
	t.Parallel()
	x := onnx.NewTensor([]int{2, 3, 4}, shpSeq(24))
	n := shpNode("Reshape", []string{"x", "s"}, []string{"y"}, nil)
	out, err := shpRun(t, 13, n, map[string]*onnx.Tensor{"x": x, "s": shpInts(0, -1)}, "s")
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "reshape [0,-1]", out[0], []int{2, 12}, shpSeq(24))
	// allowzero: 0 is a real zero, so [0, 4] cannot hold 24 elements.
	n = shpNode("Reshape", []string{"x", "s"}, []string{"y"}, map[string]any{"allowzero": int64(1)})
	if _, err := shpRun(t, 14, n, map[string]*onnx.Tensor{"x": x, "s": shpInts(0, 4)}); err == nil {
		t.Error("allowzero reshape of 24 elements to [0 4] accepted")
	}
	empty := onnx.NewTensor([]int{0, 3}, []float32{})
	out, err = shpRun(t, 14, n, map[string]*onnx.Tensor{"x": empty, "s": shpInts(3, 0)})
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "allowzero", out[0], []int{3, 0}, []float32{})
}

func TestTransposeGeneric(t *testing.T) {
	t.Parallel()
	// Same permutation on int8 and bool data: y[i,j,k] = x[k,i,j] for x of shape [2,3,4].
	x8 := make([]int8, 24)
	xb := make([]bool, 24)
	for i := range x8 {
		x8[i] = int8(i)
		xb[i] = i%3 == 0
	}
	want8 := make([]int8, 24)
	wantb := make([]bool, 24)
	for i := range 3 {
		for j := range 4 {
			for k := range 2 {
				want8[(i*4+j)*2+k] = x8[(k*3+i)*4+j]
				wantb[(i*4+j)*2+k] = xb[(k*3+i)*4+j]
			}
		}
	}
	n := shpNode("Transpose", []string{"x"}, []string{"y"}, map[string]any{"perm": []int64{1, 2, 0}})
	out, err := shpRun(t, 13, n, map[string]*onnx.Tensor{"x": onnx.NewTensor([]int{2, 3, 4}, x8)})
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "int8", out[0], []int{3, 4, 2}, want8)
	out, err = shpRun(t, 13, n, map[string]*onnx.Tensor{"x": onnx.NewTensor([]int{2, 3, 4}, xb)})
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "bool", out[0], []int{3, 4, 2}, wantb)
}

func TestSplitOpsets(t *testing.T) {
	t.Parallel()
	x := onnx.NewTensor([]int{2, 5}, shpSeq(10))
	// Opset 11: split attribute.
	n := shpNode("Split", []string{"x"}, []string{"a", "b"}, map[string]any{"axis": int64(1), "split": []int64{2, 3}})
	out, err := shpRun(t, 11, n, map[string]*onnx.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "split attr a", out[0], []int{2, 2}, []float32{0, 1, 5, 6})
	shpCheck(t, "split attr b", out[1], []int{2, 3}, []float32{2, 3, 4, 7, 8, 9})
	// Opset 13: the attribute is gone, split is an input.
	if _, err := shpRun(t, 13, n, map[string]*onnx.Tensor{"x": x}); err == nil {
		t.Error("split attribute accepted at opset 13")
	}
	n = shpNode("Split", []string{"x", "sp"}, []string{"a", "b"}, map[string]any{"axis": int64(-1)})
	out, err = shpRun(t, 13, n, map[string]*onnx.Tensor{"x": x, "sp": shpInts(4, 1)})
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "split input b", out[1], []int{2, 1}, []float32{4, 9})
	// Opset 18: num_outputs 3 over 5 -> chunks of 2, 2, 1.
	n = shpNode("Split", []string{"x"}, []string{"a", "b", "c"}, map[string]any{"axis": int64(1), "num_outputs": int64(3)})
	out, err = shpRun(t, 18, n, map[string]*onnx.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "num_outputs c", out[2], []int{2, 1}, []float32{4, 9})
	shpCheck(t, "num_outputs b", out[1], []int{2, 2}, []float32{2, 3, 7, 8})
}

func TestGatherAxisAndNegativeIndices(t *testing.T) {
	t.Parallel()
	x := onnx.NewTensor([]int{2, 3}, []int64{10, 11, 12, 20, 21, 22})
	n := shpNode("Gather", []string{"x", "i"}, []string{"y"}, map[string]any{"axis": int64(1)})
	idx := onnx.NewTensor([]int{2, 2}, []int32{-1, 0, 1, -3})
	out, err := shpRun(t, 13, n, map[string]*onnx.Tensor{"x": x, "i": idx})
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "gather", out[0], []int{2, 2, 2}, []int64{12, 10, 11, 10, 22, 20, 21, 20})
	bad := onnx.NewTensor([]int{1}, []int64{3})
	if _, err := shpRun(t, 13, n, map[string]*onnx.Tensor{"x": x, "i": bad}); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("index 3 on an axis of 3: error %v", err)
	}
}

func TestSqueezeUnsqueezeOpsets(t *testing.T) {
	t.Parallel()
	x := onnx.NewTensor([]int{3, 1, 2}, shpSeq(6))
	out, err := shpRun(t, 11, shpNode("Unsqueeze", []string{"x"}, []string{"y"}, map[string]any{"axes": []int64{0, -1}}), map[string]*onnx.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "unsqueeze 11", out[0], []int{1, 3, 1, 2, 1}, shpSeq(6))
	out, err = shpRun(t, 13, shpNode("Unsqueeze", []string{"x", "a"}, []string{"y"}, nil), map[string]*onnx.Tensor{"x": x, "a": shpInts(3)})
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "unsqueeze 13", out[0], []int{3, 1, 2, 1}, shpSeq(6))
	out, err = shpRun(t, 13, shpNode("Squeeze", []string{"x"}, []string{"y"}, nil), map[string]*onnx.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "squeeze all", out[0], []int{3, 2}, shpSeq(6))
	if _, err := shpRun(t, 13, shpNode("Squeeze", []string{"x", "a"}, []string{"y"}, nil), map[string]*onnx.Tensor{"x": x, "a": shpInts(0)}); err == nil {
		t.Error("squeezing an axis of size 3 accepted")
	}
}

func TestPadModes(t *testing.T) {
	t.Parallel()
	x := onnx.NewTensor([]int{1, 3}, []int32{1, 2, 3})
	run := func(mode string, pads ...int64) (*onnx.Tensor, error) {
		n := shpNode("Pad", []string{"x", "p", "v"}, []string{"y"}, map[string]any{"mode": mode})
		in := map[string]*onnx.Tensor{"x": x, "p": shpInts(pads...), "v": onnx.NewTensor([]int{}, []int32{9})}
		out, err := shpRun(t, 13, n, in)
		if err != nil {
			return nil, err
		}
		return out[0], nil
	}
	y, err := run("constant", 0, 2, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "constant", y, []int{2, 6}, []int32{9, 9, 1, 2, 3, 9, 9, 9, 9, 9, 9, 9})
	// numpy.pad([1,2,3], (3,4), "reflect") = [2 3 2 1 2 3 2 1 2 3]
	y, err = run("reflect", 0, 3, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "reflect", y, []int{1, 10}, []int32{2, 3, 2, 1, 2, 3, 2, 1, 2, 3})
	y, err = run("edge", 0, 2, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "edge", y, []int{1, 6}, []int32{1, 1, 1, 2, 3, 3})
	// Negative pads crop: drop the first element, add one 9 at the end.
	y, err = run("constant", 0, -1, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "crop", y, []int{1, 3}, []int32{2, 3, 9})
	// Opset 18 axes input: pad only axis -1.
	n := shpNode("Pad", []string{"x", "p", "", "a"}, []string{"y"}, nil)
	out, err := shpRun(t, 18, n, map[string]*onnx.Tensor{"x": x, "p": shpInts(1, 0), "a": shpInts(-1)})
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "axes", out[0], []int{1, 4}, []int32{0, 1, 2, 3})
	if _, err := run("wrap", 0, 1, 0, 1); err == nil || !strings.Contains(err.Error(), "wrap") {
		t.Errorf("wrap: error %v", err)
	}
}

func TestCastConversions(t *testing.T) {
	t.Parallel()
	x := onnx.NewTensor([]int{6}, []float32{-2.7, -0.5, 0.5, 2.7, 100.9, 0})
	n := shpNode("Cast", []string{"x"}, []string{"y"}, map[string]any{"to": int64(onnx.Int32)})
	out, err := shpRun(t, 13, n, map[string]*onnx.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	// Truncation toward zero.
	shpCheck(t, "to int32", out[0], []int{6}, []int32{-2, 0, 0, 2, 100, 0})
	n = shpNode("Cast", []string{"x"}, []string{"y"}, map[string]any{"to": int64(onnx.Bool)})
	out, err = shpRun(t, 13, n, map[string]*onnx.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "to bool", out[0], []int{6}, []bool{true, true, true, true, true, false})
	// float16: 0.1 rounds to 0x2E66 = 1638/16384; 65520, halfway between the
	// largest half 65504 and 65536, rounds (to even) to +Inf.
	h := onnx.NewTensor([]int{2}, []float32{0.1, 65520})
	n = shpNode("Cast", []string{"x"}, []string{"y"}, map[string]any{"to": int64(onnx.Float16)})
	out, err = shpRun(t, 13, n, map[string]*onnx.Tensor{"x": h})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].DType != onnx.Float16 || out[0].Floats()[0] != float32(1638.0/16384) || !math.IsInf(float64(out[0].Floats()[1]), 1) {
		t.Errorf("to float16: %v %v", out[0].DType, out[0].Floats())
	}
	b := onnx.NewTensor([]int{3}, []bool{true, false, true})
	n = shpNode("Cast", []string{"x"}, []string{"y"}, map[string]any{"to": int64(onnx.Int64)})
	out, err = shpRun(t, 13, n, map[string]*onnx.Tensor{"x": b})
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "bool to int64", out[0], []int{3}, []int64{1, 0, 1})
}

func TestExpandTileConcatRange(t *testing.T) {
	t.Parallel()
	x := onnx.NewTensor([]int{3, 1}, []int64{1, 2, 3})
	out, err := shpRun(t, 13, shpNode("Expand", []string{"x", "s"}, []string{"y"}, nil), map[string]*onnx.Tensor{"x": x, "s": shpInts(2, 1, 2)})
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "expand", out[0], []int{2, 3, 2}, []int64{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3})
	out, err = shpRun(t, 13, shpNode("Tile", []string{"x", "r"}, []string{"y"}, nil), map[string]*onnx.Tensor{"x": x, "r": shpInts(2, 3)})
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "tile", out[0], []int{6, 3}, []int64{1, 1, 1, 2, 2, 2, 3, 3, 3, 1, 1, 1, 2, 2, 2, 3, 3, 3})
	cat := shpNode("Concat", []string{"a", "b"}, []string{"y"}, map[string]any{"axis": int64(-1)})
	out, err = shpRun(t, 13, cat, map[string]*onnx.Tensor{"a": x, "b": onnx.NewTensor([]int{3, 2}, []int64{4, 5, 6, 7, 8, 9})})
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "concat", out[0], []int{3, 3}, []int64{1, 4, 5, 2, 6, 7, 3, 8, 9})
	if _, err := shpRun(t, 13, cat, map[string]*onnx.Tensor{"a": x, "b": onnx.NewTensor([]int{2, 2}, []int64{4, 5, 6, 7})}); err == nil {
		t.Error("concat of [3 1] and [2 2] on axis 1 accepted")
	}
	rng := shpNode("Range", []string{"s", "l", "d"}, []string{"y"}, nil)
	scalar := func(v int32) *onnx.Tensor { return onnx.NewTensor([]int{}, []int32{v}) }
	out, err = shpRun(t, 13, rng, map[string]*onnx.Tensor{"s": scalar(10), "l": scalar(3), "d": scalar(-3)})
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "range", out[0], []int{3}, []int32{10, 7, 4})
}

func TestConstantsAndDropout(t *testing.T) {
	t.Parallel()
	n := shpNode("Constant", nil, []string{"y"}, map[string]any{"value_ints": []int64{3, 4}})
	out, err := shpRun(t, 13, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "value_ints", out[0], []int{2}, []int64{3, 4})
	val := onnx.NewTensor([]int{1}, []int32{7})
	n = shpNode("ConstantOfShape", []string{"s"}, []string{"y"}, map[string]any{"value": val})
	out, err = shpRun(t, 13, n, map[string]*onnx.Tensor{"s": shpInts(2, 2)})
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "constantofshape", out[0], []int{2, 2}, []int32{7, 7, 7, 7})
	x := onnx.NewTensor([]int{2}, []float32{1, 2})
	n = shpNode("Dropout", []string{"x"}, []string{"y", "mask"}, nil)
	out, err = shpRun(t, 13, n, map[string]*onnx.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	shpCheck(t, "dropout", out[0], []int{2}, []float32{1, 2})
	shpCheck(t, "mask", out[1], []int{2}, []bool{true, true})
	n = shpNode("Dropout", []string{"x", "r", "tm"}, []string{"y"}, nil)
	_, err = shpRun(t, 13, n, map[string]*onnx.Tensor{"x": x, "r": onnx.NewTensor([]int{}, []float32{0.3}), "tm": onnx.NewTensor([]int{}, []bool{true})})
	if err == nil || !strings.Contains(err.Error(), "training") {
		t.Errorf("training dropout: error %v", err)
	}
}

// TestSharedOutputsConcurrentRuns runs a session whose outputs alias
// constant data (Constant, Identity, Reshape) from several goroutines; the
// race detector checks that nothing shared is written.
func TestSharedOutputsConcurrentRuns(t *testing.T) {
	t.Parallel()
	c := shpNode("Constant", nil, []string{"c"}, map[string]any{"value": onnx.NewTensor([]int{2, 2}, []float32{1, 2, 3, 4})})
	id := shpNode("Identity", []string{"c"}, []string{"i"}, nil)
	rs := shpNode("Reshape", []string{"i", "s"}, []string{"y"}, nil)
	g := &onnx.Graph{
		Nodes:        []*onnx.Node{c, id, rs},
		Initializers: map[string]*onnx.Tensor{"s": {Name: "s", DType: onnx.Int64, Shape: []int{1}, Data: []int64{4}}},
		Outputs:      []*onnx.ValueInfo{{Name: "y"}, {Name: "i"}},
	}
	s, err := NewSession(&onnx.Model{Opsets: map[string]int64{"": 13}, Graph: g}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				res, err := s.Run(nil)
				if err != nil {
					t.Error(err)
					return
				}
				if !reflect.DeepEqual(res["y"].Shape, []int{4}) || res["y"].Name != "y" || res["i"].Name != "i" {
					t.Errorf("got %v and %v", res["y"], res["i"])
					return
				}
			}
		}()
	}
	wg.Wait()
}
