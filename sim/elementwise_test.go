package sim

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"amq/onnx"
)

// ewRunOp runs a single node of type op at the given opset. A nil input is
// an omitted optional input. It returns the node's outputs in order.
func ewRunOp(opset int64, op string, attrs map[string]any, nout, threads int, in ...*onnx.Tensor) ([]*onnx.Tensor, error) {
	g := &onnx.Graph{Initializers: map[string]*onnx.Tensor{}, ValueInfo: map[string]*onnx.ValueInfo{}}
	n := &onnx.Node{Name: "n", OpType: op}
	feed := map[string]*onnx.Tensor{}
	for i, t := range in {
		if t == nil {
			n.Inputs = append(n.Inputs, "")
			continue
		}
		name := "x" + string(rune('0'+i))
		n.Inputs = append(n.Inputs, name)
		g.Inputs = append(g.Inputs, &onnx.ValueInfo{Name: name, DType: t.DType})
		feed[name] = t
	}
	for i := range nout {
		name := "y" + string(rune('0'+i))
		n.Outputs = append(n.Outputs, name)
		g.Outputs = append(g.Outputs, &onnx.ValueInfo{Name: name})
	}
	for k, v := range attrs {
		n.SetAttr(k, v)
	}
	g.Nodes = []*onnx.Node{n}
	m := &onnx.Model{IRVersion: 8, Opsets: map[string]int64{"": opset}, Graph: g}
	s, err := NewSession(m, &Options{Threads: threads})
	if err != nil {
		return nil, err
	}
	res, err := s.Run(feed)
	if err != nil {
		return nil, err
	}
	outs := make([]*onnx.Tensor, nout)
	for i := range outs {
		outs[i] = res["y"+string(rune('0'+i))]
	}
	return outs, nil
}

func ewRun1(t *testing.T, opset int64, op string, attrs map[string]any, in ...*onnx.Tensor) *onnx.Tensor {
	t.Helper()
	out, err := ewRunOp(opset, op, attrs, 1, 2, in...)
	if err != nil {
		t.Fatalf("%s (opset %d): %v", op, opset, err)
	}
	return out[0]
}

func ewRandFloats(rng *rand.Rand, shape []int, lo, hi float64) *onnx.Tensor {
	d := make([]float32, onnx.NumElems(shape))
	for i := range d {
		d[i] = float32(lo + (hi-lo)*rng.Float64())
	}
	return onnx.NewTensor(shape, d)
}

// ewRefBroadcast computes f over the numpy broadcast of ins with float64
// arithmetic, indexing every input directly from the output multi-index.
func ewRefBroadcast(t *testing.T, f func(v []float64) float64, ins ...*onnx.Tensor) ([]int, []float64) {
	t.Helper()
	var shapes [][]int
	var vals [][]float64
	for _, in := range ins {
		shapes = append(shapes, in.Shape)
		v, err := float64s(in)
		if err != nil {
			t.Fatal(err)
		}
		vals = append(vals, v)
	}
	rank := 0
	for _, s := range shapes {
		rank = max(rank, len(s))
	}
	out := make([]int, rank)
	for d := range out {
		out[d] = 1
		for _, s := range shapes {
			if k := d - (rank - len(s)); k >= 0 && s[k] != 1 {
				out[d] = s[k]
			}
		}
	}
	ref := make([]float64, onnx.NumElems(out))
	args := make([]float64, len(ins))
	for o := range ref {
		idx := bcUnravel(o, out)
		for i, s := range shapes {
			args[i] = vals[i][bcNaiveOffset(idx, s)]
		}
		ref[o] = f(args)
	}
	return out, ref
}

// ewCheckClose compares got with ref elementwise within rtol*|ref| + atol.
func ewCheckClose(t *testing.T, what string, got *onnx.Tensor, shape []int, ref []float64, rtol, atol float64) {
	t.Helper()
	if !slices.Equal(got.Shape, shape) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape, shape)
	}
	g, err := float64s(got)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ref {
		same := g[i] == ref[i] || (math.IsNaN(g[i]) && math.IsNaN(ref[i]))
		if !same && !(math.Abs(g[i]-ref[i]) <= atol+rtol*math.Abs(ref[i])) {
			t.Fatalf("%s: element %d = %v, want %v", what, i, g[i], ref[i])
		}
	}
}

