package ort_test

import (
	"fmt"
	"strings"
	"testing"

	"amq/internal/ort"
	"amq/internal/testfixture"
	"amq/onnx"
)

// TestSessionReturnsFloat16Outputs runs a graph whose outputs are FLOAT16
// (one computed from a FLOAT16 input, one cast from FLOAT) and checks the
// values against onnx's own float16 rounding.
func TestSessionReturnsFloat16Outputs(t *testing.T) {
	t.Parallel()
	testfixture.RequireORT(t)
	vi := func(name string, dt onnx.DataType, shape ...int) *onnx.ValueInfo {
		return &onnx.ValueInfo{Name: name, DType: dt, Shape: onnx.KnownDims(shape)}
	}
	cast := &onnx.Node{Name: "cast", OpType: "Cast", Inputs: []string{"x"}, Outputs: []string{"xh"}, Attrs: map[string]*onnx.Attr{}}
	cast.SetAttr("to", int64(onnx.Float16))
	g := &onnx.Graph{
		Name:         "half",
		Inputs:       []*onnx.ValueInfo{vi("x", onnx.Float, 2, 3), vi("h", onnx.Float16, 2, 3)},
		Outputs:      []*onnx.ValueInfo{vi("xh", onnx.Float16, 2, 3), vi("hh", onnx.Float16, 2, 3)},
		Initializers: map[string]*onnx.Tensor{},
		ValueInfo:    map[string]*onnx.ValueInfo{},
		Nodes: []*onnx.Node{
			cast,
			{Name: "add", OpType: "Add", Inputs: []string{"h", "h"}, Outputs: []string{"hh"}, Attrs: map[string]*onnx.Attr{}},
		},
	}
	m := &onnx.Model{IRVersion: 8, Opsets: map[string]int64{"": 13}, Graph: g}
	s, err := ort.NewSessionFromModel(m, &ort.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	x := []float32{1, -2, 3.1, 0, 70000, 1e-3}
	h, err := onnx.NewTensor([]int{2, 3}, x).Convert(onnx.Float16)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(map[string]*onnx.Tensor{"x": onnx.NewTensor([]int{2, 3}, x), "h": h})
	if err != nil {
		t.Fatal(err)
	}
	hd := h.Floats()
	twice := make([]float32, len(hd))
	for i, v := range hd {
		twice[i] = onnx.Float16ToFloat32(onnx.Float32ToFloat16(2 * v))
	}
	for name, want := range map[string][]float32{"xh": hd, "hh": twice} {
		got := out[name]
		if got == nil || got.DType != onnx.Float16 || fmt.Sprint(got.Shape) != "[2 3]" || fmt.Sprint(got.Data) != fmt.Sprint(want) {
			t.Errorf("%s = %+v, want FLOAT16 [2 3] %v", name, got, want)
		}
	}
}

// TestSessionRefusesFloat16OutputsOfUnknownShape checks that a FLOAT16
// output whose shape ONNX Runtime only learns when running fails with an
// error naming the output instead of crashing.
func TestSessionRefusesFloat16OutputsOfUnknownShape(t *testing.T) {
	t.Parallel()
	testfixture.RequireORT(t)
	dyn := []onnx.Dim{{Param: "n"}}
	g := &onnx.Graph{
		Name:         "half",
		Inputs:       []*onnx.ValueInfo{{Name: "h", DType: onnx.Float16, Shape: dyn}},
		Outputs:      []*onnx.ValueInfo{{Name: "hh", DType: onnx.Float16, Shape: dyn}},
		Initializers: map[string]*onnx.Tensor{},
		ValueInfo:    map[string]*onnx.ValueInfo{},
		Nodes:        []*onnx.Node{{Name: "add", OpType: "Add", Inputs: []string{"h", "h"}, Outputs: []string{"hh"}, Attrs: map[string]*onnx.Attr{}}},
	}
	s, err := ort.NewSessionFromModel(&onnx.Model{IRVersion: 8, Opsets: map[string]int64{"": 13}, Graph: g}, &ort.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h, err := onnx.NewTensor([]int{3}, []float32{1, 2, 3}).Convert(onnx.Float16)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Run(map[string]*onnx.Tensor{"h": h})
	if err == nil || !strings.Contains(err.Error(), `"hh"`) {
		t.Errorf("Run = %v, want an error naming output \"hh\"", err)
	}
}
