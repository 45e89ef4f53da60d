package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"amq/internal/testfixture"
	"amq/onnx"
)

// residualSpec is a Conv whose output TestConvResidualFusesExactly adds a
// shortcut to, shaped to take one of the float convolution's paths.
type residualSpec struct {
	name                string
	batch, c, m, group  int
	in, k, s, pads      []int // pads: both ends of each spatial axis
	swapped, broadcasts bool  // the swapped product; a [1, m, 1, 1] shortcut
	// chunkBytes and runBytes, when not 0, replace convChunkBytes and
	// shortcutRunBytes: small layers in many tiles, gathered in runs.
	chunkBytes, runBytes int
}

var residualSpecs = []residualSpec{
	{name: "implicit", batch: 1, c: 8, m: 16, group: 1, in: []int{20, 20}, k: []int{3, 3}, s: []int{1, 1}, pads: []int{1, 1}},
	{name: "implicit chunks", batch: 2, c: 8, m: 16, group: 1, in: []int{30, 30}, k: []int{3, 3}, s: []int{1, 1}, pads: []int{1, 1}, chunkBytes: 16 << 10},
	{name: "implicit chunks in runs", batch: 1, c: 8, m: 16, group: 1, in: []int{30, 30}, k: []int{3, 3}, s: []int{1, 1}, pads: []int{1, 1}, chunkBytes: 16 << 10, runBytes: 20 << 10},
	{name: "implicit deep", batch: 1, c: 32, m: 16, group: 1, in: []int{12, 13}, k: []int{3, 3}, s: []int{1, 1}, pads: []int{1, 1}},
	{name: "pointwise deep", batch: 1, c: 300, m: 24, group: 1, in: []int{9, 7}, k: []int{1, 1}, s: []int{1, 1}, pads: []int{0, 0}},
	{name: "implicit bands", batch: 1, c: 16, m: 48, group: 1, in: []int{30, 30}, k: []int{3, 3}, s: []int{1, 1}, pads: []int{1, 1}},
	{name: "implicit strided", batch: 1, c: 4, m: 8, group: 1, in: []int{23, 21}, k: []int{3, 3}, s: []int{2, 2}, pads: []int{1, 1}},
	{name: "merged strided", batch: 2, c: 4, m: 8, group: 1, in: []int{23, 21}, k: []int{3, 3}, s: []int{2, 2}, pads: []int{1, 1}},
	{name: "merged", batch: 3, c: 8, m: 16, group: 1, in: []int{9, 9}, k: []int{3, 3}, s: []int{1, 1}, pads: []int{1, 1}},
	{name: "pointwise", batch: 2, c: 8, m: 16, group: 1, in: []int{24, 24}, k: []int{1, 1}, s: []int{1, 1}, pads: []int{0, 0}},
	{name: "strided 1x1", batch: 1, c: 8, m: 16, group: 1, in: []int{30, 30}, k: []int{1, 1}, s: []int{2, 2}, pads: []int{0, 0}},
	{name: "merged strided 1x1", batch: 2, c: 8, m: 16, group: 1, in: []int{14, 14}, k: []int{1, 1}, s: []int{2, 2}, pads: []int{0, 0}},
	{name: "swapped", batch: 2, c: 8, m: 40, group: 1, in: []int{7, 7}, k: []int{3, 3}, s: []int{1, 1}, pads: []int{1, 1}, swapped: true},
	{name: "grouped", batch: 2, c: 8, m: 12, group: 2, in: []int{11, 13}, k: []int{3, 3}, s: []int{1, 1}, pads: []int{1, 1}},
	{name: "depthwise", batch: 2, c: 6, m: 6, group: 6, in: []int{12, 12}, k: []int{3, 3}, s: []int{1, 1}, pads: []int{1, 1}},
	{name: "depthwise strided", batch: 1, c: 6, m: 6, group: 6, in: []int{12, 12}, k: []int{3, 3}, s: []int{2, 2}, pads: []int{1, 1}},
	{name: "3-D", batch: 1, c: 3, m: 5, group: 1, in: []int{4, 5, 6}, k: []int{3, 3, 3}, s: []int{1, 1, 1}, pads: []int{1, 1, 1}},
	{name: "broadcast shortcut", batch: 1, c: 8, m: 16, group: 1, in: []int{10, 10}, k: []int{3, 3}, s: []int{1, 1}, pads: []int{1, 1}, broadcasts: true},
}