func TestArithBroadcast(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	shapes := [][2][]int{
		{{2, 3, 4}, {2, 3, 4}},
		{{2, 3, 4}, {}},
		{{}, {2, 3, 4}},
		{{4, 5}, {5}},
		{{2, 3, 4, 5}, {1, 3, 1, 1}},
		{{3, 1}, {1, 4}},
		{{2, 1}, {2, 3}},
		{{1, 3, 1}, {2, 3, 4}},
		{{2, 1, 3}, {4, 1}},
		{{1}, {1, 1, 1}},
		{{2, 0, 3}, {3}},
		{{3, 50000}, {3, 1}}, // parallel, long rows split
		{{1, 70000}, {70000}},
	}
	ops := map[string]func(a, b float64) float64{
		"Add": func(a, b float64) float64 { return a + b },
		"Sub": func(a, b float64) float64 { return a - b },
		"Mul": func(a, b float64) float64 { return a * b },
		"Div": func(a, b float64) float64 { return a / b },
		"Min": math.Min,
		"Max": math.Max,
	}
	for op, f := range ops {
		for _, sh := range shapes {
			a, b := ewRandFloats(rng, sh[0], -3, 3), ewRandFloats(rng, sh[1], 0.5, 2)
			got := ewRun1(t, 13, op, nil, a, b)
			out, ref := ewRefBroadcast(t, func(v []float64) float64 { return float64(float32(f(v[0], v[1]))) }, a, b)
			// Float64 arithmetic rounded once to float32 is the correctly
			// rounded float32 result, so equality is exact.
			ewCheckClose(t, op+" "+shapeList(sh[:]), got, out, ref, 0, 0)
			if got.DType != onnx.Float {
				t.Errorf("%s: output type %v", op, got.DType)
			}
		}
	}
}

func TestArithIntegers(t *testing.T) {
	t.Parallel()
	a := onnx.NewTensor([]int{4}, []int64{-7, 7, -8, math.MaxInt64})
	b := onnx.NewTensor([]int{4}, []int64{2, -2, 3, 1})
	if got := ewRun1(t, 14, "Div", nil, a, b).Int64s(); !slices.Equal(got, []int64{-3, -3, -2, math.MaxInt64}) {
		t.Errorf("int64 Div = %v, want truncation toward zero", got)
	}
	if got := ewRun1(t, 14, "Add", nil, a, b).Int64s(); !slices.Equal(got, []int64{-5, 5, -5, math.MinInt64}) {
		t.Errorf("int64 Add = %v (wraps like C)", got)
	}
	u := onnx.NewTensor([]int{3}, []uint8{250, 3, 0})
	v := onnx.NewTensor([]int{}, []uint8{10})
	if got, _ := onnx.Data[uint8](ewRun1(t, 14, "Sub", nil, u, v)); !slices.Equal(got, []uint8{240, 249, 246}) {
		t.Errorf("uint8 Sub = %v", got)
	}
	i32 := onnx.NewTensor([]int{2, 2}, []int32{1, -2, 3, -4})
	got, _ := onnx.Data[int32](ewRun1(t, 14, "Mul", nil, i32, onnx.NewTensor([]int{2}, []int32{10, 100})))
	if !slices.Equal(got, []int32{10, -200, 30, -400}) {
		t.Errorf("int32 Mul = %v", got)
	}
	_, err := ewRunOp(14, "Div", nil, 1, 1, a, onnx.NewTensor([]int{4}, []int64{1, 0, 1, 1}))
	if err == nil || !strings.Contains(err.Error(), "division by zero") || !strings.Contains(err.Error(), `"n"`) {
		t.Errorf("int Div by zero: err = %v, want a division-by-zero error naming the node", err)
	}
	_, err = ewRunOp(14, "Add", nil, 1, 1, a, onnx.NewTensor([]int{4}, []int32{1, 0, 1, 1}))
	if err == nil || !strings.Contains(err.Error(), "differ") {
		t.Errorf("Add int64+int32: err = %v, want a type mismatch", err)
	}
	_, err = ewRunOp(14, "Add", nil, 1, 1, a, onnx.NewTensor([]int{3}, []int64{1, 0, 1}))
	if err == nil || !strings.Contains(err.Error(), "broadcast") {
		t.Errorf("Add [4]+[3]: err = %v, want a broadcast error", err)
	}
}

