package sim

import (
	"math"
	"math/rand/v2"
	"testing"

	"amq/onnx"
)

// elementwiseChainModel is PP-LCNet's elementwise chains on x [2, 3, 40,
// 70] and per-channel s [1, 3, 1, 1]: HardSwish decomposed (Add 3, Clip
// 0..6, Mul by x, Div 6), a scalar affine step (Mul then Add, the scalar
// first), a per-channel scale then Relu, a Sub whose scalar comes first,
// GELU's Div then Erf, a scaled Sigmoid; some scalars come from a
// Constant node, as Paddle2ONNX writes them. Intermediate tensors are t0,
// t1, ...
func elementwiseChainModel(opset int64) *onnx.Model {
	nd := func(op, out string, in ...string) *onnx.Node {
		return &onnx.Node{Name: out, OpType: op, Inputs: in, Outputs: []string{out}}
	}
	six := nd("Constant", "six_c")
	six.SetAttr("value", onnx.NewTensor(nil, []float32{6}))
	g := &onnx.Graph{
		Nodes: []*onnx.Node{
			six,
			nd("Add", "t0", "x", "three"),
			nd("Clip", "t1", "t0", "zero", "six_c"),
			nd("Mul", "t2", "x", "t1"),
			nd("Div", "t3", "t2", "six"),
			nd("Mul", "t4", "scale", "t3"),
			nd("Add", "t5", "t4", "shift"),
			nd("Mul", "t6", "t5", "s"),
			nd("Relu", "t7", "t6"),
			nd("Add", "t8", "t7", "x"),
			nd("Sub", "t9", "three", "t8"),
			nd("Relu", "t10", "t9"),
			nd("Div", "t11", "t10", "six_c"),
			nd("Erf", "t12", "t11"),
			nd("Mul", "t13", "t12", "scale"),
			nd("Sigmoid", "y", "t13"),
		},
		Initializers: map[string]*onnx.Tensor{
			"three": onnx.NewTensor(nil, []float32{3}),
			"zero":  onnx.NewTensor(nil, []float32{0}),
			"six":   onnx.NewTensor(nil, []float32{6}),
			"scale": onnx.NewTensor([]int{1}, []float32{1.37}),
			"shift": onnx.NewTensor([]int{1}, []float32{-0.21}),
		},
		Inputs:  []*onnx.ValueInfo{{Name: "x", DType: onnx.Float}, {Name: "s", DType: onnx.Float}},
		Outputs: []*onnx.ValueInfo{{Name: "y", DType: onnx.Float}},
	}
	for name, t := range g.Initializers {
		t.Name = name
	}
	return &onnx.Model{Opsets: map[string]int64{"": opset}, Graph: g}
}

// TestElementwiseChainsFuseExactly: fused elementwise pairs give the bits
// of the nodes run one by one (fetching the intermediate tensors stops
// the fusion), NaN, infinities and signed zeros included, with one and
// two threads.
func TestElementwiseChainsFuseExactly(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(15, 15))
	x := vecTestValues(r, 2*3*40*70)
	for i := range x {
		x[i] *= 3
	}
	inputs := map[string]*onnx.Tensor{
		"x": onnx.NewTensor([]int{2, 3, 40, 70}, x),
		"s": onnx.NewTensor([]int{1, 3, 1, 1}, []float32{0.5, -2, float32(math.Inf(1))}),
	}
	m := elementwiseChainModel(13)
	var steps []string
	for _, n := range m.Graph.Nodes[1 : len(m.Graph.Nodes)-1] {
		steps = append(steps, n.Outputs[0])
	}
	for _, threads := range []int{1, 2} {
		s, err := NewSession(m, &Options{Threads: threads})
		if err != nil {
			t.Fatal(err)
		}
		fused := 0
		for _, st := range s.steps {
			if st.fused != nil {
				fused++
			}
		}
		if fused < 9 {
			t.Fatalf("%d nodes offer a fused form, want at least 9", fused)
		}
		for range 2 { // the second run reuses the arena's buffers
			got, err := s.Run(inputs)
			if err != nil {
				t.Fatal(err)
			}
			want, err := s.Run(inputs, steps...)
			if err != nil {
				t.Fatal(err)
			}
			g, w := got["y"].Data.([]float32), want["y"].Data.([]float32)
			if i := sameBits(g, w); i >= 0 {
				t.Fatalf("threads %d: element %d is %v fused, %v node by node", threads, i, g[i], w[i])
			}
		}
	}
}

