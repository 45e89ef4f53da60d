package sim_test

import (
	"math"
	"slices"
	"testing"

	"amq/backend"
	"amq/npy"
	"amq/onnx"
	"amq/sim"
)

// fp16Fixture loads sim/testdata/fp16 (scripts/make-fp16-fixture.py): two
// norms whose sums of squares pass 65504 on some rows.
func fp16Fixture(t *testing.T) (*onnx.Model, *onnx.Tensor) {
	t.Helper()
	m, err := onnx.LoadFile("testdata/fp16/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	x, err := npy.ReadFile("testdata/fp16/x.npy")
	if err != nil {
		t.Fatal(err)
	}
	return m, x
}

func runFP16(t *testing.T, m *onnx.Model, p sim.Precision, feeds map[string]*onnx.Tensor, fetch ...string) (map[string]*onnx.Tensor, []sim.FP16Stat) {
	t.Helper()
	s, err := sim.NewSession(m, &sim.Options{Threads: 2, Precision: p})
	if err != nil {
		t.Fatal(err)
	}
	out, stats, err := s.RunFP16(feeds, fetch...)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return out, stats
}

func flagged(stats []sim.FP16Stat) []string {
	var names []string
	for _, s := range stats {
		if s.Flagged() {
			names = append(names, s.Node)
		}
	}
	return names
}

// TestForceFP16FlagsSumOfSquaresOverflow checks the fixture's norms under
// force_fp16: the nodes whose float32 result passes 65504 are flagged by
// name with their counts, and the outputs equal NumPy's float16
// computation of the same graph bit for bit (zeros where the overflowed
// norm divides by infinity).
func TestForceFP16FlagsSumOfSquaresOverflow(t *testing.T) {
	m, x := fp16Fixture(t)
	out, stats := runFP16(t, m, backend.ForceFP16, map[string]*onnx.Tensor{"x": x})
	if got, want := flagged(stats), []string{"rms/ReduceSumSquare", "ln/Pow"}; !slices.Equal(got, want) {
		t.Fatalf("flagged nodes %v, want %v (stats %+v)", got, want, stats)
	}
	for _, s := range stats {
		switch s.Tensor {
		case "ss":
			// Rows 0 and 2 (the 300 channel) pass 65504; rows 1 and 3 do not.
			if s.Overflow != 2 || s.Elements != 4 || s.MaxAbs <= 65504 {
				t.Errorf("%s: %+v, want 2 of 4 values overflowing", s.Node, s)
			}
		case "d2":
			if s.Overflow != 1 || s.Elements != 64 {
				t.Errorf("%s: %+v, want the one outlier of 64 values overflowing", s.Node, s)
			}
		}
	}
	for _, name := range []string{"rms_out", "ln_out"} {
		want, err := npy.ReadFile("testdata/fp16/" + name[:len(name)-4] + "_force_fp16.npy")
		if err != nil {
			t.Fatal(err)
		}
		got := out[name].Floats()
		w := want.Floats()
		if !slices.Equal(out[name].Shape, want.Shape) {
			t.Fatalf("%s: shape %v, NumPy's %v", name, out[name].Shape, want.Shape)
		}
		for i := range w {
			if math.Float32bits(got[i]) != math.Float32bits(w[i]) {
				t.Errorf("%s[%d] = %v under force_fp16, NumPy's float16 gives %v", name, i, got[i], w[i])
			}
		}
	}
	// The overflowed rows collapse: row 0 of the RMSNorm to zeros, row 2 of
	// the LayerNorm to beta.
	if r := out["rms_out"].Floats()[:16]; slices.ContainsFunc(r, func(v float32) bool { return v != 0 }) {
		t.Errorf("rms_out row 0 = %v, want zeros", r)
	}
}

// TestForceFP32FlagsNothingOnVectorNorms checks that force_fp32, where
// vector operators keep float32, leaves the fixture's values exact: the
// outputs equal the default session's and no node is flagged, while the
// default session reports no statistics at all.
func TestForceFP32FlagsNothingOnVectorNorms(t *testing.T) {
	m, x := fp16Fixture(t)
	feeds := map[string]*onnx.Tensor{"x": x}
	ref, refStats := runFP16(t, m, backend.PrecisionDefault, feeds)
	if refStats != nil {
		t.Errorf("default precision returned statistics %+v", refStats)
	}
	for _, p := range []sim.Precision{backend.ForceFP32, backend.MustKeepOriginDtype, backend.AllowFP32ToFP16} {
		out, stats := runFP16(t, m, p, feeds)
		if f := flagged(stats); len(f) > 0 {
			t.Errorf("%s flags %v", p, f)
		}
		for _, name := range []string{"rms_out", "ln_out"} {
			if !slices.Equal(out[name].Floats(), ref[name].Floats()) {
				t.Errorf("%s: %s differs from float32", p, name)
			}
			for i, v := range ref[name].Floats() {
				if math.IsInf(float64(v), 0) || v != v {
					t.Fatalf("float32 %s[%d] = %v", name, i, v)
				}
			}
		}
	}
}

// TestPrecisionModesRoundMatrixAndVectorOps checks each mode's rule on a
// MatMul followed by an Add, with values that float16 cannot hold:
// force_fp16 rounds both, allow_fp32_to_fp16 only the MatMul, force_fp32
// only the MatMul's inputs (float16 in, float32 out), and
// must_keep_origin_dtype nothing.
func TestPrecisionModesRoundMatrixAndVectorOps(t *testing.T) {
	const tiny = 1.0 / 4096 // below float16's half-ulp at 1 (2^-11)
	g := &onnx.Graph{
		Nodes: []*onnx.Node{
			{Name: "mm", OpType: "MatMul", Inputs: []string{"x", "w"}, Outputs: []string{"y"}},
			{Name: "add", OpType: "Add", Inputs: []string{"y", "b"}, Outputs: []string{"z"}},
		},
		Inputs:  []*onnx.ValueInfo{{Name: "x", DType: onnx.Float, Shape: onnx.KnownDims([]int{1, 2})}},
		Outputs: []*onnx.ValueInfo{{Name: "z", DType: onnx.Float}},
		Initializers: map[string]*onnx.Tensor{
			"w": onnx.NewTensor([]int{2, 1}, []float32{1, 1}),
			"b": onnx.NewTensor([]int{1}, []float32{tiny}),
		},
	}
	m := &onnx.Model{Graph: g, Opsets: map[string]int64{"": 13}}
	g.Reindex()
	x := onnx.NewTensor([]int{1, 2}, []float32{1 + tiny, 2048 + 1})
	cases := []struct {
		p    sim.Precision
		y, z float32
	}{
		// x as float16 is [1, 2048]; y = 2049 rounds to 2048 in float16.
		{backend.PrecisionDefault, 1 + tiny + 2049, 1 + tiny + 2049 + tiny},
		{backend.MustKeepOriginDtype, 1 + tiny + 2049, 1 + tiny + 2049 + tiny},
		{backend.ForceFP32, 2049, 2049 + tiny},
		{backend.AllowFP32ToFP16, 2048, 2048 + tiny},
		{backend.ForceFP16, 2048, 2048},
	}
	for _, c := range cases {
		out, _ := runFP16(t, m, c.p, map[string]*onnx.Tensor{"x": x}, "y")
		if y, z := out["y"].Floats()[0], out["z"].Floats()[0]; y != c.y || z != c.z {
			t.Errorf("%q: y = %v, z = %v; want %v, %v", c.p, y, z, c.y, c.z)
		}
	}
}

// TestForceFP16RoundsAscendQuantInputAndDequantOutput checks the Ascend
// int8 operators under force_fp16: AscendQuant reads its input as float16
// (so 0.50049 quantizes as 0.5 would) and AscendDequant's result is
// rounded to float16, as the NPU's operators read and write float16
// activations.
func TestForceFP16RoundsAscendQuantInputAndDequantOutput(t *testing.T) {
	q := &onnx.Node{Name: "q", OpType: "AscendQuant", Inputs: []string{"x"}, Outputs: []string{"xq"}}
	q.SetAttr("scale", float32(1))
	q.SetAttr("offset", float32(0))
	q.SetAttr("round_mode", "Round")
	cast := &onnx.Node{Name: "cast", OpType: "Cast", Inputs: []string{"xq"}, Outputs: []string{"acc"}}
	cast.SetAttr("to", int64(onnx.Int32))
	dq := &onnx.Node{Name: "dq", OpType: "AscendDequant", Inputs: []string{"acc", "deq"}, Outputs: []string{"y"}}
	scale := float32(1.0 / 3)
	g := &onnx.Graph{
		Nodes:   []*onnx.Node{q, cast, dq},
		Inputs:  []*onnx.ValueInfo{{Name: "x", DType: onnx.Float, Shape: onnx.KnownDims([]int{2})}},
		Outputs: []*onnx.ValueInfo{{Name: "y", DType: onnx.Float}},
		Initializers: map[string]*onnx.Tensor{
			"deq": onnx.NewTensor([]int{1}, []uint64{uint64(math.Float32bits(scale))}),
		},
	}
	g.Reindex()
	m := &onnx.Model{Graph: g, Opsets: map[string]int64{"": 13}}
	// 2.5 + 2^-11 rounds to 3 in float32 but is 2.5 in float16 (whose
	// spacing there is 2^-9), which rounds half to even to 2.
	x := onnx.NewTensor([]int{2}, []float32{2.5 + 1.0/2048, 7})
	for _, c := range []struct {
		p    sim.Precision
		want []float32
	}{
		{backend.PrecisionDefault, []float32{3 * scale, 7 * scale}},
		{backend.ForceFP16, []float32{fp16(2 * scale), fp16(7 * scale)}},
	} {
		out, _ := runFP16(t, m, c.p, map[string]*onnx.Tensor{"x": x})
		if got := out["y"].Floats(); !slices.Equal(got, c.want) {
			t.Errorf("%q: y = %v, want %v", c.p, got, c.want)
		}
	}
}

func fp16(v float32) float32 { return onnx.Float16ToFloat32(onnx.Float32ToFloat16(v)) }

// TestForceFP16CountsFlushToZeroAndConstants checks the two other ways
// float16 loses values: a tensor whose values fall below 2^-25 flushes to
// zero (flagged in bulk), and a constant beyond 65504 becomes infinite when
// the NPU reads it as float16, counted once per run at its first reader.
func TestForceFP16CountsFlushToZeroAndConstants(t *testing.T) {
	g := &onnx.Graph{
		Nodes: []*onnx.Node{
			{Name: "small", OpType: "Mul", Inputs: []string{"x", "tiny"}, Outputs: []string{"s"}},
			{Name: "mask", OpType: "Add", Inputs: []string{"x", "big"}, Outputs: []string{"m"}},
		},
		Inputs:  []*onnx.ValueInfo{{Name: "x", DType: onnx.Float, Shape: onnx.KnownDims([]int{4})}},
		Outputs: []*onnx.ValueInfo{{Name: "s", DType: onnx.Float}, {Name: "m", DType: onnx.Float}},
		Initializers: map[string]*onnx.Tensor{
			"tiny": onnx.NewTensor([]int{1}, []float32{1e-4}),
			"big":  onnx.NewTensor([]int{1}, []float32{-1e9}),
		},
	}
	g.Reindex()
	m := &onnx.Model{Graph: g, Opsets: map[string]int64{"": 13}}
	s, err := sim.NewSession(m, &sim.Options{Precision: backend.ForceFP16})
	if err != nil {
		t.Fatal(err)
	}
	// Times 1e-4, the first three fall below 2^-25 (2.98e-8).
	x := onnx.NewTensor([]int{4}, []float32{1e-4, 2e-4, 2.5e-4, 1})
	for range 2 {
		out, stats, err := s.RunFP16(map[string]*onnx.Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		by := map[string]sim.FP16Stat{}
		for _, st := range stats {
			by[st.Tensor] = st
		}
		if st := by["s"]; st.Underflow != 3 || st.Elements != 4 || !st.Flagged() {
			t.Errorf("s: %+v, want 3 of 4 values flushed to zero, flagged", st)
		}
		if st := by["big"]; st.Node != "mask" || st.Overflow != 1 || !st.Flagged() {
			t.Errorf("big: %+v, want the constant's overflow at its reader mask", st)
		}
		if st := by["x"]; st.Node != "small" || st.Flagged() {
			t.Errorf("x: %+v, want read as float16 by its first reader, not flagged", st)
		}
		if got := out["m"].Floats(); !math.IsInf(float64(got[0]), -1) {
			t.Errorf("m = %v, want -Inf", got)
		}
		if len(stats) != 5 { // x, tiny, s, big, m
			t.Errorf("%d statistics, want 5: %+v", len(stats), stats)
		}
	}
}

// TestSimBackendSumsFP16StatsOverRuns checks the sim backend's runner: it
// reports through backend.FP16Reporter the statistics of every Run so far.
func TestSimBackendSumsFP16StatsOverRuns(t *testing.T) {
	m, x := fp16Fixture(t)
	b, err := backend.Open("sim", backend.Options{Precision: backend.ForceFP16})
	if err != nil {
		t.Fatal(err)
	}
	r, err := b.Prepare(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rep, ok := r.(backend.FP16Reporter)
	if !ok {
		t.Fatal("sim runner does not implement backend.FP16Reporter")
	}
	for range 3 {
		if _, err := r.Run(map[string]*onnx.Tensor{"x": x}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range rep.FP16Stats() {
		if s.Tensor == "ss" && (s.Overflow != 6 || s.Elements != 12) {
			t.Errorf("%+v: want 6 of 12 values over three runs", s)
		}
	}
	if _, err := backend.Open("sim", backend.Options{Precision: "fp8"}); err == nil {
		t.Error("sim opened with precision fp8")
	}
}