func TestArithFloat64AndFloat16(t *testing.T) {
	t.Parallel()
	x := []float64{1e-300, 0.1, 3}
	y := 0.2
	a := onnx.NewTensor([]int{3}, slices.Clone(x))
	b := onnx.NewTensor([]int{1}, []float64{y})
	got := ewRun1(t, 13, "Add", nil, a, b).Data.([]float64)
	if want := []float64{x[0] + y, x[1] + y, x[2] + y}; !slices.Equal(got, want) {
		t.Errorf("float64 Add = %v, want %v", got, want)
	}
	h := &onnx.Tensor{DType: onnx.Float16, Shape: []int{2}, Data: []float32{1, 2}}
	out := ewRun1(t, 13, "Mul", nil, h, &onnx.Tensor{DType: onnx.Float16, Shape: []int{}, Data: []float32{3}})
	if out.DType != onnx.Float16 || !slices.Equal(out.Floats(), []float32{3, 6}) {
		t.Errorf("float16 Mul = %v %v, want FLOAT16 [3 6]", out.DType, out.Data)
	}
}

func TestArithLegacyBroadcast(t *testing.T) {
	t.Parallel()
	a := onnx.NewTensor([]int{2, 3, 2}, []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
	b := onnx.NewTensor([]int{3}, []float32{100, 200, 300})
	got := ewRun1(t, 6, "Add", map[string]any{"broadcast": 1, "axis": 1}, a, b)
	want := []float32{100, 101, 202, 203, 304, 305, 106, 107, 208, 209, 310, 311}
	if !slices.Equal(got.Floats(), want) {
		t.Errorf("opset 6 Add axis=1 = %v, want %v", got.Floats(), want)
	}
	if _, err := ewRunOp(13, "Add", map[string]any{"axis": 1}, 1, 1, a, b); err == nil || !strings.Contains(err.Error(), `attribute "axis"`) {
		t.Errorf("opset 13 Add with axis: err = %v, want an unsupported-attribute error", err)
	}
}

func TestVariadic(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	a, b, c := ewRandFloats(rng, []int{2, 3}, -1, 1), ewRandFloats(rng, []int{3}, -1, 1), ewRandFloats(rng, []int{2, 1}, -1, 1)
	cases := map[string]func(v []float64) float64{
		"Sum": func(v []float64) float64 { return float64(float32(float32(v[0]+v[1]) + float32(v[2]))) },
		"Mean": func(v []float64) float64 {
			return float64(float32(float64(float32(float32(v[0]+v[1])+float32(v[2]))) / 3))
		},
		"Max": func(v []float64) float64 { return math.Max(v[0], math.Max(v[1], v[2])) },
		"Min": func(v []float64) float64 { return math.Min(v[0], math.Min(v[1], v[2])) },
	}
	for op, f := range cases {
		got := ewRun1(t, 13, op, nil, a, b, c)
		out, ref := ewRefBroadcast(t, f, a, b, c)
		ewCheckClose(t, op, got, out, ref, 0, 0)
	}
	nan := onnx.NewTensor([]int{2}, []float32{float32(math.NaN()), 1})
	got := ewRun1(t, 13, "Max", nil, nan, onnx.NewTensor([]int{2}, []float32{5, float32(math.NaN())}))
	if f := got.Floats(); !math.IsNaN(float64(f[0])) || !math.IsNaN(float64(f[1])) {
		t.Errorf("Max with NaN = %v, want NaN propagated", f)
	}
}

func TestPow(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 8))
	x := ewRandFloats(rng, []int{3, 4}, 0.1, 3)
	for _, e := range []*onnx.Tensor{
		onnx.NewTensor([]int{}, []float32{2}),
		onnx.NewTensor([]int{4}, []float32{0.5, -1, 3, 1.7}),
		onnx.NewTensor([]int{1}, []int64{3}),
	} {
		got := ewRun1(t, 15, "Pow", nil, x, e)
		out, ref := ewRefBroadcast(t, func(v []float64) float64 { return float64(float32(math.Pow(v[0], v[1]))) }, x, e)
		ewCheckClose(t, "Pow", got, out, ref, 0, 0)
	}
	i := onnx.NewTensor([]int{3}, []int64{2, -3, 5})
	got := ewRun1(t, 15, "Pow", nil, i, onnx.NewTensor([]int{}, []float32{3}))
	if !slices.Equal(got.Int64s(), []int64{8, -27, 125}) {
		t.Errorf("int64 Pow = %v", got.Int64s())
	}
}

