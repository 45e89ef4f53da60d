package onnx_test

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"amq/backend"
	"amq/onnx"
)

// TestLoadFileHalvesKeepsLargeFloat16InitializersAsStored checks that
// LoadFileHalves keeps FLOAT16 and BFLOAT16 initializers of 4 KiB and more
// as their stored 16-bit patterns (small ones widened), inline and as
// external data; that they widen to LoadFile's values; and that the model
// saves to the same bytes either way.
func TestLoadFileHalvesKeepsLargeFloat16InitializersAsStored(t *testing.T) {
	t.Parallel()
	vals := make([]float32, 4096)
	for i := range vals {
		vals[i] = float32(i%97)/7 - 6
	}
	g := &onnx.Graph{
		Name:         "halves",
		Inputs:       []*onnx.ValueInfo{{Name: "x", DType: onnx.Float16, Shape: onnx.KnownDims([]int{4096})}},
		Outputs:      []*onnx.ValueInfo{{Name: "y", DType: onnx.Float16, Shape: onnx.KnownDims([]int{4096})}},
		Initializers: map[string]*onnx.Tensor{},
		ValueInfo:    map[string]*onnx.ValueInfo{},
		Nodes: []*onnx.Node{
			{Name: "a", OpType: "Add", Inputs: []string{"x", "big16"}, Outputs: []string{"y"}, Attrs: map[string]*onnx.Attr{}},
		},
	}
	for name, dt := range map[string]onnx.DataType{"big16": onnx.Float16, "bigbf": onnx.BFloat16} {
		x, err := onnx.NewTensor([]int{4096}, vals).Convert(dt)
		if err != nil {
			t.Fatal(err)
		}
		g.Initializers[name] = x
	}
	small, err := onnx.NewTensor([]int{8}, vals[:8]).Convert(onnx.Float16)
	if err != nil {
		t.Fatal(err)
	}
	g.Initializers["small"] = small
	m := &onnx.Model{IRVersion: 8, Opsets: map[string]int64{"": 17}, Graph: g}
	dir := t.TempDir()
	for _, ext := range []bool{false, true} {
		path := filepath.Join(dir, fmt.Sprintf("m%v.onnx", ext))
		if err := m.Save(path, &onnx.SaveOptions{ExternalData: ext}); err != nil {
			t.Fatal(err)
		}
		wide, err := onnx.LoadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		kept, err := onnx.LoadFileHalves(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"big16", "bigbf"} {
			x := kept.Graph.Initializers[name]
			if _, ok := x.Data.(onnx.Halves); !ok {
				t.Errorf("external %v: %s holds %T, want onnx.Halves", ext, name, x.Data)
				continue
			}
			if n, ok := x.DataLen(); n != 4096 || !ok {
				t.Errorf("external %v: %s DataLen = %d, %v", ext, name, n, ok)
			}
			if got, want := fmt.Sprint(x.Widened().Data), fmt.Sprint(wide.Graph.Initializers[name].Data); got != want {
				t.Errorf("external %v: %s widens to other values than LoadFile's", ext, name)
			}
			c, err := x.Convert(onnx.Float)
			if err != nil || fmt.Sprint(c.Data) != fmt.Sprint(wide.Graph.Initializers[name].Data) {
				t.Errorf("external %v: %s converted to FLOAT: %v, other values than LoadFile's", ext, name, err)
			}
		}
		if _, ok := kept.Graph.Initializers["small"].Data.([]float32); !ok {
			t.Errorf("external %v: small initializer holds %T, want []float32", ext, kept.Graph.Initializers["small"].Data)
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
			t.Errorf("external %v: the model with Halves marshals to other bytes than LoadFile's", ext)
		}
	}
}

