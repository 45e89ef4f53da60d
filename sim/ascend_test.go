package sim

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"amq/onnx"
)

// ascNode builds a node with the given attributes (name -> value as
// accepted by onnx.Node.SetAttr).
func ascNode(op string, inputs, outputs []string, attrs map[string]any) *onnx.Node {
	n := &onnx.Node{Name: op + "_test", OpType: op, Inputs: inputs, Outputs: outputs}
	for k, v := range attrs {
		n.SetAttr(k, v)
	}
	return n
}

// ascRun builds n with builder bld against graph g (which may be nil) and
// runs it once.
func ascRun(t *testing.T, bld builder, g *onnx.Graph, n *onnx.Node, in ...*onnx.Tensor) (*onnx.Tensor, error) {
	t.Helper()
	run, err := bld(&buildCtx{opset: 11, graph: g}, n)
	if err != nil {
		return nil, err
	}
	out, err := run(&runCtx{threads: 2}, in)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

func TestAscendQuantRoundingAndSaturation(t *testing.T) {
	t.Parallel()
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	x := []float32{0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, 126.5, 127.5, 1000, -128.5, -129, -1e9, inf, -inf, nan}
	// Ties go to the even neighbour; values beyond int8 saturate.
	want := []int8{0, 2, 2, 0, -2, -2, 0, 126, 127, 127, -128, -128, -128, 127, -128, 0}
	n := ascNode("AscendQuant", []string{"x"}, []string{"y"}, map[string]any{"scale": float32(1), "offset": float32(0), "sqrt_mode": int64(0), "round_mode": "Round", "dst_type": "INT8"})
	y, err := ascRun(t, buildAscendQuant, nil, n, onnx.NewTensor([]int{len(x)}, x))
	if err != nil {
		t.Fatal(err)
	}
	if y.DType != onnx.Int8 {
		t.Fatalf("dtype %v, want INT8", y.DType)
	}
	for i, v := range y.Data.([]int8) {
		if v != want[i] {
			t.Errorf("quant(%g) = %d, want %d", x[i], v, want[i])
		}
	}
}

func TestAscendQuantScaleOffset(t *testing.T) {
	t.Parallel()
	// scale 4, offset -3: 0.3*4 = 1.2 -> -1.8 -> -2; 0.875*4 = 3.5 -> 0.5 -> 0 (tie to even);
	// 1.125*4 = 4.5 -> 1.5 -> 2; -31*4 = -124 -> -127; -32*4 = -128 -> -131 -> -128.
	x := []float32{0.3, 0.875, 1.125, -31, -32, 32.75}
	want := []int8{-2, 0, 2, -127, -128, 127}
	n := ascNode("AscendQuant", []string{"x"}, []string{"y"}, map[string]any{"scale": float32(4), "offset": float32(-3)})
	y, err := ascRun(t, buildAscendQuant, nil, n, onnx.NewTensor([]int{2, 3}, x))
	if err != nil {
		t.Fatal(err)
	}
	if len(y.Shape) != 2 || y.Shape[0] != 2 || y.Shape[1] != 3 {
		t.Fatalf("shape %v, want [2 3]", y.Shape)
	}
	for i, v := range y.Data.([]int8) {
		if v != want[i] {
			t.Errorf("quant(%g) = %d, want %d", x[i], v, want[i])
		}
	}
}

// TestAscendQuantFloat32Arithmetic checks that x*scale is rounded to
// float32 before rounding to an integer, as on the NPU. x is the float32
// after 2.5 (2.5 + 2^-22) and scale the float32 before 1 (1 - 2^-24): the
// exact product 2.5 + 2^-22 - 2^-24 - 2^-46 lies closer to 2.5 than to the
// next float32, so float32 arithmetic gives 2.5, a tie, rounded to 2;
// evaluating in float64 would give 3.
func TestAscendQuantFloat32Arithmetic(t *testing.T) {
	t.Parallel()
	x := float32(2.5 + 1.0/(1<<22))
	scale := float32(1 - 1.0/(1<<24))
	if exact := float64(x) * float64(scale); math.RoundToEven(exact) != 3 {
		t.Fatalf("test premise: float64 product %v should round to 3", exact)
	}
	n := ascNode("AscendQuant", []string{"x"}, []string{"y"}, map[string]any{"scale": scale, "offset": float32(0)})
	y, err := ascRun(t, buildAscendQuant, nil, n, onnx.NewTensor([]int{1}, []float32{x}))
	if err != nil {
		t.Fatal(err)
	}
	if got := y.Data.([]int8)[0]; got != 2 {
		t.Errorf("quant = %d, want 2 (float32 product 2.5, tie to even)", got)
	}
	// The offset is added in float32 as well: 0.5 + 2^-24 plus 2 is
	// 2.5 + 2^-24, which float32 (spacing 2^-22 there) rounds to 2.5, a tie
	// rounded to 2; float64 would give 3.
	n = ascNode("AscendQuant", []string{"x"}, []string{"y"}, map[string]any{"scale": float32(1), "offset": float32(2)})
	y, err = ascRun(t, buildAscendQuant, nil, n, onnx.NewTensor([]int{1}, []float32{0.5 + 1.0/(1<<24)}))
	if err != nil {
		t.Fatal(err)
	}
	if got := y.Data.([]int8)[0]; got != 2 {
		t.Errorf("quant = %d, want 2", got)
	}
}

func TestAscendQuantRoundModes(t *testing.T) {
	t.Parallel()
	x := []float32{1.7, -1.7, 2.5, -2.5}
	for mode, want := range map[string][]int8{
		"Floor": {1, -2, 2, -3},
		"Ceil":  {2, -1, 3, -2},
		"Trunc": {1, -1, 2, -2},
		"Round": {2, -2, 2, -2},
	} {
		n := ascNode("AscendQuant", []string{"x"}, []string{"y"}, map[string]any{"scale": float32(1), "round_mode": mode})
		y, err := ascRun(t, buildAscendQuant, nil, n, onnx.NewTensor([]int{4}, x))
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		for i, v := range y.Data.([]int8) {
			if v != want[i] {
				t.Errorf("%s(%g) = %d, want %d", mode, x[i], v, want[i])
			}
		}
	}
}

func TestAscendQuantRejects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		attrs map[string]any
		msg   string
	}{
		{map[string]any{"scale": float32(1), "sqrt_mode": int64(1)}, "sqrt_mode"},
		{map[string]any{"scale": float32(1), "dst_type": "INT4"}, "INT4"},
		{map[string]any{"scale": float32(1), "dst_type": int64(29)}, "INT4"},
		{map[string]any{"scale": float32(1), "dst_type": int64(geInt8)}, ""},
		{map[string]any{"scale": float32(1), "round_mode": "Banker"}, "round_mode"},
		{map[string]any{"offset": float32(1)}, "scale is required"},
		{map[string]any{"scale": float32(0)}, "positive"},
		{map[string]any{"scale": float32(1), "alpha": float32(1)}, "alpha"},
	}
	for _, c := range cases {
		_, err := buildAscendQuant(&buildCtx{opset: 11}, ascNode("AscendQuant", []string{"x"}, []string{"y"}, c.attrs))
		switch {
		case c.msg == "" && err != nil:
			t.Errorf("%v: unexpected error %v", c.attrs, err)
		case c.msg != "" && (err == nil || !strings.Contains(err.Error(), c.msg)):
			t.Errorf("%v: error %v, want one mentioning %q", c.attrs, err, c.msg)
		}
	}
}