func TestUnaryFloat(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(9, 10))
	x := ewRandFloats(rng, []int{5, 40000}, -6, 6) // large: runs in parallel
	x.Floats()[0], x.Floats()[1], x.Floats()[2] = 0, -100, 100
	pos := ewRandFloats(rng, []int{1000}, 0.01, 50)
	type tc struct {
		op    string
		attrs map[string]any
		in    *onnx.Tensor
		f     func(float64) float64
	}
	sig := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	cases := []tc{
		{"Sqrt", nil, pos, math.Sqrt},
		{"Exp", nil, x, math.Exp},
		{"Log", nil, pos, math.Log},
		{"Reciprocal", nil, pos, func(v float64) float64 { return 1 / v }},
		{"Relu", nil, x, func(v float64) float64 { return math.Max(v, 0) }},
		{"LeakyRelu", nil, x, func(v float64) float64 { return map[bool]float64{true: v, false: float64(float32(0.01)) * v}[v >= 0] }},
		{"LeakyRelu", map[string]any{"alpha": float32(0.25)}, x, func(v float64) float64 { return math.Max(v, 0.25*v) }},
		{"Elu", map[string]any{"alpha": float32(0.5)}, x, func(v float64) float64 {
			if v < 0 {
				return 0.5 * (math.Exp(v) - 1)
			}
			return v
		}},
		{"Selu", nil, x, func(v float64) float64 {
			if v > 0 {
				return float64(float32(1.0507009873554804934193349852946)) * v
			}
			return float64(float32(1.0507009873554804934193349852946)) * float64(float32(1.6732632423543772848170429916717)) * (math.Exp(v) - 1)
		}},
		{"Sigmoid", nil, x, sig},
		{"Tanh", nil, x, math.Tanh},
		{"Softplus", nil, x, func(v float64) float64 { return math.Log(1 + math.Exp(v)) }},
		{"Softsign", nil, x, func(v float64) float64 { return v / (1 + math.Abs(v)) }},
		{"HardSigmoid", map[string]any{"alpha": float32(0.5), "beta": float32(0.25)}, x, func(v float64) float64 { return math.Min(1, math.Max(0, 0.5*v+0.25)) }},
		{"HardSwish", nil, x, func(v float64) float64 { return v * math.Min(1, math.Max(0, v/6+0.5)) }},
		{"Erf", nil, x, math.Erf},
		{"Gelu", nil, x, func(v float64) float64 { return v * 0.5 * math.Erfc(-v/math.Sqrt2) }},
		{"Gelu", map[string]any{"approximate": "tanh"}, x, func(v float64) float64 {
			return 0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*math.Pow(v, 3))))
		}},
		{"Floor", nil, x, math.Floor},
		{"Ceil", nil, x, math.Ceil},
		{"Neg", nil, x, func(v float64) float64 { return -v }},
		{"Abs", nil, x, math.Abs},
		{"Sign", nil, x, func(v float64) float64 {
			return float64(map[bool]int{true: 1, false: -1}[v > 0]) * float64(map[bool]int{true: 0, false: 1}[v == 0])
		}},
	}
	for _, c := range cases {
		got := ewRun1(t, 18, c.op, c.attrs, c.in)
		in, _ := float64s(c.in)
		ref := make([]float64, len(in))
		for i, v := range in {
			ref[i] = float64(float32(c.f(v))) // overflows to Inf like float32
		}
		// Within a few float32 ulps of the float64 reference (math.Erf and
		// friends are as accurate in float64 as float32 can represent).
		ewCheckClose(t, c.op, got, c.in.Shape, ref, 3e-7, 1e-30)
	}
}

func TestRoundHalfToEven(t *testing.T) {
	t.Parallel()
	x := onnx.NewTensor([]int{9}, []float32{0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999998, 3.7, -3.2})
	got := ewRun1(t, 11, "Round", nil, x).Floats()
	want := []float32{0, 2, 2, 0, -2, -2, 2, 4, -3}
	if !slices.Equal(got, want) {
		t.Errorf("Round = %v, want %v", got, want)
	}
	if math.Signbit(float64(got[3])) != true {
		t.Errorf("Round(-0.5) = %v, want -0", got[3])
	}
}