// TestWidenHalfFloatsKeepsTheGraphsTypesAndValues widens a float16 graph
// (a FLOAT16 input plus a FLOAT16 initializer, a FLOAT16 output): the
// input and output keep their types through Casts, the initializer
// becomes FLOAT with the same values, the caller's shared tensors are left
// alone, and sim computes the same output from both graphs (one float16
// Add rounds as a float32 Add rounded to float16 does).
func TestWidenHalfFloatsKeepsTheGraphsTypesAndValues(t *testing.T) {
	t.Parallel()
	vals := make([]float32, 64)
	for i := range vals {
		vals[i] = float32(i)/3 - 9
	}
	w, err := onnx.NewTensor([]int{64}, vals).Convert(onnx.Float16)
	if err != nil {
		t.Fatal(err)
	}
	g := &onnx.Graph{
		Name:         "half",
		Inputs:       []*onnx.ValueInfo{{Name: "x", DType: onnx.Float16, Shape: onnx.KnownDims([]int{64})}},
		Outputs:      []*onnx.ValueInfo{{Name: "y", DType: onnx.Float16, Shape: onnx.KnownDims([]int{64})}},
		Initializers: map[string]*onnx.Tensor{"w": w},
		ValueInfo:    map[string]*onnx.ValueInfo{},
		Nodes:        []*onnx.Node{{Name: "a", OpType: "Add", Inputs: []string{"x", "w"}, Outputs: []string{"y"}, Attrs: map[string]*onnx.Attr{}}},
	}
	m := &onnx.Model{IRVersion: 8, Opsets: map[string]int64{"": 17}, Graph: g}
	wide := m.CloneShared()
	if !wide.Graph.WidenHalfFloats() {
		t.Fatal("WidenHalfFloats changed nothing")
	}
	if m.Graph.Initializers["w"].DType != onnx.Float16 || m.Graph.Nodes[0].Inputs[0] != "x" {
		t.Error("the original graph changed")
	}
	wg := wide.Graph
	if wg.Inputs[0].DType != onnx.Float16 || wg.Outputs[0].DType != onnx.Float16 || wg.Initializers["w"].DType != onnx.Float {
		t.Errorf("widened: input %v, output %v, initializer %v; want FLOAT16, FLOAT16, FLOAT", wg.Inputs[0].DType, wg.Outputs[0].DType, wg.Initializers["w"].DType)
	}
	if len(wg.Nodes) != 3 || wg.Nodes[0].OpType != "Cast" || wg.Nodes[2].OpType != "Cast" {
		t.Fatalf("widened graph %v, want Cast, Add, Cast", wg.Nodes)
	}
	x, err := onnx.NewTensor([]int{64}, vals).Convert(onnx.Float16)
	if err != nil {
		t.Fatal(err)
	}
	run := func(m *onnx.Model) string {
		r, err := backend.Open("sim", backend.Options{Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		p, err := r.Prepare(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		out, err := p.Run(map[string]*onnx.Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		y := out["y"]
		return fmt.Sprint(y.DType, y.Data)
	}
	if a, b := run(m), run(wide); a != b {
		t.Errorf("float16 graph gives %s, widened %s", a, b)
	}
}

// TestWidenHalvesWidensEveryFloat16AsFloat16ToFloat32 checks the lookup
// table WidenHalves uses against Float16ToFloat32 on all 65536 patterns
// (zeros, subnormals, infinities and NaN payloads included), bit for bit.
func TestWidenHalvesWidensEveryFloat16AsFloat16ToFloat32(t *testing.T) {
	t.Parallel()
	src := make(onnx.Halves, 1<<16)
	for i := range src {
		src[i] = uint16(i)
	}
	dst := make([]float32, len(src))
	onnx.WidenHalves(onnx.Float16, dst, src)
	for i, v := range dst {
		if want := onnx.Float16ToFloat32(uint16(i)); math.Float32bits(v) != math.Float32bits(want) {
			t.Fatalf("%#04x widens to %#08x, want %#08x", i, math.Float32bits(v), math.Float32bits(want))
		}
	}
}