// ascDeqScale packs float32 scales as AMCT does: the float32 bits in bits
// 0-31, shift_n and offset_w zero.
func ascDeqScale(s ...float32) *onnx.Tensor {
	d := make([]uint64, len(s))
	for i, v := range s {
		d[i] = uint64(math.Float32bits(v))
	}
	return onnx.NewTensor([]int{len(s)}, d)
}

// ascProducerGraph is a graph in which tensor "acc" is produced by a node
// of type op, so that AscendDequant can pick its channel axis.
func ascProducerGraph(op string) *onnx.Graph {
	g := &onnx.Graph{Nodes: []*onnx.Node{
		{Name: "layer", OpType: op, Inputs: []string{"a", "b"}, Outputs: []string{"acc"}},
	}}
	g.Reindex()
	return g
}

func TestAscendDequantChannelAxis(t *testing.T) {
	t.Parallel()
	// acc [1, 2, 3]: for a Conv producer channels are axis 1 (2 scales),
	// for MatMul/Gemm the last axis (3 scales).
	acc := onnx.NewTensor([]int{1, 2, 3}, []int32{1, -2, 3, 40, 50, -60})
	n := ascNode("AscendDequant", []string{"acc", "deq"}, []string{"y"}, map[string]any{"dtype": int64(0), "sqrt_mode": int64(0), "relu_flag": int64(0)})

	y, err := ascRun(t, buildAscendDequant, ascProducerGraph("Conv"), n, acc, ascDeqScale(0.5, 0.25))
	if err != nil {
		t.Fatal(err)
	}
	wantConv := []float32{0.5, -1, 1.5, 10, 12.5, -15}
	for i, v := range y.Floats() {
		if v != wantConv[i] {
			t.Errorf("conv: y[%d] = %g, want %g", i, v, wantConv[i])
		}
	}
	for _, op := range []string{"MatMul", "Gemm"} {
		y, err = ascRun(t, buildAscendDequant, ascProducerGraph(op), n, acc, ascDeqScale(0.5, 0.25, 2))
		if err != nil {
			t.Fatal(err)
		}
		wantMM := []float32{0.5, -0.5, 6, 20, 12.5, -120}
		for i, v := range y.Floats() {
			if v != wantMM[i] {
				t.Errorf("%s: y[%d] = %g, want %g", op, i, v, wantMM[i])
			}
		}
	}
	// A Conv output does not have 3 channels on axis 1.
	if _, err := ascRun(t, buildAscendDequant, ascProducerGraph("Conv"), n, acc, ascDeqScale(1, 2, 3)); err == nil || !strings.Contains(err.Error(), "channel axis 1") {
		t.Errorf("mismatched channels: error %v", err)
	}
	// One scale applies to every element whatever the producer.
	y, err = ascRun(t, buildAscendDequant, nil, n, acc, ascDeqScale(2))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range y.Floats() {
		if want := 2 * float32(acc.Data.([]int32)[i]); v != want {
			t.Errorf("per-tensor: y[%d] = %g, want %g", i, v, want)
		}
	}
}