func TestUnaryErrors(t *testing.T) {
	t.Parallel()
	x := onnx.NewTensor([]int{2}, []float32{1, 2})
	if _, err := ewRunOp(18, "Gelu", map[string]any{"approximate": "fast"}, 1, 1, x); err == nil || !strings.Contains(err.Error(), "fast") {
		t.Errorf("Gelu approximate=fast: err = %v", err)
	}
	if _, err := ewRunOp(18, "Sigmoid", map[string]any{"alpha": float32(1)}, 1, 1, x); err == nil || !strings.Contains(err.Error(), `"alpha"`) {
		t.Errorf("Sigmoid with alpha: err = %v", err)
	}
	i := onnx.NewTensor([]int{2}, []int64{1, 2})
	if _, err := ewRunOp(18, "Sqrt", nil, 1, 1, i); err == nil || !strings.Contains(err.Error(), "INT64") {
		t.Errorf("Sqrt of int64: err = %v", err)
	}
	got := ewRun1(t, 14, "Relu", nil, onnx.NewTensor([]int{3}, []int8{-5, 0, 7}))
	if d, _ := onnx.Data[int8](got); !slices.Equal(d, []int8{0, 0, 7}) {
		t.Errorf("int8 Relu = %v", d)
	}
	got = ewRun1(t, 14, "Abs", nil, onnx.NewTensor([]int{3}, []int32{-5, 0, 7}))
	if d, _ := onnx.Data[int32](got); !slices.Equal(d, []int32{5, 0, 7}) {
		t.Errorf("int32 Abs = %v", d)
	}
}

func TestPRelu(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(11, 12))
	x := ewRandFloats(rng, []int{2, 3, 4, 5}, -2, 2)
	for _, sh := range [][]int{{3, 1, 1}, {5}, {1}, {2, 3, 4, 5}} {
		s := ewRandFloats(rng, sh, 0, 1)
		got := ewRun1(t, 16, "PRelu", nil, x, s)
		out, ref := ewRefBroadcast(t, func(v []float64) float64 {
			if v[0] < 0 {
				return float64(float32(v[0] * v[1]))
			}
			return v[0]
		}, x, s)
		ewCheckClose(t, "PRelu", got, out, ref, 0, 0)
	}
	if _, err := ewRunOp(16, "PRelu", nil, 1, 1, ewRandFloats(rng, []int{3}, -1, 1), ewRandFloats(rng, []int{2, 3}, 0, 1)); err == nil {
		t.Error("PRelu with a slope larger than X succeeded")
	}
}

func TestClip(t *testing.T) {
	t.Parallel()
	x := onnx.NewTensor([]int{6}, []float32{-3, -1, 0, 1, 3, float32(math.NaN())})
	lo, hi := onnx.NewTensor([]int{}, []float32{-1.5}), onnx.NewTensor([]int{}, []float32{2})
	check := func(name string, got *onnx.Tensor, want []float32) {
		t.Helper()
		g := got.Floats()
		for i := range want {
			if g[i] != want[i] && !(math.IsNaN(float64(g[i])) && math.IsNaN(float64(want[i]))) {
				t.Errorf("%s = %v, want %v", name, g, want)
				return
			}
		}
	}
	nan := float32(math.NaN())
	check("Clip(min,max)", ewRun1(t, 13, "Clip", nil, x, lo, hi), []float32{-1.5, -1, 0, 1, 2, nan})
	check("Clip(min)", ewRun1(t, 13, "Clip", nil, x, lo), []float32{-1.5, -1, 0, 1, 3, nan})
	check("Clip(,max)", ewRun1(t, 13, "Clip", nil, x, nil, hi), []float32{-3, -1, 0, 1, 2, nan})
	check("Clip()", ewRun1(t, 13, "Clip", nil, x), []float32{-3, -1, 0, 1, 3, nan})
	check("Clip opset 6", ewRun1(t, 6, "Clip", map[string]any{"min": float32(-1.5), "max": float32(2)}, x), []float32{-1.5, -1, 0, 1, 2, nan})
	i := onnx.NewTensor([]int{4}, []int8{-128, -5, 5, 127})
	got := ewRun1(t, 13, "Clip", nil, i, onnx.NewTensor([]int{}, []int8{-10}), onnx.NewTensor([]int{}, []int8{6}))
	if d, _ := onnx.Data[int8](got); !slices.Equal(d, []int8{-10, -5, 5, 6}) {
		t.Errorf("int8 Clip = %v", d)
	}
	if _, err := ewRunOp(13, "Clip", nil, 1, 1, x, onnx.NewTensor([]int{2}, []float32{0, 1})); err == nil || !strings.Contains(err.Error(), "scalar") {
		t.Errorf("Clip with a [2] min: err = %v", err)
	}
}

