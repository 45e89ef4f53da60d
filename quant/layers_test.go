package quant

import (
	"path/filepath"
	"strings"
	"testing"

	"amq/internal/ort"
	"amq/internal/testfixture"
	"amq/onnx"
)

func TestFindLayersExcludesUnsupportedWithRule(t *testing.T) {
	t.Parallel()
	x4 := map[string][]int{"x": {1, 4, 8, 8}}
	cases := []struct {
		name string
		m    *onnx.Model
		opt  FindOptions
		rule string // "" = quantized
	}{
		{"conv2d", testGraph(x4, map[string][]int{"w": {2, 4, 3, 3}, "b": {2}}, []string{"y"},
			node("Conv", "L", []string{"x", "w", "b"}, []string{"y"})), FindOptions{}, ""},
		{"gemm", testGraph(map[string][]int{"x": {2, 4}}, map[string][]int{"w": {3, 4}}, []string{"y"},
			node("Gemm", "L", []string{"x", "w"}, []string{"y"}, "transB", 1)), FindOptions{}, ""},
		{"gemm transA", testGraph(map[string][]int{"x": {4, 2}}, map[string][]int{"w": {4, 3}}, []string{"y"},
			node("Gemm", "L", []string{"x", "w"}, []string{"y"}, "transA", 1)), FindOptions{}, "transA = 1"},
		{"gemm weight input", testGraph(map[string][]int{"x": {2, 4}, "w": {4, 3}}, nil, []string{"y"},
			node("Gemm", "L", []string{"x", "w"}, []string{"y"})), FindOptions{}, "weight \"w\" is not a constant"},
		{"gemm weight via Constant", testGraph(map[string][]int{"x": {2, 4}}, nil, []string{"y"},
			node("Constant", "C", nil, []string{"w"}, "value", onnx.NewTensor([]int{4, 3}, make([]float32, 12))),
			node("Gemm", "L", []string{"x", "w"}, []string{"y"})), FindOptions{}, ""},
		{"matmul 3-D", testGraph(map[string][]int{"x": {2, 4}}, map[string][]int{"w": {2, 4, 3}}, []string{"y"},
			node("MatMul", "L", []string{"x", "w"}, []string{"y"})), FindOptions{}, "not a 2-D constant"},
		{"matmul activation", testGraph(map[string][]int{"x": {2, 4}, "z": {4, 3}}, nil, []string{"y"},
			node("MatMul", "L", []string{"x", "z"}, []string{"y"})), FindOptions{}, "not a constant"},
		{"conv non-constant bias", testGraph(map[string][]int{"x": {1, 4, 8, 8}, "b": {2}}, map[string][]int{"w": {2, 4, 3, 3}}, []string{"y"},
			node("Conv", "L", []string{"x", "w", "b"}, []string{"y"})), FindOptions{}, "bias \"b\" is not a constant"},
		{"conv3d depth dilation", testGraph(map[string][]int{"x": {1, 4, 8, 8, 8}}, map[string][]int{"w": {2, 4, 3, 3, 3}}, []string{"y"},
			node("Conv", "L", []string{"x", "w"}, []string{"y"}, "dilations", []int64{2, 1, 1})), FindOptions{}, "dilation 2 along depth"},
		{"conv3d", testGraph(map[string][]int{"x": {1, 4, 8, 8, 8}}, map[string][]int{"w": {2, 4, 3, 3, 3}}, []string{"y"},
			node("Conv", "L", []string{"x", "w"}, []string{"y"}, "dilations", []int64{1, 2, 2})), FindOptions{}, ""},
		{"convtranspose1d", testGraph(map[string][]int{"x": {1, 4, 8}}, map[string][]int{"w": {4, 2, 3}}, []string{"y"},
			node("ConvTranspose", "L", []string{"x", "w"}, []string{"y"})), FindOptions{}, "ConvTranspose1d"},
		{"convtranspose3d", testGraph(map[string][]int{"x": {1, 4, 8, 8, 8}}, map[string][]int{"w": {4, 2, 3, 3, 3}}, []string{"y"},
			node("ConvTranspose", "L", []string{"x", "w"}, []string{"y"})), FindOptions{}, "ConvTranspose3d"},
		{"convtranspose dilation", testGraph(x4, map[string][]int{"w": {4, 2, 3, 3}}, []string{"y"},
			node("ConvTranspose", "L", []string{"x", "w"}, []string{"y"}, "dilations", []int64{2, 2})), FindOptions{}, "dilations [2 2]"},
		{"skip layer", testGraph(x4, map[string][]int{"w": {2, 4, 3, 3}}, []string{"y"},
			node("Conv", "L", []string{"x", "w"}, []string{"y"})), FindOptions{SkipLayers: []string{"L"}}, "skip_layers in config"},
		{"skip type", testGraph(x4, map[string][]int{"w": {2, 4, 3, 3}}, []string{"y"},
			node("Conv", "L", []string{"x", "w"}, []string{"y"})), FindOptions{SkipTypes: []string{"Conv"}}, "skip_layer_types in config"},
		{"weight also a graph output", testGraph(x4, map[string][]int{"w": {2, 4, 3, 3}}, []string{"y", "w"},
			node("Conv", "L", []string{"x", "w"}, []string{"y"})), FindOptions{KeepShared: true}, "shared with a graph output"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			layers, excl, err := FindLayers(c.m, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			if c.rule == "" {
				if len(layers) != 1 || len(excl) != 0 {
					t.Fatalf("want 1 layer, got %d layers, exclusions %v", len(layers), excl)
				}
				return
			}
			if len(layers) != 0 || len(excl) != 1 {
				t.Fatalf("want 1 exclusion, got %d layers, exclusions %v", len(layers), excl)
			}
			if excl[0].Layer != "L" || !strings.Contains(excl[0].Rule, c.rule) {
				t.Fatalf("exclusion %+v, want rule containing %q", excl[0], c.rule)
			}
		})
	}
	// Unknown skip entries are errors.
	m := testGraph(x4, map[string][]int{"w": {2, 4, 3, 3}}, []string{"y"}, node("Conv", "L", []string{"x", "w"}, []string{"y"}))
	if _, _, err := FindLayers(m, FindOptions{SkipLayers: []string{"nope"}}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown skip layer: err = %v", err)
	}
	if _, _, err := FindLayers(m, FindOptions{SkipTypes: []string{"Relu"}}); err == nil || !strings.Contains(err.Error(), "skip_layer_types") {
		t.Errorf("bad skip type: err = %v", err)
	}
}

