package ort_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"amq/internal/ort"
	"amq/internal/testfixture"
	"amq/onnx"
)

// TestSessionMatchesPyTorchOnFixtures runs the PyTorch fixtures in ONNX Runtime and compares with
// PyTorch's own outputs: it validates the wrapper (input/output plumbing,
// threads option) against an independent reference.
func TestSessionMatchesPyTorchOnFixtures(t *testing.T) {
	t.Parallel()
	testfixture.RequireORT(t)
	for _, f := range testfixture.Fixtures(t, "model_op*.onnx") {
		t.Run(f.Name, func(t *testing.T) {
			in, ref := f.Input(t), f.Output(t)
			s, err := ort.NewSession(f.Model, &ort.Options{Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if len(s.Inputs()) != 1 || len(s.Outputs()) != 1 {
				t.Fatalf("inputs %v outputs %v, want one each", s.Inputs(), s.Outputs())
			}
			out, err := s.Run(map[string]*onnx.Tensor{s.Inputs()[0]: in})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := testfixture.CompareToReference(out[s.Outputs()[0]], ref, 1e-4); err != nil {
				t.Fatalf("against PyTorch: %v", err)
			}
		})
	}
}

// typesModel builds a graph that passes every supported element type
// through an operator, plus a rank-0 output and an output of unknown shape.
func typesModel() *onnx.Model {
	vi := func(name string, dt onnx.DataType, shape ...int) *onnx.ValueInfo {
		return &onnx.ValueInfo{Name: name, DType: dt, Shape: onnx.KnownDims(shape)}
	}
	node := func(op string, in []string, out ...string) *onnx.Node {
		return &onnx.Node{Name: out[0] + "_node", OpType: op, Inputs: in, Outputs: out, Attrs: map[string]*onnx.Attr{}}
	}
	sum := node("ReduceSum", []string{"x"}, "sum")
	sum.SetAttr("keepdims", int64(0))
	g := &onnx.Graph{
		Name: "types",
		Inputs: []*onnx.ValueInfo{
			vi("x", onnx.Float, 2, 3), vi("i", onnx.Int64, 2, 3), vi("b", onnx.Bool, 2, 3),
			vi("q", onnx.Int8, 2, 3), vi("n", onnx.Int32, 2, 3), vi("s", onnx.Float),
		},
		Outputs: []*onnx.ValueInfo{
			vi("i2", onnx.Int64, 2, 3), vi("nb", onnx.Bool, 2, 3), vi("q2", onnx.Int8, 2, 3),
			vi("n2", onnx.Int32, 2, 3), vi("sum", onnx.Float), vi("xs", onnx.Float, 2, 3),
			{Name: "w", DType: onnx.Float}, // rank unknown
		},
		Initializers: map[string]*onnx.Tensor{},
		ValueInfo:    map[string]*onnx.ValueInfo{},
		Nodes: []*onnx.Node{
			node("Add", []string{"i", "i"}, "i2"),
			node("Not", []string{"b"}, "nb"),
			node("Neg", []string{"q"}, "q2"),
			node("Mul", []string{"n", "n"}, "n2"),
			sum,
			node("Mul", []string{"x", "s"}, "xs"),
			node("Where", []string{"b", "x", "xs"}, "w"),
		},
	}
	return &onnx.Model{IRVersion: 8, Opsets: map[string]int64{"": 13}, Graph: g}
}

// TestSessionConvertsEveryElementType checks every input/output conversion against values computed
// here, including a scalar input and output and an output of unknown rank.
func TestSessionConvertsEveryElementType(t *testing.T) {
	t.Parallel()
	testfixture.RequireORT(t)
	s, err := ort.NewSessionFromModel(typesModel(), &ort.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	x := []float32{1, -2, 3.5, 0, 7, -0.25}
	in := map[string]*onnx.Tensor{
		"x": onnx.NewTensor([]int{2, 3}, x),
		"i": onnx.NewTensor([]int{2, 3}, []int64{1, 1 << 40, -3, 4, 5, 6}),
		"b": onnx.NewTensor([]int{2, 3}, []bool{true, false, true, false, false, true}),
		"q": onnx.NewTensor([]int{2, 3}, []int8{-127, 0, 1, 127, -5, 9}),
		"n": onnx.NewTensor([]int{2, 3}, []int32{1, -2, 3, 40000, 5, 6}),
		"s": onnx.NewTensor(nil, []float32{3}),
	}
	out, err := s.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, dt onnx.DataType, shape []int, want any) {
		t.Helper()
		got, ok := out[name]
		if !ok {
			t.Fatalf("output %q missing", name)
		}
		if got.DType != dt || fmt.Sprint(got.Shape) != fmt.Sprint(shape) || fmt.Sprint(got.Data) != fmt.Sprint(want) {
			t.Errorf("%s = %v %v %v, want %v %v %v", name, got.DType, got.Shape, got.Data, dt, shape, want)
		}
	}
	check("i2", onnx.Int64, []int{2, 3}, []int64{2, 2 << 40, -6, 8, 10, 12})
	check("nb", onnx.Bool, []int{2, 3}, []bool{false, true, false, true, true, false})
	check("q2", onnx.Int8, []int{2, 3}, []int8{127, 0, -1, -127, 5, -9})
	check("n2", onnx.Int32, []int{2, 3}, []int32{1, 4, 9, 1600000000, 25, 36})
	var total float32
	for _, v := range x {
		total += v
	}
	check("sum", onnx.Float, []int{}, []float32{total})
	check("xs", onnx.Float, []int{2, 3}, []float32{3, -6, 10.5, 0, 21, -0.75})
	check("w", onnx.Float, []int{2, 3}, []float32{1, -6, 3.5, 0, 21, -0.25})

	sub, err := s.Run(in, "q2")
	if err != nil {
		t.Fatal(err)
	}
	if len(sub) != 1 || sub["q2"] == nil {
		t.Errorf("Run(in, \"q2\") returned %d outputs, want only q2", len(sub))
	}
}

// TestSessionErrorsNameTheTensor checks that bad calls fail with errors naming the tensor.
func TestSessionErrorsNameTheTensor(t *testing.T) {
	t.Parallel()
	testfixture.RequireORT(t)
	s, err := ort.NewSessionFromModel(typesModel(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	good := func() map[string]*onnx.Tensor {
		return map[string]*onnx.Tensor{
			"x": onnx.NewTensor([]int{2, 3}, make([]float32, 6)),
			"i": onnx.NewTensor([]int{2, 3}, make([]int64, 6)),
			"b": onnx.NewTensor([]int{2, 3}, make([]bool, 6)),
			"q": onnx.NewTensor([]int{2, 3}, make([]int8, 6)),
			"n": onnx.NewTensor([]int{2, 3}, make([]int32, 6)),
			"s": onnx.NewTensor(nil, []float32{1}),
		}
	}
	cases := []struct {
		name   string
		modify func(map[string]*onnx.Tensor)
		want   string
	}{
		{"missing", func(m map[string]*onnx.Tensor) { delete(m, "q") }, `input "q" is missing`},
		{"dtype", func(m map[string]*onnx.Tensor) { m["i"] = onnx.NewTensor([]int{2, 3}, make([]int32, 6)) }, `input "i" is INT32`},
		{"unknown", func(m map[string]*onnx.Tensor) { m["zz"] = m["x"] }, `"zz" is not an input`},
		{"short data", func(m map[string]*onnx.Tensor) { m["x"].Data = make([]float32, 5) }, `input "x"`},
		{"shape", func(m map[string]*onnx.Tensor) { m["x"] = onnx.NewTensor([]int{3, 2}, make([]float32, 6)) }, "x"},
	}
	for _, c := range cases {
		in := good()
		c.modify(in)
		_, err := s.Run(in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to mention %q", c.name, err, c.want)
		}
	}
	if _, err := s.Run(good(), "nope"); err == nil || !strings.Contains(err.Error(), `"nope" is not an output`) {
		t.Errorf("unknown output: error %v", err)
	}
	if _, err := ort.NewSession(filepath.Join(t.TempDir(), "absent.onnx"), nil); err == nil || !strings.Contains(err.Error(), "absent.onnx") {
		t.Errorf("missing file: error %v, want it to name the file", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(good()); err == nil {
		t.Error("Run after Close succeeded")
	}
}

// TestSessionRunsConcurrently runs one session from several goroutines (ONNX Runtime
// sessions are thread-safe) and checks every result against a serial run.
func TestSessionRunsConcurrently(t *testing.T) {
	t.Parallel()
	testfixture.RequireORT(t)
	f := testfixture.Named(t, "transformer/model_op17")
	s, err := ort.NewSession(f.Model, &ort.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in := map[string]*onnx.Tensor{"input": f.Input(t)}
	want, err := s.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			got, err := s.Run(in)
			if err == nil && fmt.Sprint(got["output"].Data) != fmt.Sprint(want["output"].Data) {
				err = fmt.Errorf("concurrent run differs from the serial one")
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