func TestCompareLogicWhere(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(13, 14))
	a := ewRandFloats(rng, []int{3, 4}, -2, 2)
	b := ewRandFloats(rng, []int{4}, -2, 2)
	a.Floats()[1] = b.Floats()[1] // some equal elements
	cmps := map[string]func(x, y float64) bool{
		"Equal":          func(x, y float64) bool { return x == y },
		"Less":           func(x, y float64) bool { return x < y },
		"LessOrEqual":    func(x, y float64) bool { return x <= y },
		"Greater":        func(x, y float64) bool { return x > y },
		"GreaterOrEqual": func(x, y float64) bool { return x >= y },
	}
	for op, f := range cmps {
		got := ewRun1(t, 16, op, nil, a, b)
		if got.DType != onnx.Bool {
			t.Fatalf("%s: type %v, want BOOL", op, got.DType)
		}
		_, ref := ewRefBroadcast(t, func(v []float64) float64 { return map[bool]float64{true: 1}[f(v[0], v[1])] }, a, b)
		for i, v := range got.Data.([]bool) {
			if v != (ref[i] == 1) {
				t.Fatalf("%s: element %d = %v", op, i, v)
			}
		}
	}
	p := onnx.NewTensor([]int{2, 1}, []bool{true, false})
	q := onnx.NewTensor([]int{3}, []bool{true, false, true})
	for op, want := range map[string][]bool{
		"And": {true, false, true, false, false, false},
		"Or":  {true, true, true, true, false, true},
		"Xor": {false, true, false, true, false, true},
	} {
		if got := ewRun1(t, 7, op, nil, p, q).Data.([]bool); !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", op, got, want)
		}
	}
	if got := ewRun1(t, 1, "Not", nil, q).Data.([]bool); !slices.Equal(got, []bool{false, true, false}) {
		t.Errorf("Not = %v", got)
	}
	x := onnx.NewTensor([]int{3}, []int64{1, 2, 3})
	y := onnx.NewTensor([]int{2, 1}, []int64{-1, -2})
	got := ewRun1(t, 16, "Where", nil, q, x, y)
	if want := []int64{1, -1, 3, 1, -2, 3}; !slices.Equal(got.Int64s(), want) || !slices.Equal(got.Shape, []int{2, 3}) {
		t.Errorf("Where = %v %v, want [2 3] %v", got.Shape, got.Int64s(), want)
	}
	if _, err := ewRunOp(16, "Where", nil, 1, 1, x, x, y); err == nil || !strings.Contains(err.Error(), "BOOL") {
		t.Errorf("Where with an int64 condition: err = %v", err)
	}
}

// Benchmarks of the hot elementwise shapes of CNNs and transformers; b.N
// runs of the kernel itself, without a session.
func BenchmarkAddChannelBias(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	x, bias := ewRandFloats(rng, []int{8, 64, 56, 56}, -1, 1), ewRandFloats(rng, []int{1, 64, 1, 1}, -1, 1)
	c := &runCtx{threads: 2}
	b.SetBytes(int64(4 * x.Len()))
	for b.Loop() {
		if _, err := arith(c, opAdd, x, bias); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSigmoid(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := ewRandFloats(rng, []int{8, 64, 56, 56}, -4, 4)
	c := &runCtx{threads: 2}
	b.SetBytes(int64(4 * x.Len()))
	for b.Loop() {
		if _, err := unaryFloat(c, opSigmoid, unaryParams{}, x); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReduceMeanLastAxis(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := ewRandFloats(rng, []int{8, 197, 768}, -1, 1)
	c := &runCtx{threads: 2}
	b.SetBytes(int64(4 * x.Len()))
	for b.Loop() {
		if _, err := reduce(c, reduceMean, x, []int64{-1}, true); err != nil {
			b.Fatal(err)
		}
	}
}
