package quant

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"amq/backend"
	"amq/internal/testfixture"
	"amq/npy"
	"amq/onnx"
	"amq/onnx/opset"
)

// quantizeFixture runs the whole flow with the default config on model,
// calibrating on x (one batch), and returns the report and the fake-quant
// and deploy models it wrote.
func quantizeFixture(t *testing.T, m *onnx.Model, x *onnx.Tensor) (*QuantizeReport, *onnx.Model, *onnx.Model) {
	t.Helper()
	data, err := NewTensorSource(map[string]*onnx.Tensor{m.Graph.Inputs[0].Name: x}, x.Shape[0])
	if err != nil {
		t.Fatal(err)
	}
	rep, err := RunFlow(m, testSim, data, filepath.Join(t.TempDir(), "m"), QuantizeOptions{NoEval: true})
	if err != nil {
		t.Fatal(err)
	}
	fake, err := onnx.LoadFile(rep.FakeQuantPath)
	if err != nil {
		t.Fatal(err)
	}
	deploy, err := onnx.LoadFile(rep.DeployPath)
	if err != nil {
		t.Fatal(err)
	}
	return rep, fake, deploy
}

// TestQuantizeOldOpsetsAsTheirTwins quantizes the PyTorch fixtures
// exported at opsets 7 to 10 (testdata/oldopset) and their opset-13 twins
// (the same weights) with the same config and data. The old models' saved
// models are opset 11, quantize the same layers, and their fake-quant
// models run in ONNX Runtime with the output SQNR (against the model's own
// float output) of the twin's: within 0.05 dB where both compute the same
// function, within 1 dB for bilinear, whose old models upsample with
// asymmetric coordinates and the twin with PyTorch's half-pixel ones (a
// different float function, hence other activations to calibrate on).
func TestQuantizeOldOpsetsAsTheirTwins(t *testing.T) {
	t.Parallel()
	testfixture.RequireORT(t)
	root := testfixture.Path(t, "oldopset")
	olds, err := filepath.Glob(filepath.Join(root, "*", "model_op[0-9].onnx"))
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob(filepath.Join(root, "*", "model_op10.onnx"))
	olds = append(olds, more...)
	if len(olds) < 5 {
		t.Fatalf("%d old-opset fixtures under %s, want at least 5: run scripts/make-fixtures.py --old-opsets", len(olds), root)
	}
	slices.Sort(olds)
	type result struct {
		layers []string
		sqnr   float64
	}
	quantize := func(t *testing.T, path string, x *onnx.Tensor) result {
		m, err := onnx.LoadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rep, fake, deploy := quantizeFixture(t, m, x)
		for _, s := range []*onnx.Model{fake, deploy} {
			if s.Opset() < opset.Target {
				t.Errorf("%s: saved model of opset %d", path, s.Opset())
			}
		}
		var layers []string
		for _, l := range rep.Layers {
			layers = append(layers, l.Name)
		}
		return result{layers, sqnrDB(t, ortOutput(t, m, x), ortOutput(t, fake, x))}
	}
	twins := map[string]result{}
	for _, path := range olds {
		dir := filepath.Dir(path)
		name := filepath.Base(dir) + "/" + strings.TrimSuffix(filepath.Base(path), ".onnx")
		t.Run(name, func(t *testing.T) {
			x, err := npy.ReadFile(filepath.Join(dir, "input.npy"))
			if err != nil {
				t.Fatal(err)
			}
			twin, ok := twins[dir]
			if !ok {
				twin = quantize(t, filepath.Join(dir, "model_op13.onnx"), x)
				twins[dir] = twin
			}
			old := quantize(t, path, x)
			t.Logf("output SQNR %.2f dB, opset-13 twin %.2f dB", old.sqnr, twin.sqnr)
			if !slices.Equal(old.layers, twin.layers) {
				t.Errorf("quantized layers %v, the twin's %v", old.layers, twin.layers)
			}
			tol := 0.05
			if strings.HasPrefix(name, "bilinear/") {
				tol = 1
			}
			if math.Abs(old.sqnr-twin.sqnr) > tol {
				t.Errorf("output SQNR %.2f dB, the twin's %.2f dB: more than %g dB apart", old.sqnr, twin.sqnr, tol)
			}
		})
	}
}

// TestCreateQuantConfigNamesOldOpsetLayersAsUpgraded checks that the
// config made from a model as given (amq create-config) names the layers
// that Prepare finds on its upgraded form.
func TestCreateQuantConfigNamesOldOpsetLayersAsUpgraded(t *testing.T) {
	t.Parallel()
	m, err := onnx.LoadFile(testfixture.Path(t, "oldopset", "nearest", "model_op9.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := CreateQuantConfig(m, nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Prepare(m, cfg, PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Model.Opset() != opset.Target || m.Opset() != 9 {
		t.Errorf("prepared opset %d from %d, want %d from 9", p.Model.Opset(), m.Opset(), opset.Target)
	}
	var found []string
	for _, l := range p.Layers {
		found = append(found, l.Name)
	}
	if names := cfg.LayerNames(); len(found) != 3 || !slices.Equal(found, names) {
		t.Errorf("prepared layers %v, config layers %v", found, names)
	}
}

// countingBackend counts the models a backend is asked to prepare.
type countingBackend struct {
	backend.Backend
	prepared int
}

func (b *countingBackend) Prepare(m *onnx.Model, observe []string) (backend.Runner, error) {
	b.prepared++
	return b.Backend.Prepare(m, observe)
}

// TestQuantizeRefusesUnconvertibleOpsetBeforeCalibration checks that a
// model whose old-opset nodes cannot be converted stops the flow before
// the first forward pass, with an error naming every such node, and
// leaves no files.
func TestQuantizeRefusesUnconvertibleOpsetBeforeCalibration(t *testing.T) {
	t.Parallel()
	m, err := onnx.LoadFile(testfixture.Path(t, "oldopset", "nearest", "model_op9.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	for _, n := range m.Graph.Nodes {
		if n.OpType == "Upsample" {
			n.SetAttr("mode", "cubic") // Upsample has nearest and linear only
			bad = append(bad, n.Name)
		}
	}
	if len(bad) != 2 {
		t.Fatalf("%d Upsample nodes in the fixture, want 2", len(bad))
	}
	x, err := npy.ReadFile(testfixture.Path(t, "oldopset", "nearest", "input.npy"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := NewTensorSource(map[string]*onnx.Tensor{m.Graph.Inputs[0].Name: x}, x.Shape[0])
	if err != nil {
		t.Fatal(err)
	}
	b := &countingBackend{Backend: testSim}
	dir := t.TempDir()
	_, err = RunFlow(m, b, data, filepath.Join(dir, "m"), QuantizeOptions{})
	if err == nil {
		t.Fatal("RunFlow accepted Upsample with mode cubic")
	}
	for _, name := range bad {
		if !strings.Contains(err.Error(), `Upsample node "`+name+`"`) || !strings.Contains(err.Error(), `mode "cubic"`) {
			t.Errorf("error %q does not name %s and its mode", err, name)
		}
	}
	if b.prepared != 0 {
		t.Errorf("the backend prepared %d models before the error", b.prepared)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("RunFlow left %d files", len(entries))
	}
}
