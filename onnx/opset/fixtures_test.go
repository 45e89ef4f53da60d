package opset_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"amq/internal/testfixture"
	"amq/onnx"
	"amq/onnx/opset"
)

// oldOpsetModels returns the models before opset 11 of
// testdata/oldopset/<fixture>/ (scripts/make-fixtures.py --old-opsets).
func oldOpsetModels(t *testing.T) []string {
	t.Helper()
	var paths []string
	for _, pattern := range []string{"model_op7.onnx", "model_op8.onnx", "model_op9.onnx", "model_op10.onnx"} {
		p, err := filepath.Glob(filepath.Join(testfixture.Path(t, "oldopset"), "*", pattern))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p...)
	}
	if len(paths) == 0 {
		t.Fatal("no old-opset fixtures under testdata/oldopset: run scripts/make-fixtures.py --old-opsets")
	}
	slices.Sort(paths)
	return paths
}

// oldForms are the operators, and attributes, that no opset-11 model has.
var oldForms = map[string][]string{
	"Upsample":           nil,
	"Scatter":            nil,
	"Clip":               {"min", "max"},
	"Slice":              {"starts", "ends", "axes"},
	"Pad":                {"pads", "value"},
	"TopK":               {"k"},
	"BatchNormalization": {"spatial", "is_test", "consumed_inputs"},
	"Dropout":            {"is_test"},
}

// checkOpset11Form fails on a node of u still in an old form, and on a
// node, name or tensor that differs from the original's.
func checkOpset11Form(t *testing.T, orig, u *onnx.Model) {
	t.Helper()
	if u.Opset() != opset.Target {
		t.Errorf("opset %d, want %d", u.Opset(), opset.Target)
	}
	if len(u.Graph.Nodes) != len(orig.Graph.Nodes) {
		t.Fatalf("%d nodes, the original has %d", len(u.Graph.Nodes), len(orig.Graph.Nodes))
	}
	for i, n := range u.Graph.Nodes {
		o := orig.Graph.Nodes[i]
		if n.Name != o.Name || !slices.Equal(n.Outputs, o.Outputs) || n.Input(0) != o.Input(0) {
			t.Errorf("node %d is %q %v -> %v, the original %q %v -> %v", i, n.Name, n.Inputs, n.Outputs, o.Name, o.Inputs, o.Outputs)
		}
		attrs, old := oldForms[n.OpType]
		if old && attrs == nil {
			t.Errorf("%v is still there", n)
		}
		for _, a := range attrs {
			if n.HasAttr(a) {
				t.Errorf("%v still has attribute %s", n, a)
			}
		}
	}
}

// TestUpgradeFixturesMatchOriginal converts every old-opset PyTorch
// fixture and runs the result in ONNX Runtime and sim against the original
// model in ONNX Runtime and, where sim runs the old forms (all but
// Upsample), in sim; and against PyTorch where the old model computes what
// PyTorch does.
func TestUpgradeFixturesMatchOriginal(t *testing.T) {
	testfixture.RequireORT(t)
	for _, path := range oldOpsetModels(t) {
		name := filepath.Base(filepath.Dir(path)) + "/" + strings.TrimSuffix(filepath.Base(path), ".onnx")
		t.Run(name, func(t *testing.T) {
			orig, err := onnx.LoadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			up, err := opset.Upgrade(orig, opset.Target)
			if err != nil {
				t.Fatal(err)
			}
			checkOpset11Form(t, orig, up)
			up = reload(t, up)
			x := testfixture.ReadNpy(t, filepath.Join(filepath.Dir(path), "input.npy"))
			in := map[string]*onnx.Tensor{orig.Graph.Inputs[0].Name: x}
			want := runORT(t, orig, in)
			if err := compareOutputs(runORT(t, up, in), want, 1e-5, 1e-6); err != nil {
				t.Errorf("ONNX Runtime, converted vs original: %v", err)
			}
			got := runSim(t, up, in)
			if err := compareOutputs(got, want, 1e-4, 1e-5); err != nil {
				t.Errorf("sim, converted vs original in ONNX Runtime: %v", err)
			}
			if simRuns(orig) {
				if err := compareOutputs(runSim(t, orig, in), got, 1e-5, 1e-6); err != nil {
					t.Errorf("sim, original vs converted: %v", err)
				}
			}
			if !strings.HasPrefix(name, "bilinear/") { // asymmetric, not PyTorch's half-pixel bilinear
				torch := map[string]*onnx.Tensor{orig.Graph.Outputs[0].Name: testfixture.ReadNpy(t, filepath.Join(filepath.Dir(path), "output.npy"))}
				if err := compareOutputs(runSim(t, up, in), torch, 1e-4, 1e-5); err != nil {
					t.Errorf("sim, converted vs PyTorch: %v", err)
				}
			}
		})
	}
}