// TestFindLayersCopiesOrExcludesSharedParameters uses a torch 1.13 export in which equal parameters
// are deduplicated (c2's weight is an Identity of c1's, fc2 reads fc1's
// weight directly): by default every such layer gets its own copy and the
// model computes the same (checked in ONNX Runtime); with KeepShared they are
// excluded.
func TestFindLayersCopiesOrExcludesSharedParameters(t *testing.T) {
	t.Parallel()
	m, err := onnx.LoadFile("testdata/shared.onnx")
	if err != nil {
		t.Fatal(err)
	}
	keep := m.Clone()
	layers, excl, err := FindLayers(keep, FindOptions{KeepShared: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 || layers[0].Name != "/head/Gemm" {
		t.Errorf("KeepShared: layers %v, want only /head/Gemm", layerNames(layers))
	}
	want := map[string]string{
		"/c1/Conv":  `weight "c1.weight" is shared with Conv node "/c2/Conv"`,
		"/c2/Conv":  `weight "c2.weight" is shared with Conv node "/c1/Conv"`,
		"/fc1/Gemm": `weight "fc1.weight" is shared with Gemm node "/fc2/Gemm"`,
		"/fc2/Gemm": `weight "fc1.weight" is shared with Gemm node "/fc1/Gemm"`,
	}
	if len(excl) != len(want) {
		t.Errorf("KeepShared: exclusions %v", excl)
	}
	for _, e := range excl {
		if !strings.Contains(e.Rule, want[e.Layer]) {
			t.Errorf("exclusion %q: rule %q, want %q", e.Layer, e.Rule, want[e.Layer])
		}
	}

	un := m.Clone()
	layers, excl, err = FindLayers(un, FindOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 5 || len(excl) != 0 {
		t.Fatalf("layers %v exclusions %v, want all 5 quantized", layerNames(layers), excl)
	}
	g := un.Graph
	seen := map[string]bool{}
	for _, l := range layers {
		if _, ok := g.Initializers[l.Weight]; !ok {
			t.Errorf("%s: weight %q is not an initializer", l.Name, l.Weight)
		}
		if seen[l.Weight] {
			t.Errorf("%s: weight %q still shared", l.Name, l.Weight)
		}
		seen[l.Weight] = true
		if l.Name != "/head/Gemm" && len(l.Notes) != 1 {
			t.Errorf("%s: notes %v, want one about the copy", l.Name, l.Notes)
		}
	}
	for _, gone := range []string{"c1.weight", "fc1.weight"} {
		if _, ok := g.Initializers[gone]; ok {
			t.Errorf("unused initializer %q kept", gone)
		}
	}
	if g.Node("Identity_0") != nil {
		t.Error("unused Identity node kept")
	}

	testfixture.RequireORT(t)
	x := make([]float32, 2*4*4*4)
	for i := range x {
		x[i] = float32(i%11-5) / 3
	}
	in := map[string]*onnx.Tensor{"x": onnx.NewTensor([]int{2, 4, 4, 4}, x)}
	a := runORT(t, m, in)["y"].Floats()
	b := runORT(t, un, in)["y"].Floats()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("output %d: %v before unsharing, %v after", i, a[i], b[i])
		}
	}
}

func layerNames(ls []*Layer) []string {
	var s []string
	for _, l := range ls {
		s = append(s, l.Name)
	}
	return s
}

func runORT(t *testing.T, m *onnx.Model, in map[string]*onnx.Tensor, fetch ...string) map[string]*onnx.Tensor {
	t.Helper()
	s, err := ort.NewSessionFromModel(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Run(in, fetch...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFindLayersAccountsForEveryFixtureCandidate checks the PyTorch fixtures: every Conv, Gemm,
// ConvTranspose and MatMul node is either a layer or excluded with a rule,
// and the known-supported ones are layers.
func TestFindLayersAccountsForEveryFixtureCandidate(t *testing.T) {
	t.Parallel()
	for _, fx := range testfixture.Fixtures(t, "model_op13.onnx") {
		path, m := fx.Model, fx.Load(t)
		layers, excl, err := FindLayers(m, FindOptions{})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		cand := 0
		for _, n := range m.Graph.Nodes {
			if quantizable[n.OpType] {
				cand++
			}
		}
		if len(layers)+len(excl) != cand {
			t.Errorf("%s: %d layers + %d exclusions for %d candidates", path, len(layers), len(excl), cand)
		}
		for _, e := range excl {
			if e.Rule == "" {
				t.Errorf("%s: %s excluded without a rule", path, e.Layer)
			}
		}
		fixture := filepath.Base(filepath.Dir(path))
		for _, l := range layers {
			if fixture == "conv3d" && l.Type == "Conv" && l.Spatial != 3 {
				t.Errorf("%s: %s Spatial = %d", path, l.Name, l.Spatial)
			}
			if fixture == "conv1d" && l.Spatial != 1 {
				t.Errorf("%s: %s Spatial = %d", path, l.Name, l.Spatial)
			}
		}
		if fixture != "transformer" && len(excl) != 0 {
			t.Errorf("%s: unexpected exclusions %v", path, excl)
		}
		t.Logf("%s: %d layers, exclusions %v", fixture, len(layers), excl)
	}
}
