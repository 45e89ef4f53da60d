package onnx_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"amq/onnx"
)

// TestWidenHalfFloatsKeepsStoredHalvesCompact checks that widening a model
// LoadFileHalves loaded keeps its large float16 and bfloat16 initializers
// 16-bit, as FLOAT tensors holding onnx.HalfFloats, whose elements,
// clones and saved bytes (inline and as external data) are those of the
// same model loaded with LoadFile and widened up front.
func TestWidenHalfFloatsKeepsStoredHalvesCompact(t *testing.T) {
	t.Parallel()
	vals := make([]float32, 3*4096+5)
	for i := range vals {
		vals[i] = float32(i%97)/7 - 6 + float32(i)*1e-4
	}
	g := &onnx.Graph{
		Name:         "halves",
		Inputs:       []*onnx.ValueInfo{{Name: "x", DType: onnx.Float16, Shape: onnx.KnownDims([]int{len(vals)})}},
		Outputs:      []*onnx.ValueInfo{{Name: "y", DType: onnx.Float16, Shape: onnx.KnownDims([]int{len(vals)})}},
		Initializers: map[string]*onnx.Tensor{},
		ValueInfo:    map[string]*onnx.ValueInfo{},
		Nodes: []*onnx.Node{
			{Name: "a", OpType: "Add", Inputs: []string{"x", "big16"}, Outputs: []string{"s"}, Attrs: map[string]*onnx.Attr{}},
			{Name: "b", OpType: "Add", Inputs: []string{"s", "bigbf"}, Outputs: []string{"y"}, Attrs: map[string]*onnx.Attr{}},
		},
	}
	for name, dt := range map[string]onnx.DataType{"big16": onnx.Float16, "bigbf": onnx.BFloat16} {
		x, err := onnx.NewTensor([]int{len(vals)}, vals).Convert(dt)
		if err != nil {
			t.Fatal(err)
		}
		g.Initializers[name] = x
	}
	m := &onnx.Model{IRVersion: 8, Opsets: map[string]int64{"": 17}, Graph: g}
	dir := t.TempDir()
	src := filepath.Join(dir, "m.onnx")
	if err := m.Save(src, nil); err != nil {
		t.Fatal(err)
	}
	wide, err := onnx.LoadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := onnx.LoadFileHalves(src)
	if err != nil {
		t.Fatal(err)
	}
	if !wide.Graph.WidenHalfFloats() || !kept.Graph.WidenHalfFloats() {
		t.Fatal("WidenHalfFloats changed nothing")
	}
	for _, name := range []string{"big16", "bigbf"} {
		x, w := kept.Graph.Initializers[name], wide.Graph.Initializers[name]
		h, ok := x.Data.(onnx.HalfFloats)
		if !ok || x.DType != onnx.Float {
			t.Errorf("%s: %v holding %T, want FLOAT holding onnx.HalfFloats", name, x.DType, x.Data)
			continue
		}
		if n, ok := x.DataLen(); n != len(vals) || !ok {
			t.Errorf("%s: DataLen = %d, %v", name, n, ok)
		}
		want := fmt.Sprint(w.Data)
		if got := fmt.Sprint(x.Widened().Data); got != want {
			t.Errorf("%s widens to other values than LoadFile's", name)
		}
		if c := x.Clone(); fmt.Sprint(c.Data) != want {
			t.Errorf("%s: a clone holds %T, not LoadFile's values in []float32", name, c.Data)
		}
		part := make([]float32, 7)
		h.WidenTo(part, 4096)
		if fmt.Sprint(part) != fmt.Sprint(w.Floats()[4096:4103]) {
			t.Errorf("%s: WidenTo at 4096 gives %v, want %v", name, part, w.Floats()[4096:4103])
		}
	}
	a, err := wide.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	b, err := kept.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("the widened model with HalfFloats marshals to other bytes than the one widened up front")
	}
	for _, ext := range []bool{false, true} {
		// The same file name in two folders: external data is named after it.
		name := fmt.Sprintf("m%v.onnx", ext)
		pa, pb := filepath.Join(dir, "a", name), filepath.Join(dir, "b", name)
		for _, p := range []string{pa, pb} {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := wide.Save(pa, &onnx.SaveOptions{ExternalData: ext}); err != nil {
			t.Fatal(err)
		}
		if err := kept.Save(pb, &onnx.SaveOptions{ExternalData: ext}); err != nil {
			t.Fatal(err)
		}
		for _, suffix := range []string{"", ".data"} {
			if !ext && suffix != "" {
				continue
			}
			x, errA := os.ReadFile(pa + suffix)
			y, errB := os.ReadFile(pb + suffix)
			if errA != nil || errB != nil || !bytes.Equal(x, y) {
				t.Errorf("external %v: %s%s differs (%v, %v)", ext, filepath.Base(pb), suffix, errA, errB)
			}
		}
	}
}