// outShape is the Conv's output shape.
func (sp residualSpec) outShape() []int {
	out := []int{sp.batch, sp.m}
	for i, n := range sp.in {
		out = append(out, (n+2*sp.pads[i]-sp.k[i])/sp.s[i]+1)
	}
	return out
}

// residualModel is Conv(x) + Mul(u, 1.5) (in either operand order), then
// a Relu or not, with the Mul's step before the Conv's or after it.
func residualModel(r *rand.Rand, sp residualSpec, shortcutFirst, relu, after bool) *onnx.Model {
	conv := &onnx.Node{Name: "conv", OpType: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"c"}}
	conv.SetAttr("group", int64(sp.group))
	conv.SetAttr("kernel_shape", ints64(sp.k))
	conv.SetAttr("pads", ints64(append(slices.Clone(sp.pads), sp.pads...)))
	conv.SetAttr("strides", ints64(sp.s))
	mul := &onnx.Node{Name: "mul", OpType: "Mul", Inputs: []string{"u", "k"}, Outputs: []string{"s"}}
	add := &onnx.Node{Name: "add", OpType: "Add", Inputs: []string{"c", "s"}, Outputs: []string{"a"}}
	if shortcutFirst {
		add.Inputs = []string{"s", "c"}
	}
	nodes := []*onnx.Node{mul, conv, add}
	if after {
		nodes = []*onnx.Node{conv, mul, add}
	}
	if relu {
		nodes = append(nodes, &onnx.Node{Name: "relu", OpType: "Relu", Inputs: []string{"a"}, Outputs: []string{"y"}})
	} else {
		add.Outputs[0] = "y"
	}
	taps := onnx.NumElems(sp.k)
	wshape := append([]int{sp.m, sp.c / sp.group}, sp.k...)
	g := &onnx.Graph{
		Nodes: nodes,
		Initializers: map[string]*onnx.Tensor{
			"w": onnx.NewTensor(wshape, randFloats(r, sp.m*sp.c/sp.group*taps)),
			"b": onnx.NewTensor([]int{sp.m}, randFloats(r, sp.m)),
			"k": onnx.NewTensor(nil, []float32{1.5}),
		},
		Inputs:  []*onnx.ValueInfo{{Name: "x", DType: onnx.Float}, {Name: "u", DType: onnx.Float}},
		Outputs: []*onnx.ValueInfo{{Name: "y", DType: onnx.Float}},
	}
	return &onnx.Model{Opsets: map[string]int64{"": 13}, Graph: g}
}

// TestConvResidualFusesExactly: a Conv followed by a residual Add of a
// tensor computed before it (either operand order), and a Relu or not,
// runs as one step on every path of the float convolution (implicit,
// im2col, merged batch, swapped product, depthwise, 3-D), with one and two
// threads, giving the bits of the nodes run one by one: those of a run
// that fetches the Conv's output, or watches it (either stops the
// fusion), and of the sum computed here from the fetched output. With the
// shortcut computed after the Conv, the Conv cannot fuse the Add; a
// shortcut that broadcasts takes the nodes in turn.
func TestConvResidualFusesExactly(t *testing.T) {
	saved, savedChunk, savedRun, savedTile := convSwapMinGain, convChunkBytes, shortcutRunBytes, shortcutTileBytes
	defer func() {
		convSwapMinGain, convChunkBytes, shortcutRunBytes, shortcutTileBytes = saved, savedChunk, savedRun, savedTile
	}()
	r := rand.New(rand.NewPCG(31, 31))
	for _, sp := range residualSpecs {
		convSwapMinGain = math.Inf(1)
		if sp.swapped {
			convSwapMinGain = 0
		}
		convChunkBytes, shortcutRunBytes = savedChunk, savedRun
		if sp.chunkBytes > 0 {
			convChunkBytes = sp.chunkBytes
		}
		if sp.runBytes > 0 {
			shortcutRunBytes = sp.runBytes
		}
		for _, after := range []bool{false, true} {
			for _, shortcutFirst := range []bool{false, true} {
				for _, relu := range []bool{false, true} {
					for _, threads := range []int{1, 2} {
						// Tile by tile, and in one pass after the Conv.
						for _, tileBytes := range []int{savedTile, 0} {
							shortcutTileBytes = tileBytes
							name := fmt.Sprintf("%s after %v shortcut first %v relu %v threads %d tile bytes %d", sp.name, after, shortcutFirst, relu, threads, tileBytes)
							testConvResidual(t, r, name, sp, shortcutFirst, relu, after, threads)
						}
					}
				}
			}
		}
	}
}