func TestAscendDequantReluFloat16AndRounding(t *testing.T) {
	t.Parallel()
	third := float32(1.0 / 3)
	acc := onnx.NewTensor([]int{4}, []int32{-3, 3, 16777217, 1})
	n := ascNode("AscendDequant", []string{"acc", "deq"}, []string{"y"}, map[string]any{"relu_flag": int64(1)})
	y, err := ascRun(t, buildAscendDequant, nil, n, acc, ascDeqScale(1))
	if err != nil {
		t.Fatal(err)
	}
	// ReLU clears -3; 2^24+1 becomes 2^24 in float32.
	want := []float32{0, 3, 16777216, 1}
	for i, v := range y.Floats() {
		if v != want[i] {
			t.Errorf("relu: y[%d] = %g, want %g", i, v, want[i])
		}
	}
	n = ascNode("AscendDequant", []string{"acc", "deq"}, []string{"y"}, map[string]any{"dtype": int64(1)})
	y, err = ascRun(t, buildAscendDequant, nil, n, onnx.NewTensor([]int{1}, []int32{1}), ascDeqScale(third))
	if err != nil {
		t.Fatal(err)
	}
	// 1/3 in half precision is 0x3555 = 1365/4096.
	if y.DType != onnx.Float16 || y.Floats()[0] != 1365.0/4096 {
		t.Errorf("float16: got %v %g, want FLOAT16 %g", y.DType, y.Floats()[0], 1365.0/4096)
	}
}

func TestAscendDequantRejectsPackedFields(t *testing.T) {
	t.Parallel()
	n := ascNode("AscendDequant", []string{"acc", "deq"}, []string{"y"}, nil)
	acc := onnx.NewTensor([]int{1}, []int32{1})
	one := uint64(math.Float32bits(1))
	for bits, msg := range map[uint64]string{one | 3<<32: "shift_n 3", one | 0xff<<40: "offset_w -1"} {
		_, err := ascRun(t, buildAscendDequant, nil, n, acc, onnx.NewTensor([]int{1}, []uint64{bits}))
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("deq_scale %#x: error %v, want %q", bits, err, msg)
		}
	}
	// A constant deq_scale is checked when the session is built.
	g := &onnx.Graph{Initializers: map[string]*onnx.Tensor{"deq": onnx.NewTensor([]int{1}, []uint64{one | 1<<32})}}
	g.Reindex()
	if _, err := buildAscendDequant(&buildCtx{opset: 11, graph: g}, n); err == nil || !strings.Contains(err.Error(), `"deq"`) {
		t.Errorf("constant deq_scale: error %v, want one naming it", err)
	}
	bad := ascNode("AscendDequant", []string{"acc", "deq"}, []string{"y"}, map[string]any{"sqrt_mode": int64(1)})
	if _, err := buildAscendDequant(&buildCtx{opset: 11}, bad); err == nil {
		t.Error("sqrt_mode 1 accepted")
	}
}