// TestElementwiseFusionKeepsOtherTypes: a fused pair on int64 data (which
// the float32 blocks do not handle) runs the two nodes in turn.
func TestElementwiseFusionKeepsOtherTypes(t *testing.T) {
	t.Parallel()
	g := &onnx.Graph{
		Nodes: []*onnx.Node{
			{Name: "add", OpType: "Add", Inputs: []string{"x", "x"}, Outputs: []string{"t"}},
			{Name: "relu", OpType: "Relu", Inputs: []string{"t"}, Outputs: []string{"y"}},
		},
		Initializers: map[string]*onnx.Tensor{},
		Inputs:       []*onnx.ValueInfo{{Name: "x", DType: onnx.Int64}},
		Outputs:      []*onnx.ValueInfo{{Name: "y", DType: onnx.Int64}},
	}
	s, err := NewSession(&onnx.Model{Opsets: map[string]int64{"": 14}, Graph: g}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(map[string]*onnx.Tensor{"x": onnx.NewTensor([]int{4}, []int64{-3, 0, 2, -1})})
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{0, 0, 4, 0}
	for i, v := range out["y"].Data.([]int64) {
		if v != want[i] {
			t.Fatalf("y = %v, want %v", out["y"].Data, want)
		}
	}
}

// TestMatMulScaleFusesExactly: attention's scores MatMul then Div by √d
// runs as one step with the bits of the two nodes one by one.
func TestMatMulScaleFusesExactly(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(18, 18))
	g := &onnx.Graph{
		Nodes: []*onnx.Node{
			{Name: "scores", OpType: "MatMul", Inputs: []string{"q", "k"}, Outputs: []string{"s"}},
			{Name: "scale", OpType: "Div", Inputs: []string{"s", "sqrt_d"}, Outputs: []string{"y"}},
		},
		Initializers: map[string]*onnx.Tensor{"sqrt_d": {Name: "sqrt_d", DType: onnx.Float, Data: []float32{float32(math.Sqrt(7))}}},
		Inputs:       []*onnx.ValueInfo{{Name: "q", DType: onnx.Float}, {Name: "k", DType: onnx.Float}},
		Outputs:      []*onnx.ValueInfo{{Name: "y", DType: onnx.Float}},
	}
	s, err := NewSession(&onnx.Model{Opsets: map[string]int64{"": 13}, Graph: g}, &Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	if s.steps[0].fused == nil {
		t.Fatal("MatMul does not offer to fuse the Div")
	}
	in := map[string]*onnx.Tensor{
		"q": onnx.NewTensor([]int{2, 3, 50, 7}, randFloats(r, 2*3*50*7)),
		"k": onnx.NewTensor([]int{2, 3, 7, 90}, randFloats(r, 2*3*7*90)),
	}
	got, err := s.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.Run(in, "s")
	if err != nil {
		t.Fatal(err)
	}
	if i := sameBits(got["y"].Data.([]float32), want["y"].Data.([]float32)); i >= 0 {
		t.Fatalf("element %d differs fused", i)
	}
}

// TestHardSwishOpset10FusesExactly: HardSwish as Paddle2ONNX writes it at
// opset 10 (Clip's bounds are attributes) fuses Add with Clip, with the
// bits of the nodes one by one.
func TestHardSwishOpset10FusesExactly(t *testing.T) {
	t.Parallel()
	clip := &onnx.Node{Name: "clip", OpType: "Clip", Inputs: []string{"t0"}, Outputs: []string{"t1"}}
	clip.SetAttr("min", float32(0))
	clip.SetAttr("max", float32(6))
	g := &onnx.Graph{
		Nodes: []*onnx.Node{
			{Name: "add", OpType: "Add", Inputs: []string{"x", "three"}, Outputs: []string{"t0"}},
			clip,
			{Name: "mul", OpType: "Mul", Inputs: []string{"x", "t1"}, Outputs: []string{"t2"}},
			{Name: "div", OpType: "Div", Inputs: []string{"t2", "six"}, Outputs: []string{"y"}},
		},
		Initializers: map[string]*onnx.Tensor{
			"three": {Name: "three", DType: onnx.Float, Data: []float32{3}},
			"six":   {Name: "six", DType: onnx.Float, Data: []float32{6}},
		},
		Inputs:  []*onnx.ValueInfo{{Name: "x", DType: onnx.Float}},
		Outputs: []*onnx.ValueInfo{{Name: "y", DType: onnx.Float}},
	}
	s, err := NewSession(&onnx.Model{Opsets: map[string]int64{"": 10}, Graph: g}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.steps[0].fused == nil || s.steps[2].fused == nil {
		t.Fatal("Add+Clip or Mul+Div not fused at opset 10")
	}
	r := rand.New(rand.NewPCG(19, 19))
	x := vecTestValues(r, 5000)
	for i := range x {
		x[i] *= 2
	}
	in := map[string]*onnx.Tensor{"x": onnx.NewTensor([]int{2, 2500}, x)}
	got, err := s.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.Run(in, "t0", "t1", "t2")
	if err != nil {
		t.Fatal(err)
	}
	if i := sameBits(got["y"].Data.([]float32), want["y"].Data.([]float32)); i >= 0 {
		t.Fatalf("element %d differs fused", i)
	}
}

// TestHardSwishFusesAsOneChain: PP-LCNetV3's HardSwish and the scalar
// affine step after it (Add 3, Clip, Mul by the Add's own input x, Div 6,
// Mul, Add) run as one fused chain from the first Add, with the bits of
// the nodes one by one; with x broadcast against a larger second operand
// (so that the Mul cannot read x block by block) the chain runs the nodes
// in turn, with the same bits.
func TestHardSwishFusesAsOneChain(t *testing.T) {
	t.Parallel()
	nd := func(op, out string, in ...string) *onnx.Node {
		return &onnx.Node{Name: out, OpType: op, Inputs: in, Outputs: []string{out}}
	}
	g := &onnx.Graph{
		Nodes: []*onnx.Node{
			nd("Add", "t0", "x", "three"),
			nd("Clip", "t1", "t0", "zero", "six"),
			nd("Mul", "t2", "x", "t1"),
			nd("Div", "t3", "t2", "six"),
			nd("Mul", "t4", "scale", "t3"),
			nd("Add", "y", "t4", "shift"),
		},
		Initializers: map[string]*onnx.Tensor{
			"three": {Name: "three", DType: onnx.Float, Data: []float32{3}},
			"zero":  {Name: "zero", DType: onnx.Float, Data: []float32{0}},
			"six":   {Name: "six", DType: onnx.Float, Data: []float32{6}},
			"scale": {Name: "scale", DType: onnx.Float, Shape: []int{1}, Data: []float32{1.37}},
			"shift": {Name: "shift", DType: onnx.Float, Shape: []int{1}, Data: []float32{-0.21}},
		},
		Inputs:  []*onnx.ValueInfo{{Name: "x", DType: onnx.Float}},
		Outputs: []*onnx.ValueInfo{{Name: "y", DType: onnx.Float}},
	}
	s, err := NewSession(&onnx.Model{Opsets: map[string]int64{"": 13}, Graph: g}, &Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(s.steps[0].fusedWith); got != 5 {
		t.Fatalf("the Add fuses %d nodes after it, want 5", got)
	}
	r := rand.New(rand.NewPCG(20, 20))
	x := vecTestValues(r, 3*7000)
	for i := range x {
		x[i] *= 3
	}
	for _, shape := range [][]int{{3, 7000}, {1, 1}} {
		in := map[string]*onnx.Tensor{"x": onnx.NewTensor(shape, x[:shape[0]*shape[1]])}
		got, err := s.Run(in)
		if err != nil {
			t.Fatal(err)
		}
		want, err := s.Run(in, "t0", "t1", "t2", "t3", "t4")
		if err != nil {
			t.Fatal(err)
		}
		if i := sameBits(got["y"].Data.([]float32), want["y"].Data.([]float32)); i >= 0 {
			t.Fatalf("x %v: element %d differs fused", shape, i)
		}
	}
	// A second operand broadcasting x: Add(x, big) then the chain.
	g.Nodes[0].Inputs[1] = "big"
	g.Inputs = append(g.Inputs, &onnx.ValueInfo{Name: "big", DType: onnx.Float})
	s, err = NewSession(&onnx.Model{Opsets: map[string]int64{"": 13}, Graph: g}, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]*onnx.Tensor{
		"x":   onnx.NewTensor([]int{1, 70}, x[:70]),
		"big": onnx.NewTensor([]int{30, 70}, x[:2100]),
	}
	got, err := s.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.Run(in, "t0", "t1", "t2", "t3", "t4")
	if err != nil {
		t.Fatal(err)
	}
	if i := sameBits(got["y"].Data.([]float32), want["y"].Data.([]float32)); i >= 0 {
		t.Fatalf("broadcast x: element %d differs fused", i)
	}
	if len(got["y"].Data.([]float32)) != 2100 {
		t.Fatalf("y has %d elements, want 2100", len(got["y"].Data.([]float32)))
	}
}

// TestFusedChainFreesWhatItReads: a fused chain whose later node reads
// the first node's operand (HardSwish's Mul by x) frees that tensor after
// the chain, as the unfused nodes do, so the step after the chain reuses
// its buffer: the arena ends a run holding two buffers, not three.
func TestFusedChainFreesWhatItReads(t *testing.T) {
	t.Parallel()
	nd := func(op, out string, in ...string) *onnx.Node {
		return &onnx.Node{Name: out, OpType: op, Inputs: in, Outputs: []string{out}}
	}
	g := &onnx.Graph{
		Nodes: []*onnx.Node{
			nd("Relu", "x", "in"),
			nd("Add", "t0", "x", "three"),
			nd("Clip", "t1", "t0", "zero", "six"),
			nd("Mul", "t2", "x", "t1"),
			nd("Div", "u", "t2", "six"),
			nd("Sigmoid", "v", "u"),
			nd("Add", "y", "v", "u"),
		},
		Initializers: map[string]*onnx.Tensor{
			"three": {Name: "three", DType: onnx.Float, Data: []float32{3}},
			"zero":  {Name: "zero", DType: onnx.Float, Data: []float32{0}},
			"six":   {Name: "six", DType: onnx.Float, Data: []float32{6}},
		},
		Inputs:  []*onnx.ValueInfo{{Name: "in", DType: onnx.Float}},
		Outputs: []*onnx.ValueInfo{{Name: "y", DType: onnx.Float}},
	}
	s, err := NewSession(&onnx.Model{Opsets: map[string]int64{"": 13}, Graph: g}, &Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(s.steps[1].fusedWith); got != 3 {
		t.Fatalf("the Add fuses %d nodes after it, want 3", got)
	}
	in := map[string]*onnx.Tensor{"in": onnx.NewTensor([]int{4, 1000}, randFloats(rand.New(rand.NewPCG(22, 22)), 4000))}
	if _, err := s.Run(in); err != nil {
		t.Fatal(err)
	}
	if free := s.mem.idle[0].free; len(free) != 2 {
		t.Errorf("the arena holds %d buffers after the run, want 2 (x, then v in x's buffer; u)", len(free))
	}
}