// testConvResidual is one case of TestConvResidualFusesExactly.
func testConvResidual(t *testing.T, r *rand.Rand, name string, sp residualSpec, shortcutFirst, relu, after bool, threads int) {
	s, err := NewSession(residualModel(r, sp, shortcutFirst, relu, after), &Options{Threads: threads})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	convStep := 1
	if after {
		convStep = 0
	}
	st := s.steps[convStep]
	wantFused := 1 + btoi(relu)
	if after {
		wantFused = 0
	}
	if len(st.fusedWith) != wantFused || after != (st.extra == nil) {
		t.Fatalf("%s: the Conv fuses %d nodes reading %v, want %d", name, len(st.fusedWith), st.extra, wantFused)
	}
	xshape := append([]int{sp.batch, sp.c}, sp.in...)
	ushape := sp.outShape()
	if sp.broadcasts {
		ushape = []int{1, sp.m, 1, 1}
	}
	in := map[string]*onnx.Tensor{
		"x": onnx.NewTensor(xshape, randFloats(r, onnx.NumElems(xshape))),
		"u": onnx.NewTensor(ushape, randFloats(r, onnx.NumElems(ushape))),
	}
	for range 2 { // the second run reuses the arena's buffers
		got, err := s.Run(in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want, err := s.Run(in, "c", "s")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		y := got["y"].Floats()
		if i := sameBits(y, want["y"].Floats()); i >= 0 || len(y) != want["y"].Len() {
			t.Fatalf("%s: y[%d] differs fused", name, i)
		}
		var watched []float32
		observed, err := s.RunObserved(in, []string{"c"}, func(_ string, t *onnx.Tensor) error {
			watched = slices.Clone(t.Floats())
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if i := sameBits(observed["y"].Floats(), y); i >= 0 {
			t.Fatalf("%s: y[%d] differs with the Conv's output watched", name, i)
		}
		c, sc := want["c"].Floats(), want["s"].Floats()
		if i := sameBits(watched, c); i >= 0 || len(watched) != len(c) {
			t.Fatalf("%s: the watched Conv output differs at %d", name, i)
		}
		for i, v := range c {
			u := sc[i%len(sc)]
			if sp.broadcasts {
				u = sc[i/(len(c)/sp.batch/sp.m)%sp.m]
			}
			v += u
			if relu {
				v = max(v, 0)
			}
			if math.Float32bits(v) != math.Float32bits(y[i]) {
				t.Fatalf("%s: y[%d] = %g, want %g", name, i, y[i], v)
			}
		}
	}
}

// TestConvResidualInt8RunsInTurn: the int8 Conv of a deploy model followed
// by a residual Add of an int32 tensor and a Relu takes the fused step,
// which runs the nodes in turn: the exact int32 sums.
func TestConvResidualInt8RunsInTurn(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(33, 33))
	q := &onnx.Node{Name: "quant", OpType: "AscendQuant", Inputs: []string{"xf"}, Outputs: []string{"x"}}
	q.SetAttr("scale", float32(40))
	q.SetAttr("offset", float32(-9))
	q.SetAttr("round_mode", "Round")
	conv := &onnx.Node{Name: "conv", OpType: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"c"}}
	conv.SetAttr("pads", []int64{1, 1, 1, 1})
	m := &onnx.Model{Opsets: map[string]int64{"": 11}, Graph: &onnx.Graph{
		Nodes: []*onnx.Node{q, conv,
			{Name: "add", OpType: "Add", Inputs: []string{"s", "c"}, Outputs: []string{"a"}},
			{Name: "relu", OpType: "Relu", Inputs: []string{"a"}, Outputs: []string{"y"}},
		},
		Inputs:  []*onnx.ValueInfo{{Name: "xf", DType: onnx.Float}, {Name: "s", DType: onnx.Int32}},
		Outputs: []*onnx.ValueInfo{{Name: "y"}},
		Initializers: map[string]*onnx.Tensor{
			"w": onnx.NewTensor([]int{4, 3, 3, 3}, randInt8(r, 4*3*9)),
			"b": onnx.NewTensor([]int{4}, randInt32(r, 4, 5000)),
		},
	}}
	s, err := NewSession(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := s.steps[1]; len(st.fusedWith) != 2 || !slices.Equal(st.extra, []string{"s"}) {
		t.Fatalf("the Conv fuses %d nodes reading %v, want 2 reading s", len(st.fusedWith), st.extra)
	}
	in := map[string]*onnx.Tensor{
		"xf": onnx.NewTensor([]int{2, 3, 6, 5}, randFloats(r, 2*3*6*5)),
		"s":  onnx.NewTensor([]int{2, 4, 6, 5}, randInt32(r, 2*4*6*5, 20000)),
	}
	got, err := s.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.Run(in, "c")
	if err != nil {
		t.Fatal(err)
	}
	y, c, sc := got["y"].Data.([]int32), want["c"].Data.([]int32), in["s"].Data.([]int32)
	if !slices.Equal(y, want["y"].Data.([]int32)) || len(y) != len(c) {
		t.Fatal("the fused step differs from the nodes run one by one")
	}
	for i, v := range c {
		if w := max(sc[i]+v, 0); y[i] != w {
			t.Fatalf("y[%d] = %d, want %d", i, y[i], w)
		}
	}
}

// TestResNetFixtureFusesResidualsExactly: the exported PyTorch ResNet
// fixture's three residual Adds and their Relus fuse into a Conv each
// (the second Conv of the block, or the downsampling one, which comes
// after it), and its output keeps the bits of the run that fetches the
// Convs' outputs and so takes none of them.
func TestResNetFixtureFusesResidualsExactly(t *testing.T) {
	t.Parallel()
	f := testfixture.Named(t, "resnet/model_op13")
	m, in := f.Load(t), f.Input(t)
	for _, threads := range []int{1, 2} {
		s, err := NewSession(m, &Options{Threads: threads})
		if err != nil {
			t.Fatal(err)
		}
		var convs []string
		for _, st := range s.steps {
			if st.extra != nil && st.node.OpType == "Conv" && len(st.fusedWith) == 2 &&
				s.steps[st.fusedWith[0]].node.OpType == "Add" && s.steps[st.fusedWith[1]].node.OpType == "Relu" {
				convs = append(convs, st.node.Outputs[0])
			}
		}
		if len(convs) != 3 {
			t.Fatalf("%d Convs fuse a residual Add and Relu, want 3", len(convs))
		}
		inputs := map[string]*onnx.Tensor{s.Inputs()[0].Name: in}
		got, err := s.Run(inputs)
		if err != nil {
			t.Fatal(err)
		}
		want, err := s.Run(inputs, convs...)
		if err != nil {
			t.Fatal(err)
		}
		out := s.Outputs()[0]
		if i := sameBits(got[out].Floats(), want[out].Floats()); i >= 0 {
			t.Fatalf("threads %d: output %d differs fused", threads, i)
		}
	}
}

// TestShortcutRunAddsOnlyItsTiles: a shortcutRun adds the shortcut to the
// tiles it was given and nothing else, whether they continue one another
// (gathered), leave a gap, change rows, or exceed its bound.
func TestShortcutRunAddsOnlyItsTiles(t *testing.T) {
	const outN, rows = 20, 4
	saved := shortcutRunBytes
	defer func() { shortcutRunBytes = saved }()
	shortcutRunBytes = 2 * 12 * 4 // two rows of twelve columns
	sc := make([]float32, rows*outN)
	for i := range sc {
		sc[i] = float32(i + 1)
	}
	y := make([]float32, rows*outN)
	cn := &convNode{res: &convShortcut{add: sc}}
	run := shortcutRun{cn: cn, y: y, outN: outN}
	type tile struct{ r0, rows, p0, p1 int }
	// Each case flushes for one reason only: a gap, other first rows
	// with a continuing column, the bound (which changes no value), fewer
	// rows.
	tiles := []tile{{0, 2, 0, 3}, {0, 2, 3, 5}, {0, 2, 7, 9}, {0, 2, 9, 12}, {2, 2, 0, 8}, {2, 2, 8, 14}, {2, 1, 14, 16}, {3, 1, 16, 20}}
	want := make([]float32, rows*outN)
	for _, tl := range tiles {
		run.add(tl.r0, tl.rows, tl.p0, tl.p1)
		for r := tl.r0; r < tl.r0+tl.rows; r++ {
			for p := tl.p0; p < tl.p1; p++ {
				want[r*outN+p] += sc[r*outN+p]
			}
		}
	}
	run.flush()
	run.flush() // nothing left
	if !slices.Equal(y, want) {
		t.Fatalf("y = %v, want %v", y, want)
	}
}

// TestConvResidualKeepsFloat16Rounding: in a graph that casts to float16
// inside (so not a float16 graph by its inputs and initializers), a Conv
// of float16 tensors rounds its output to float16 before the residual
// Add, so the fused step takes the nodes in turn: the bits of the run that
// fetches the Conv's output.
func TestConvResidualKeepsFloat16Rounding(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(35, 35))
	cast := func(in, out string) *onnx.Node {
		n := &onnx.Node{Name: "cast_" + in, OpType: "Cast", Inputs: []string{in}, Outputs: []string{out}}
		n.SetAttr("to", int64(onnx.Float16))
		return n
	}
	conv := &onnx.Node{Name: "conv", OpType: "Conv", Inputs: []string{"xh", "wh"}, Outputs: []string{"c"}}
	conv.SetAttr("pads", []int64{1, 1, 1, 1})
	m := &onnx.Model{Opsets: map[string]int64{"": 13}, Graph: &onnx.Graph{
		Nodes: []*onnx.Node{cast("x", "xh"), cast("w", "wh"), cast("u", "s"), conv,
			{Name: "add", OpType: "Add", Inputs: []string{"c", "s"}, Outputs: []string{"a"}},
			{Name: "relu", OpType: "Relu", Inputs: []string{"a"}, Outputs: []string{"y"}},
		},
		Inputs:       []*onnx.ValueInfo{{Name: "x", DType: onnx.Float}, {Name: "u", DType: onnx.Float}},
		Outputs:      []*onnx.ValueInfo{{Name: "y"}},
		Initializers: map[string]*onnx.Tensor{"w": onnx.NewTensor([]int{8, 8, 3, 3}, randFloats(r, 8*8*9))},
	}}
	s, err := NewSession(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := s.steps[3]; len(st.fusedWith) != 2 {
		t.Fatalf("the Conv fuses %d nodes, want 2", len(st.fusedWith))
	}
	in := map[string]*onnx.Tensor{
		"x": onnx.NewTensor([]int{1, 8, 9, 9}, randFloats(r, 8*81)),
		"u": onnx.NewTensor([]int{1, 8, 9, 9}, randFloats(r, 8*81)),
	}
	got, err := s.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.Run(in, "c")
	if err != nil {
		t.Fatal(err)
	}
	if got["y"].DType != onnx.Float16 {
		t.Fatalf("y is %v, want FLOAT16", got["y"].DType)
	}
	// Float16 tensors are held as float32 values rounded to float16.
	if i := sameBits(got["y"].Data.([]float32), want["y"].Data.([]float32)); i >= 0 {
		t.Fatalf("y[%d] differs fused", i)
	}
}