func TestAscendAntiQuant(t *testing.T) {
	t.Parallel()
	x := []int8{-128, -3, 0, 5, 127}
	n := ascNode("AscendAntiQuant", []string{"x"}, []string{"y"}, map[string]any{"scale": float32(0.5), "offset": float32(3)})
	y, err := ascRun(t, buildAscendAntiQuant, nil, n, onnx.NewTensor([]int{5}, x))
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{-62.5, 0, 1.5, 4, 65}
	for i, v := range y.Floats() {
		if v != want[i] {
			t.Errorf("antiquant(%d) = %g, want %g", x[i], v, want[i])
		}
	}
}

// TestAscendQuantAntiQuantSession runs quantize -> dequantize through a
// Session: the round trip error is at most half a step inside the range.
func TestAscendQuantAntiQuantSession(t *testing.T) {
	t.Parallel()
	const scaleD, offsetD = 0.05, -10
	q := ascNode("AscendQuant", []string{"x"}, []string{"q"}, map[string]any{"scale": float32(1 / scaleD), "offset": float32(offsetD), "dst_type": "INT8", "round_mode": "Round"})
	aq := ascNode("AscendAntiQuant", []string{"q"}, []string{"y"}, map[string]any{"scale": float32(scaleD), "offset": float32(-offsetD)})
	aq.Name = "antiquant"
	g := &onnx.Graph{
		Nodes:   []*onnx.Node{q, aq},
		Inputs:  []*onnx.ValueInfo{{Name: "x", DType: onnx.Float, Shape: onnx.KnownDims([]int{64})}},
		Outputs: []*onnx.ValueInfo{{Name: "y"}},
	}
	s, err := NewSession(&onnx.Model{Opsets: map[string]int64{"": 11}, Graph: g}, nil)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 64)
	for i := range x {
		x[i] = float32(i-32) * 0.1
	}
	out, err := s.Run(map[string]*onnx.Tensor{"x": onnx.NewTensor([]int{64}, x)}, "q")
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := (-128-offsetD)*scaleD, (127-offsetD)*scaleD
	for i, v := range out["y"].Floats() {
		want := min(max(float64(x[i]), lo), hi)
		if math.Abs(float64(v)-want) > scaleD/2+1e-6 {
			t.Errorf("x=%g: y=%g (q=%d), want %g within %g", x[i], v, out["q"].Data.([]int8)[i], want, scaleD/2)
		}
	}
}

// TestAscendQuantClampBeforeRoundingAgrees checks quantizeInt8s, which
// clamps before rounding, against AscendQuant's definition (round, then
// clamp) for every round_mode, on halves around the ends of int8, ±Inf,
// NaN and random values.
func TestAscendQuantClampBeforeRoundingAgrees(t *testing.T) {
	t.Parallel()
	checkQuantizeInt8s(t)
}

// checkQuantizeInt8s is the body of TestAscendQuantClampBeforeRoundingAgrees.
func checkQuantizeInt8s(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	x := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, -0.5, 0.5, 1.5, 2.5,
		126.5, 127.5, 128.5, -127.5, -128.5, -129.5, 1e30, -1e30}
	for range 4000 {
		x = append(x, (r.Float32()*2-1)*300)
	}
	for _, mode := range []string{"Round", "Floor", "Ceil", "Trunc"} {
		round, err := quantRound(mode)
		if err != nil {
			t.Fatal(err)
		}
		for _, sc := range []struct{ scale, offset float32 }{{1, 0}, {0.37, -7}, {3, 127}, {2, -128}} {
			got := make([]int8, len(x))
			quantizeInt8s(got, x, sc.scale, sc.offset, mode)
			for i, v := range x {
				want := int8(0)
				if w := float32(float32(v*sc.scale) + sc.offset); w == w {
					want = int8(min(max(round(float64(w)), -128), 127))
				}
				if got[i] != want {
					t.Fatalf("%s scale %g offset %g: x %g gives %d, want %d", mode, sc.scale, sc.offset, v, got[i], want)
				}
			}
		}
	}
}

// TestAscendDequantFusedReluMatchesReluNode runs AscendDequant followed by
// a Relu node in a session (which fuses the pair) and checks every value,
// the sign of zeros included, against max(float32(x)·d[c], 0): the Relu
// node turns relu_flag's −0 into +0 and clamps negatives.
func TestAscendDequantFusedReluMatchesReluNode(t *testing.T) {
	t.Parallel()
	x := []int32{-5, 0, 3, 1 << 25, -(1 << 25) - 1, 7, 0, -1}
	scales := []float32{0.5, -0.25}
	for _, flag := range []int{0, 1} {
		dq := &onnx.Node{Name: "dq", OpType: "AscendDequant", Inputs: []string{"x", "d"}, Outputs: []string{"f"}}
		dq.SetAttr("relu_flag", flag)
		m := &onnx.Model{Opsets: map[string]int64{"": 11}, Graph: &onnx.Graph{
			Nodes:        []*onnx.Node{dq, {Name: "relu", OpType: "Relu", Inputs: []string{"f"}, Outputs: []string{"y"}}},
			Inputs:       []*onnx.ValueInfo{{Name: "x", DType: onnx.Int32}},
			Outputs:      []*onnx.ValueInfo{{Name: "y"}},
			Initializers: map[string]*onnx.Tensor{"d": ascDeqScale(scales...)},
		}}
		s, err := NewSession(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Run(map[string]*onnx.Tensor{"x": onnx.NewTensor([]int{1, 2, 4}, x)})
		if err != nil {
			t.Fatal(err)
		}
		got := out["y"].Data.([]float32)
		for i, v := range x {
			want := float32(float32(v) * scales[i/4])
			if want < 0 || want == 0 {
				want = 0
			}
			if math.Float32bits(got[i]) != math.Float32bits(want) {
				t.Fatalf("relu_flag %d: y[%d] = %g (bits %#x), want %g", flag, i, got[i], math.Float32bits(got[i]), want)
			}
		}
	}
}

// TestDequantRunMatchesScalarDefinition checks dequantRun (vectorized
// where the CPU allows) bit for bit against AscendDequant's scalar
// definition, without Relu, with relu_flag (−0 kept) and with a fused Relu
// node (+0), on ints that float32 rounds, zeros under negative scales,
// and infinite and NaN scales.
func TestDequantRunMatchesScalarDefinition(t *testing.T) {
	t.Parallel()
	checkDequantRun(t)
}

// checkDequantRun is the body of TestDequantRunMatchesScalarDefinition.
func checkDequantRun(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	x := []int32{0, 1 << 25, 1<<25 + 1, -(1<<25 + 3), math.MaxInt32, math.MinInt32, -1, 1}
	for range 200 {
		x = append(x, int32(r.Uint32()))
	}
	for _, scale := range []float32{0.37, -0.25, 1e-30, 3e38, float32(math.Inf(1)), float32(math.NaN())} {
		for mode := range 3 {
			y := make([]float32, len(x))
			dequantRun(y, x, scale, mode == 1, mode == 2)
			for i, v := range x {
				want := float32(float32(v) * scale)
				switch {
				case mode == 1 && want < 0:
					want = 0
				case mode == 2:
					want = max(want, 0)
				}
				if math.Float32bits(y[i]) != math.Float32bits(want) {
					t.Fatalf("scale %g mode %d: x %d gives %g (bits %#x), want %g (%#x)", scale, mode, v, y[i], math.Float32bits(y[i]), want, math.Float32bits(want))
				}
			}
		}
	}
}

// TestDequantColsMatchesScalarDefinition is TestDequantRunMatchesScalarDefinition
// for a scale per element (the last-axis channels of Gemm and MatMul):
// finite scales of both signs, then the same with one infinite and one
// NaN scale among them.
func TestDequantColsMatchesScalarDefinition(t *testing.T) {
	t.Parallel()
	checkDequantCols(t)
}

// checkDequantCols is the body of TestDequantColsMatchesScalarDefinition.
func checkDequantCols(t *testing.T) {
	r := rand.New(rand.NewPCG(45, 46))
	x := []int32{0, 0, 1<<25 + 1, math.MaxInt32, math.MinInt32, -1}
	for range 100 {
		x = append(x, int32(r.Uint32()))
	}
	sc := make([]float32, len(x))
	for i := range sc {
		sc[i] = (r.Float32()*2 - 1) * 1e-3
	}
	sc[1] = -0.5
	special := append([]float32(nil), sc...)
	special[40], special[50] = float32(math.Inf(-1)), float32(math.NaN())
	for _, scales := range [][]float32{sc, special} {
		for mode := range 3 {
			y := make([]float32, len(x))
			dequantCols(y, x, scales, mode == 1, mode == 2)
			for i, v := range x {
				want := float32(float32(v) * scales[i])
				switch {
				case mode == 1 && want < 0:
					want = 0
				case mode == 2:
					want = max(want, 0)
				}
				if math.Float32bits(y[i]) != math.Float32bits(want) {
					t.Fatalf("mode %d: x %d scale %g gives %g (bits %#x), want %g (%#x)", mode, v, scales[i], y[i], math.Float32bits(y[i]), want, math.Float32bits(want))
				}
			}
		}
	}
}
